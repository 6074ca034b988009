-- The daily post quota counts posts created, not posts that still exist:
-- deleting a post must not give its slot back. One row per author and UTC day,
-- bumped in the transaction that inserts the post (an upsert that refuses to
-- pass the limit, so concurrent posts cannot overshoot it without a lock).
CREATE TABLE daily_post_counts (
    user_id uuid    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day     date    NOT NULL,
    created integer NOT NULL CHECK (created >= 0),
    PRIMARY KEY (user_id, day)
);

-- Posts written today before this migration still count.
INSERT INTO daily_post_counts (user_id, day, created)
SELECT author_id, (created_at AT TIME ZONE 'UTC')::date, count(*)
FROM posts
WHERE created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
GROUP BY 1, 2;
