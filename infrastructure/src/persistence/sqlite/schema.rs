// Mirrors migrations/sqlite/; kept by hand. Ids are `Binary` (read and bind
// them as `types::Id`), instants `BigInt` (as `types::Instant`).

diesel::table! {
    users (id) {
        id -> Binary,
        username -> Text,
        username_key -> Text,
        email -> Nullable<Text>,
        email_key -> Nullable<Text>,
        password_hash -> Text,
        display_name -> Nullable<Text>,
        bio -> Nullable<Text>,
        avatar -> Nullable<Text>,
        role -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Binary,
        user_id -> Binary,
        family_id -> Binary,
        expires_at -> BigInt,
        spent_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    revoked_tokens (jti) {
        jti -> Binary,
        expires_at -> BigInt,
        revoked_at -> BigInt,
    }
}

diesel::table! {
    revoked_users (user_id) {
        user_id -> Binary,
        expires_at -> BigInt,
        revoked_at -> BigInt,
    }
}

diesel::table! {
    posts (seq) {
        seq -> BigInt,
        id -> Binary,
        author_id -> Binary,
        content -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    post_mentions (post_id, user_id) {
        post_id -> Binary,
        user_id -> Binary,
    }
}

diesel::table! {
    follows (id) {
        id -> Binary,
        follower_id -> Binary,
        followee_id -> Binary,
        created_at -> BigInt,
    }
}

diesel::table! {
    notifications (id) {
        id -> Binary,
        recipient_id -> Binary,
        actor_id -> Binary,
        kind -> Text,
        post_id -> Nullable<Binary>,
        created_at -> BigInt,
    }
}

diesel::table! {
    notification_markers (user_id) {
        user_id -> Binary,
        read_up_to -> Binary,
    }
}

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Binary,
        key -> Text,
        post_id -> Binary,
        created_at -> BigInt,
    }
}

diesel::table! {
    outbox (id) {
        id -> Binary,
        event_type -> Text,
        payload -> Text,
        created_at -> BigInt,
        published_at -> Nullable<BigInt>,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    ws_tickets (ticket_hash) {
        ticket_hash -> Binary,
        user_id -> Binary,
        role -> Text,
        token_id -> Binary,
        token_expires_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    daily_post_counts (user_id, day) {
        user_id -> Binary,
        day -> Date,
        created -> Integer,
    }
}

diesel::table! {
    user_activity (user_id, day) {
        user_id -> Binary,
        day -> Date,
        last_seen_at -> BigInt,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Binary,
        user_id -> Binary,
        url -> Text,
        secret -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    auth_attempts (id) {
        id -> Binary,
        kind -> Text,
        client -> Text,
        username -> Nullable<Text>,
        attempted_at -> BigInt,
    }
}

diesel::table! {
    dead_letters (id) {
        id -> BigInt,
        event_id -> Binary,
        routing_key -> Text,
        consumer -> Text,
        body -> Binary,
        reason -> Text,
        attempts -> Integer,
        failed_at -> BigInt,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        webhook_id -> Binary,
        event_id -> Binary,
        event_type -> Text,
        attempt -> Integer,
        due_at -> BigInt,
        body -> Binary,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    users,
    refresh_tokens,
    revoked_tokens,
    revoked_users,
    posts,
    post_mentions,
    follows,
    notifications,
    notification_markers,
    idempotency_keys,
    outbox,
    ws_tickets,
    daily_post_counts,
    user_activity,
    webhooks,
    auth_attempts,
    dead_letters,
    webhook_deliveries,
);
