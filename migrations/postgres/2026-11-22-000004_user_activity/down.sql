DROP TABLE user_activity;
