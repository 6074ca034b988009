-- Login and registration attempts per client address, counted here so that
-- every instance shares the limits (LOGIN_*, REGISTER_PER_HOUR). An attempt is
-- recorded before the password is hashed, so concurrent attempts cannot all
-- slip past the count. A failed login stays until it leaves the window; a
-- successful login deletes its username's rows for that address; an attempt
-- that got no verdict (hasher busy, database trouble) is deleted; every
-- instance purges rows older than the longest window once a minute.
CREATE TABLE auth_attempts (
    id           uuid        PRIMARY KEY,
    kind         text        NOT NULL CHECK (kind IN ('login', 'registration')),
    -- The canonical text of the client's IP address.
    client       text        NOT NULL,
    -- Lower-cased, at most 64 characters; NULL for registrations.
    username     text        CHECK (char_length(username) <= 64),
    attempted_at timestamptz NOT NULL
);
-- The per-address counts (newest first), and the per-username ones.
CREATE INDEX auth_attempts_client_idx ON auth_attempts (client, kind, attempted_at);
CREATE INDEX auth_attempts_username_idx ON auth_attempts (client, username, attempted_at) WHERE username IS NOT NULL;
-- The purge.
CREATE INDEX auth_attempts_purge_idx ON auth_attempts (attempted_at);
