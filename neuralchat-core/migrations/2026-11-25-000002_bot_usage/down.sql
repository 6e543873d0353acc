DROP TABLE bot_usage;
