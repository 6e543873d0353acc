-- Private rooms, the bots' context start (/clear), event metadata (mentions,
-- targets, replies), bans, invites and unread mentions.
ALTER TABLE rooms ADD COLUMN private BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE rooms ADD COLUMN context_from TEXT;
ALTER TABLE events ADD COLUMN meta TEXT;

CREATE TABLE room_bans (
    room TEXT NOT NULL,
    username TEXT NOT NULL,
    banned_by TEXT NOT NULL,
    banned_at BIGINT NOT NULL,
    PRIMARY KEY (room, username)
);

CREATE TABLE room_invites (
    room TEXT NOT NULL,
    username TEXT NOT NULL,
    invited_by TEXT NOT NULL,
    invited_at BIGINT NOT NULL,
    PRIMARY KEY (room, username)
);

CREATE TABLE mentions (
    event_id TEXT NOT NULL,
    username TEXT NOT NULL,
    room TEXT NOT NULL,
    seen BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (event_id, username)
);
CREATE INDEX mentions_unread ON mentions (username, seen);
