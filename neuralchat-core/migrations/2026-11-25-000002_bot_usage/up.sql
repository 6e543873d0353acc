-- Tokens each user spent with each bot per UTC day (the daily budget).
CREATE TABLE bot_usage (
    bot TEXT NOT NULL,
    username TEXT NOT NULL,
    day TEXT NOT NULL,
    tokens BIGINT NOT NULL,
    PRIMARY KEY (bot, username, day)
);
