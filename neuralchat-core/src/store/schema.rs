//! The tables, as diesel sees them (written by hand to match the migrations).

diesel::table! {
    users (name_key) {
        name_key -> Text,
        username -> Text,
        password_hash -> Text,
        created_at -> BigInt,
        name_skeleton -> Nullable<Text>,
    }
}

diesel::table! {
    tokens (token_hash) {
        token_hash -> Text,
        username -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    rooms (name) {
        name -> Text,
        topic -> Nullable<Text>,
        creator -> Text,
        created_at -> BigInt,
        private -> Bool,
        context_from -> Nullable<Text>,
    }
}

diesel::table! {
    room_members (room, username) {
        room -> Text,
        username -> Text,
        role -> Text,
        joined_at -> BigInt,
    }
}

diesel::table! {
    events (id) {
        id -> Text,
        room -> Text,
        kind -> Text,
        author -> Text,
        origin -> Text,
        ts -> BigInt,
        body -> Text,
        client_id -> Nullable<Text>,
        meta -> Nullable<Text>,
    }
}

diesel::table! {
    room_bans (room, username) {
        room -> Text,
        username -> Text,
        banned_by -> Text,
        banned_at -> BigInt,
    }
}

diesel::table! {
    room_invites (room, username) {
        room -> Text,
        username -> Text,
        invited_by -> Text,
        invited_at -> BigInt,
    }
}

diesel::table! {
    mentions (event_id, username) {
        event_id -> Text,
        username -> Text,
        room -> Text,
        seen -> Bool,
    }
}

diesel::table! {
    bot_usage (bot, username, day) {
        bot -> Text,
        username -> Text,
        day -> Text,
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
