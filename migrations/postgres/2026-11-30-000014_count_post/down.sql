DROP FUNCTION count_post(uuid, date, integer);
