DROP TABLE events;
DROP TABLE room_members;
DROP TABLE rooms;
DROP TABLE tokens;
DROP TABLE users;
