//! The tables, as diesel sees them (written by hand to match the migrations).

diesel::table! {
    /// Accounts.
    users (name_key) {
        /// The user name in lower case: names are unique by it (`names::user_key`).
        name_key -> Text,
        /// The user name as registered.
        username -> Text,
        /// The bcrypt hash of the password.
        password_hash -> Text,
        /// When the account was created, milliseconds since the Unix epoch.
        created_at -> BigInt,
        /// The name's confusable skeleton (UTS #39), unique: no two users have look-alike
        /// names. NULL for an older look-alike kept as it was.
        name_skeleton -> Nullable<Text>,
    }
}

diesel::table! {
    /// Log-in tokens, by hash (a token itself is never stored).
    tokens (token_hash) {
        /// The token's SHA-256, hex.
        token_hash -> Text,
        /// Whose token it is.
        username -> Text,
        /// When it was issued, milliseconds since the Unix epoch.
        created_at -> BigInt,
        /// When it expires, milliseconds since the Unix epoch.
        expires_at -> BigInt,
    }
}

diesel::table! {
    /// Rooms.
    rooms (name) {
        /// The room's canonical name.
        name -> Text,
        /// The room's topic, if set.
        topic -> Nullable<Text>,
        /// Who created the room.
        creator -> Text,
        /// When it was created, milliseconds since the Unix epoch.
        created_at -> BigInt,
        /// Whether only invited users may join.
        private -> Bool,
        /// The id of the last `/clear` event: the bots read only what follows it.
        context_from -> Nullable<Text>,
    }
}

diesel::table! {
    /// Rooms' members and their roles.
    room_members (room, username) {
        /// The room.
        room -> Text,
        /// The member.
        username -> Text,
        /// `member`, `moderator` or `owner`.
        role -> Text,
        /// When they joined, milliseconds since the Unix epoch.
        joined_at -> BigInt,
    }
}

diesel::table! {
    /// Every event, in every room (and the accounts log, `!accounts`).
    events (id) {
        /// The event id (a UUIDv7, time-ordered).
        id -> Text,
        /// The room it happened in.
        room -> Text,
        /// What it records (`message`, `join`, ...).
        kind -> Text,
        /// Who made it.
        author -> Text,
        /// The node that made it.
        origin -> Text,
        /// When it was made, milliseconds since the Unix epoch.
        ts -> BigInt,
        /// The text (a message, a topic, a role...).
        body -> Text,
        /// The client's own id for a message, if it sent one (retries are stored once).
        client_id -> Nullable<Text>,
        /// The optional fields (target, mentions, reply_to, stopped) as JSON, if any.
        meta -> Nullable<Text>,
    }
}

diesel::table! {
    /// Who is banned from which room.
    room_bans (room, username) {
        /// The room.
        room -> Text,
        /// The banned user.
        username -> Text,
        /// Who banned them.
        banned_by -> Text,
        /// When, milliseconds since the Unix epoch.
        banned_at -> BigInt,
    }
}

diesel::table! {
    /// Who is invited to which private room.
    room_invites (room, username) {
        /// The room.
        room -> Text,
        /// The invited user.
        username -> Text,
        /// Who invited them.
        invited_by -> Text,
        /// When, milliseconds since the Unix epoch.
        invited_at -> BigInt,
    }
}

diesel::table! {
    /// Users' mentions, read or not.
    mentions (event_id, username) {
        /// The event that mentions the user.
        event_id -> Text,
        /// The user mentioned.
        username -> Text,
        /// The event's room.
        room -> Text,
        /// Whether the user has read it.
        seen -> Bool,
    }
}

diesel::table! {
    /// Tokens each user spent with each bot per UTC day (the daily budget).
    bot_usage (bot, username, day) {
        /// The bot's name.
        bot -> Text,
        /// The user.
        username -> Text,
        /// The UTC day, `YYYY-MM-DD`.
        day -> Text,
        /// Tokens spent (prompt and reply) that day.
        tokens -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    bot_usage,
    users,
    tokens,
    rooms,
    room_members,
    events,
    room_bans,
    room_invites,
    mentions
);
