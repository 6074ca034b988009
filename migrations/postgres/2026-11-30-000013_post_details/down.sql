DROP FUNCTION timeline_ids(uuid, uuid, uuid, bigint);
DROP VIEW post_details;
