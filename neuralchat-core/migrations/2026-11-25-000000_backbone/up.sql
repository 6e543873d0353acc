-- One schema for SQLite and PostgreSQL: only types and statements both accept.
CREATE TABLE users (
    name_key TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX tokens_by_user ON tokens (username);

CREATE TABLE rooms (
    name TEXT PRIMARY KEY NOT NULL,
    topic TEXT,
    creator TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE room_members (
    room TEXT NOT NULL,
    username TEXT NOT NULL,
    role TEXT NOT NULL,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (room, username)
);

CREATE TABLE events (
    id TEXT PRIMARY KEY NOT NULL,
    room TEXT NOT NULL,
    kind TEXT NOT NULL,
    author TEXT NOT NULL,
    origin TEXT NOT NULL,
    ts BIGINT NOT NULL,
    body TEXT NOT NULL,
    client_id TEXT
);
CREATE INDEX events_by_room ON events (room, id);
-- NULL client ids are distinct in both databases, so only real retries collide.
CREATE UNIQUE INDEX events_by_client_id ON events (room, author, client_id);
