#!/usr/bin/env bash
# Seeds a scratch database with 100k posts by 1,000 users (each following 50)
# and prints the plans of the timeline, user-posts and search queries as the
# api issues them. Usage: scripts/explain-lists.sh [server-url]
set -euo pipefail
server=${1:-postgres://postgres@127.0.0.1:5432}
db=explain_$(date +%s)
cd "$(dirname "$0")/.."
trap 'psql -q "$server/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
DATABASE_URL="$server/$db" cargo run -q --bin ctl -- migrate
psql -q "$server/$db" <<'SQL'
-- UUIDv7-shaped ids: 48-bit millisecond timestamp first, as the application makes them.
CREATE FUNCTION v7(at timestamptz) RETURNS uuid LANGUAGE sql AS $$
  SELECT (lpad(to_hex((extract(epoch FROM at) * 1000)::bigint), 12, '0') || '7'
          || substr(md5(random()::text), 1, 3) || '8' || substr(md5(random()::text), 1, 15))::uuid $$;
INSERT INTO users (id, username, password_hash, created_at)
  SELECT v7(now() - interval '400 days' + n * interval '1 second'), 'user' || n, 'x', now() FROM generate_series(1, 1000) n;
CREATE TEMP TABLE u AS SELECT id, row_number() OVER (ORDER BY id) AS n FROM users;
INSERT INTO follows (id, follower_id, followee_id, created_at)
  SELECT v7(now()), a.id, b.id, now() FROM u a JOIN u b ON b.n <> a.n AND (b.n - a.n + 1000) % 1000 < 51;
INSERT INTO posts (id, author_id, content, created_at)
  SELECT v7(now() - (100000 - g) * interval '5 minutes'), u.id,
         'post number ' || g || CASE WHEN g % 97 = 0 THEN ' about rust' ELSE '' END, now()
  FROM generate_series(1, 100000) g JOIN u ON u.n = 1 + g % 1000;
ANALYZE;
SQL
me=$(psql -Atq "$server/$db" -c "SELECT id FROM users WHERE username = 'user500'")
explain() { echo "== $1"; psql -Atq "$server/$db" -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) $2"; echo; }
cols='posts.id, posts.content, posts.created_at, users.id, users.username'
# The home timeline: each followed author's newest posts through their (author_id, id) index,
# merged (timeline_ids), then the page's posts with their authors and mentions (post_details).
details='id, content, created_at, author_id, author_username, mention_ids, mention_names'
explain "timeline, first page" "SELECT $details FROM post_details WHERE id = ANY(SELECT timeline_ids('$me', NULL, NULL, 21)) ORDER BY id DESC LIMIT 21"
cursor=$(psql -Atq "$server/$db" -c "SELECT id FROM posts ORDER BY id DESC OFFSET 50000 LIMIT 1")
explain "timeline, deep page (before = the 50,000th newest post)" "SELECT $details FROM post_details WHERE id = ANY(SELECT timeline_ids('$me', '$cursor', NULL, 21)) ORDER BY id DESC LIMIT 21"
explain "user posts" "SELECT $cols FROM posts INNER JOIN users ON users.id = posts.author_id WHERE posts.author_id = '$me' ORDER BY posts.id DESC LIMIT 21"
# A global search first reads the newest 4,096 posts of its range, then (if the page is not
# full) asks the GIN index for the older matches. 'rust' is in 1 % of the posts, spread evenly;
# 'ancient' only in the 500 oldest, the case where one plain query walked the whole table.
psql -q "$server/$db" -c "UPDATE posts SET content = content || ' ancient' WHERE id IN (SELECT id FROM posts ORDER BY id LIMIT 500); ANALYZE posts"
floor=$(psql -Atq "$server/$db" -c "SELECT id FROM posts ORDER BY id DESC OFFSET 4095 LIMIT 1")
for word in rust ancient; do
  explain "search '$word', newest 4,096 posts" "SELECT $cols FROM posts INNER JOIN users ON users.id = posts.author_id WHERE posts.search @@ websearch_to_tsquery('simple', '$word') AND posts.id >= '$floor' ORDER BY posts.id DESC LIMIT 21"
  explain "search '$word', older matches through the index" "SELECT $cols FROM posts INNER JOIN users ON users.id = posts.author_id WHERE posts.search @@ websearch_to_tsquery('simple', '$word') AND posts.id < '$floor' AND posts.id = ANY(ARRAY(SELECT p.id FROM posts p WHERE p.search @@ websearch_to_tsquery('simple', '$word') AND p.id < '$floor')) ORDER BY posts.id DESC LIMIT 21"
done
