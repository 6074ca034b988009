-- Webhooks: where a user wants their events POSTed, and the secret that signs them.
-- The secret must be readable to sign each delivery; it is shown to its owner
-- once, at creation, and never logged.
CREATE TABLE webhooks (
    id         uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url        text        NOT NULL CHECK (char_length(url) <= 2048),
    secret     text        NOT NULL,
    created_at timestamptz NOT NULL
);
-- A user's webhooks, and the join from followers/recipients to their webhooks.
CREATE INDEX webhooks_user_idx ON webhooks (user_id, id);
