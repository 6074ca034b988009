DROP VIEW post_details;
