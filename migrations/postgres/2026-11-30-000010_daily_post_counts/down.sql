DROP TABLE daily_post_counts;
