-- Who was active when, for the admin statistics. Requests are noted in memory
-- and flushed here in batches: no database write per request. One row per
-- user and UTC day, holding the latest time seen that day.
CREATE TABLE user_activity (
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day          date        NOT NULL,
    last_seen_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, day)
);
-- "Active since X" reads a range of days.
CREATE INDEX user_activity_day_idx ON user_activity (day, last_seen_at);
