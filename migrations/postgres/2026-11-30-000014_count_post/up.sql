-- The quota upsert of a new post as one function: an INSERT ... ON CONFLICT
-- sent by the client is parsed and planned on every post (diesel cannot keep
-- it as a prepared statement), a call is prepared once and PL/pgSQL keeps the
-- upsert's plan for the session. Counts one more post of `author` on `on_day`
-- unless that would pass `quota`; true when counted.
CREATE FUNCTION count_post(author uuid, on_day date, quota integer) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    counted integer;
BEGIN
    INSERT INTO daily_post_counts AS c (user_id, day, created) VALUES (author, on_day, 1)
    ON CONFLICT (user_id, day) DO UPDATE SET created = c.created + 1 WHERE c.created < quota
    RETURNING c.created INTO counted;
    RETURN counted IS NOT NULL;
END
$$;
