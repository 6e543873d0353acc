-- The confusable skeleton (UTS #39) of each user name: no two users may have
-- names that look alike. The server computes it (the rules live in Rust, in
-- names::name_skeleton): create_user fills it, and rows made before this
-- column existed are filled when the store opens. NULL (distinct in a unique
-- index on both databases): an older look-alike of a user who holds the
-- skeleton, kept as it was.
ALTER TABLE users ADD COLUMN name_skeleton TEXT;
CREATE UNIQUE INDEX users_by_name_skeleton ON users (name_skeleton);
