-- Posts, follows, notifications, idempotency keys and the transactional outbox.
--
-- Every id is a UUIDv7 made by the application: ids sort by creation time, so
-- "newest first" is ORDER BY id DESC and a keyset cursor is just an id. Each
-- list has an index that starts with its filter column and ends with id, so a
-- page is one index range scan however long the list grows.

CREATE TABLE posts (
    id         uuid        PRIMARY KEY,
    author_id  uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content    text        NOT NULL CHECK (char_length(content) BETWEEN 1 AND 500),
    created_at timestamptz NOT NULL,
    -- 'simple' (no stemming, no stop words) works for every language users write in.
    search     tsvector    GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED
);
-- A user's posts, the timeline (author_id = ANY(me + followees)) and the daily
-- quota count all read one author's posts by id range.
CREATE INDEX posts_author_id_idx ON posts (author_id, id DESC);
-- Full-text search: websearch_to_tsquery(...) @@ search.
CREATE INDEX posts_search_idx ON posts USING gin (search);

CREATE TABLE post_mentions (
    post_id uuid NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (post_id, user_id)
);
-- Deleting a user finds the mentions of them without a sequential scan.
CREATE INDEX post_mentions_user_idx ON post_mentions (user_id);

CREATE TABLE follows (
    id          uuid        PRIMARY KEY,               -- the cursor of follower lists
    follower_id uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    CONSTRAINT follows_not_self CHECK (follower_id <> followee_id),
    CONSTRAINT follows_pair_key UNIQUE (follower_id, followee_id)
);
-- "Followers of X", newest follow first; also the followers count.
CREATE INDEX follows_followee_idx ON follows (followee_id, id DESC);
-- "Whom X follows", newest first; also the timeline's followee lookup.
CREATE INDEX follows_follower_idx ON follows (follower_id, id DESC);

CREATE TABLE notifications (
    id           uuid        PRIMARY KEY,
    recipient_id uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    actor_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         text        NOT NULL CHECK (kind IN ('follow', 'mention')),
    post_id      uuid        REFERENCES posts (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    CHECK ((kind = 'mention') = (post_id IS NOT NULL))
);
-- A user's notifications newest first, and the unread count (id > marker).
CREATE INDEX notifications_recipient_idx ON notifications (recipient_id, id DESC);
-- Cascades from a deleted actor or post.
CREATE INDEX notifications_actor_idx ON notifications (actor_id);
CREATE INDEX notifications_post_idx ON notifications (post_id);

-- Read state is one marker per user: everything with id <= read_up_to is read.
-- Marking is one upsert, however many notifications it covers.
CREATE TABLE notification_markers (
    user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    read_up_to uuid NOT NULL
);

-- Idempotency-Key of POST /posts: the same key from the same user within 24 h
-- answers the first post. Expired keys are overwritten on reuse.
CREATE TABLE idempotency_keys (
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key        text        NOT NULL,
    post_id    uuid        NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_post_idx ON idempotency_keys (post_id);

-- Transactional outbox: written in the same transaction as the change it
-- describes; a relay publishes unpublished rows in id order and stamps them.
CREATE TABLE outbox (
    id           uuid        PRIMARY KEY,              -- the event id (UUIDv7)
    event_type   text        NOT NULL,                 -- also the routing key
    payload      jsonb       NOT NULL,                 -- the event's `data`
    created_at   timestamptz NOT NULL,
    published_at timestamptz
);
-- The relay's backlog: small, ordered, and shrinking as rows are published.
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
