-- The embedded family's schema: the same tables as the PostgreSQL migrations,
-- in SQLite's types. Conventions (see infrastructure/src/persistence/sqlite/types.rs):
--   ids        BLOB, the 16 bytes of the UUID: byte order is UUIDv7 time order,
--              so `ORDER BY id` and keyset cursors work as on PostgreSQL;
--   instants   INTEGER, microseconds since the Unix epoch, UTC;
--   days       TEXT, `YYYY-MM-DD`;
--   JSON       TEXT.
-- Case-insensitive uniqueness: `*_key` columns hold the lower-cased value,
-- written by the repository (SQLite's lower() only folds ASCII).

CREATE TABLE users (
    id            BLOB    PRIMARY KEY NOT NULL,
    username      TEXT    NOT NULL,
    username_key  TEXT    NOT NULL UNIQUE,
    email         TEXT,
    email_key     TEXT    UNIQUE,
    password_hash TEXT    NOT NULL,
    display_name  TEXT,
    bio           TEXT,
    avatar        TEXT,
    role          TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE refresh_tokens (
    token_hash BLOB    PRIMARY KEY NOT NULL,
    user_id    BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  BLOB    NOT NULL,
    expires_at INTEGER NOT NULL,
    spent_at   INTEGER,
    revoked_at INTEGER,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

CREATE TABLE revoked_tokens (
    jti        BLOB    PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL
) STRICT;
CREATE INDEX revoked_tokens_revoked_at_idx ON revoked_tokens (revoked_at);

CREATE TABLE revoked_users (
    user_id    BLOB    PRIMARY KEY NOT NULL,   -- no foreign key: the user is gone
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL
) STRICT;
CREATE INDEX revoked_users_revoked_at_idx ON revoked_users (revoked_at);

CREATE TABLE posts (
    seq        INTEGER PRIMARY KEY,              -- the key of the full-text index below
    id         BLOB    NOT NULL UNIQUE,
    author_id  BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content    TEXT    NOT NULL CHECK (length(content) BETWEEN 1 AND 500),
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX posts_author_id_idx ON posts (author_id, id DESC);

-- Full-text search over posts.content: an external-content FTS5 index kept
-- in step by triggers (posts are never edited, only inserted and deleted).
-- unicode61 folds case and keeps diacritics, as PostgreSQL's 'simple'
-- config does: a search finds the same posts in both families.
CREATE VIRTUAL TABLE posts_search USING fts5 (
    content,
    content = 'posts',
    content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER posts_search_insert AFTER INSERT ON posts BEGIN
    INSERT INTO posts_search (rowid, content) VALUES (new.seq, new.content);
END;
CREATE TRIGGER posts_search_delete AFTER DELETE ON posts BEGIN
    INSERT INTO posts_search (posts_search, rowid, content) VALUES ('delete', old.seq, old.content);
END;

CREATE TABLE post_mentions (
    post_id BLOB NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (post_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX post_mentions_user_idx ON post_mentions (user_id);

CREATE TABLE follows (
    id          BLOB    PRIMARY KEY NOT NULL,
    follower_id BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    CHECK (follower_id <> followee_id),
    UNIQUE (follower_id, followee_id)
) STRICT;
CREATE INDEX follows_followee_idx ON follows (followee_id, id DESC);
CREATE INDEX follows_follower_idx ON follows (follower_id, id DESC);

CREATE TABLE notifications (
    id           BLOB    PRIMARY KEY NOT NULL,
    recipient_id BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    actor_id     BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL CHECK (kind IN ('follow', 'mention')),
    post_id      BLOB    REFERENCES posts (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    CHECK ((kind = 'mention') = (post_id IS NOT NULL))
) STRICT;
CREATE INDEX notifications_recipient_idx ON notifications (recipient_id, id DESC);
CREATE INDEX notifications_actor_idx ON notifications (actor_id);
CREATE INDEX notifications_post_idx ON notifications (post_id);

CREATE TABLE notification_markers (
    user_id    BLOB PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    read_up_to BLOB NOT NULL
) STRICT;

CREATE TABLE idempotency_keys (
    user_id    BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key        TEXT    NOT NULL,
    post_id    BLOB    NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
) STRICT;
CREATE INDEX idempotency_keys_post_idx ON idempotency_keys (post_id);

CREATE TABLE outbox (
    id           BLOB    PRIMARY KEY NOT NULL,   -- the event id (UUIDv7)
    event_type   TEXT    NOT NULL,               -- also the routing key
    payload      TEXT    NOT NULL,               -- the event's `data`, JSON
    created_at   INTEGER NOT NULL,
    published_at INTEGER,
    request_id   TEXT
) STRICT;
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE ws_tickets (
    ticket_hash      BLOB    PRIMARY KEY NOT NULL,
    user_id          BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role             TEXT    NOT NULL,
    token_id         BLOB    NOT NULL,
    token_expires_at INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX ws_tickets_expiry_idx ON ws_tickets (expires_at);
CREATE INDEX ws_tickets_user_idx ON ws_tickets (user_id);

CREATE TABLE daily_post_counts (
    user_id BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day     TEXT    NOT NULL,
    created INTEGER NOT NULL CHECK (created >= 0),
    PRIMARY KEY (user_id, day)
) STRICT;

CREATE TABLE user_activity (
    user_id      BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day          TEXT    NOT NULL,
    last_seen_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, day)
) STRICT;
CREATE INDEX user_activity_day_idx ON user_activity (day, last_seen_at);

CREATE TABLE webhooks (
    id         BLOB    PRIMARY KEY NOT NULL,
    user_id    BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url        TEXT    NOT NULL CHECK (length(url) <= 2048),
    secret     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX webhooks_user_idx ON webhooks (user_id, id);

CREATE TABLE auth_attempts (
    id           BLOB    PRIMARY KEY NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('login', 'registration')),
    client       TEXT    NOT NULL,
    username     TEXT    CHECK (length(username) <= 64),
    attempted_at INTEGER NOT NULL
) STRICT;
CREATE INDEX auth_attempts_client_idx ON auth_attempts (client, kind, attempted_at);
CREATE INDEX auth_attempts_username_idx ON auth_attempts (client, username, attempted_at) WHERE username IS NOT NULL;
CREATE INDEX auth_attempts_purge_idx ON auth_attempts (attempted_at);

-- Events a consumer of the in-process bus failed to handle after its last
-- attempt (RabbitMQ's dead-letter queue in the served family).
CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY,
    event_id    BLOB    NOT NULL,
    routing_key TEXT    NOT NULL,
    consumer    TEXT    NOT NULL,
    body        BLOB    NOT NULL,                -- the published envelope, as sent
    reason      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL,
    failed_at   INTEGER NOT NULL
) STRICT;

-- Webhook deliveries not yet made (RabbitMQ's deliver, retry and wait queues
-- in the served family): one row per job, from the event's expansion until
-- the receiver takes it or it is dead-lettered; the webhook worker polls the
-- due ones. A deleted webhook takes its pending jobs with it.
CREATE TABLE webhook_deliveries (
    -- AUTOINCREMENT: an id is never handed out twice, so a worker finishing a
    -- job whose row was deleted meanwhile cannot touch a newer job.
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id  BLOB    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id    BLOB    NOT NULL,
    event_type  TEXT    NOT NULL,
    attempt     INTEGER NOT NULL CHECK (attempt >= 1),
    due_at      INTEGER NOT NULL,
    body        BLOB    NOT NULL,                -- exactly what is POSTed (and signed)
    UNIQUE (webhook_id, event_id)                -- an event handled twice is one job
) STRICT;
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (due_at);
