-- A post as every list and read shows it: the post, its author's public
-- fields, and its mentions (ids and usernames, paired by position), in one
-- statement and one round trip. The author and the mentions are looked up per
-- row through their primary keys, only for the rows a query returns (a page,
-- not every row it walks): the LIMIT keeps the author lookup a lateral probe,
-- so the planner never trades it for hashing the whole users table, whatever
-- it guesses about the number of rows. Nothing is stored twice: a renamed user
-- shows under the new name in every post at once.
CREATE VIEW post_details AS
SELECT p.id,
       p.content,
       p.created_at,
       p.search,
       p.author_id,
       a.username     AS author_username,
       a.display_name AS author_display_name,
       a.avatar       AS author_avatar,
       ARRAY(SELECT m.user_id FROM post_mentions m
             WHERE m.post_id = p.id ORDER BY m.user_id) AS mention_ids,
       ARRAY(SELECT u.username FROM post_mentions m JOIN users u ON u.id = m.user_id
             WHERE m.post_id = p.id ORDER BY m.user_id) AS mention_names
FROM posts p
CROSS JOIN LATERAL (SELECT username, display_name, avatar FROM users
                    WHERE users.id = p.author_id LIMIT 1) a;

-- The ids of one page of a reader's home timeline: the newest `n` posts of the
-- reader and everyone they follow in the cursor range, newest first. Each
-- author's newest posts come from their (author_id, id) index, at most `n` per
-- author, and are merged: the work grows with the number of followed authors,
-- never with the number of posts in the table (walking every post newest first
-- and keeping the followed ones reads the whole table for a reader who follows
-- a few quiet accounts). PL/pgSQL keeps the statement's plan for the session;
-- ROWS tells the caller's planner a page is small (the default guess is 1,000).
CREATE FUNCTION timeline_ids(reader uuid, before uuid, since uuid, n bigint) RETURNS SETOF uuid
LANGUAGE plpgsql STABLE ROWS 20 AS $$
BEGIN
    RETURN QUERY
        SELECT page.id
        FROM (SELECT reader AS author
              UNION
              SELECT followee_id FROM follows WHERE follower_id = reader) AS authors
        CROSS JOIN LATERAL (
            SELECT posts.id FROM posts
            WHERE posts.author_id = authors.author
              AND posts.id < COALESCE(before, 'ffffffff-ffff-ffff-ffff-ffffffffffff')
              AND posts.id > COALESCE(since, '00000000-0000-0000-0000-000000000000')
            ORDER BY posts.id DESC
            LIMIT n) AS page
        ORDER BY page.id DESC
        LIMIT n;
END
$$;
