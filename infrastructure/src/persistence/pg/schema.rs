// Mirrors migrations/; kept by hand (diesel print-schema needs the diesel CLI).

diesel::table! {
    users (id) {
        id -> Uuid,
        username -> Text,
        email -> Nullable<Text>,
        password_hash -> Text,
        display_name -> Nullable<Text>,
        bio -> Nullable<Text>,
        avatar -> Nullable<Text>,
        role -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Bytea,
        user_id -> Uuid,
        family_id -> Uuid,
        expires_at -> Timestamptz,
        spent_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    revoked_tokens (jti) {
        jti -> Uuid,
        expires_at -> Timestamptz,
        revoked_at -> Timestamptz,
    }
}

diesel::table! {
    revoked_users (user_id) {
        user_id -> Uuid,
        expires_at -> Timestamptz,
        revoked_at -> Timestamptz,
    }
}

diesel::joinable!(refresh_tokens -> users (user_id));

diesel::table! {
    posts (id) {
        id -> Uuid,
        author_id -> Uuid,
        content -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    post_mentions (post_id, user_id) {
        post_id -> Uuid,
        user_id -> Uuid,
    }
}

diesel::table! {
    follows (id) {
        id -> Uuid,
        follower_id -> Uuid,
        followee_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    notifications (id) {
        id -> Uuid,
        recipient_id -> Uuid,
        actor_id -> Uuid,
        kind -> Text,
        post_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    notification_markers (user_id) {
        user_id -> Uuid,
        read_up_to -> Uuid,
    }
}

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Uuid,
        key -> Text,
        post_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    outbox (id) {
        id -> Uuid,
        event_type -> Text,
        payload -> Jsonb,
        created_at -> Timestamptz,
        published_at -> Nullable<Timestamptz>,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    ws_tickets (ticket_hash) {
        ticket_hash -> Bytea,
        user_id -> Uuid,
        role -> Text,
        token_id -> Uuid,
        token_expires_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    /// A view (migration `post_details`): a post with its author and mentions.
    post_details (id) {
        id -> Uuid,
        content -> Text,
        created_at -> Timestamptz,
        author_id -> Uuid,
        author_username -> Text,
        author_display_name -> Nullable<Text>,
        author_avatar -> Nullable<Text>,
        mention_ids -> Array<Uuid>,
        mention_names -> Array<Text>,
    }
}

diesel::joinable!(posts -> users (author_id));
diesel::joinable!(post_mentions -> users (user_id));
diesel::joinable!(post_mentions -> posts (post_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    refresh_tokens,
    posts,
    post_details,
    post_mentions,
    follows,
    notifications,
    notification_markers,
    idempotency_keys,
    outbox,
    ws_tickets,
    user_activity,
    webhooks,
    daily_post_counts
);

diesel::table! {
    daily_post_counts (user_id, day) {
        user_id -> Uuid,
        day -> Date,
        created -> Int4,
    }
}

diesel::table! {
    user_activity (user_id, day) {
        user_id -> Uuid,
        day -> Date,
        last_seen_at -> Timestamptz,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Uuid,
        user_id -> Uuid,
        url -> Text,
        secret -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    auth_attempts (id) {
        id -> Uuid,
        kind -> Text,
        client -> Text,
        username -> Nullable<Text>,
        attempted_at -> Timestamptz,
    }
}
