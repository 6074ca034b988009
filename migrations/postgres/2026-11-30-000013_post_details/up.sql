-- A post as every list and read shows it: the post, its author's public
-- fields, and its mentions (ids and usernames, paired by position), in one
-- statement and one round trip. The mentions come from correlated subqueries,
-- evaluated only for the rows a query returns (a page, not every row it
-- walks). Nothing here is stored twice: a renamed user shows under the new
-- name in every post at once.
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
JOIN users a ON a.id = p.author_id;
