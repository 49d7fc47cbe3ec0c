-- Usernames under RFC 8265: `username_key` becomes the PRECIS `UsernameCaseMapped` form and
-- each user gets the UTS #39 confusable skeleton of it, unique, so that two names that look
-- alike cannot both exist.
--
-- Normalizing needs Unicode tables SQL does not have: existing rows start with a NULL
-- skeleton, and the store gives them their key and skeleton in Rust right after the
-- migrations (`tessera_tokens::normalize_usernames`), on every start until each has one.
-- A row whose name breaks the rules or collides with another's keeps NULL and its old key.
-- NULLs are distinct in a unique index, so such rows never block the index or each other.

ALTER TABLE users ADD COLUMN username_skeleton TEXT;

CREATE UNIQUE INDEX users_username_skeleton ON users (username_skeleton);
