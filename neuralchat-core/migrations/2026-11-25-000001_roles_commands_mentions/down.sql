DROP TABLE mentions;
DROP TABLE room_invites;
DROP TABLE room_bans;
ALTER TABLE events DROP COLUMN meta;
ALTER TABLE rooms DROP COLUMN context_from;
ALTER TABLE rooms DROP COLUMN private;
