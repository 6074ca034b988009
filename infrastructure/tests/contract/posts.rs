//! The `PostRepository` contract.

use application::paging::PageRequest;
use application::ports::{CreatePostOutcome, DailyQuota, IdempotencyKey, PostQuery, PostScope};
use chrono::{DateTime, Duration, Utc};
use domain::{DomainEvent, Envelope, Post, PostId};
use uuid::Uuid;

use crate::fixtures::{Content, new_follow, new_post, on_every_backend};

on_every_backend!(
    a_created_post_is_found_with_its_author_and_mentions,
    an_idempotency_key_replays_the_first_post_until_it_expires,
    the_daily_quota_stops_posting_at_its_limit,
    pages_are_newest_first_with_cursors_both_ways,
    the_timeline_holds_own_and_followees_posts_only,
    search_finds_a_rare_word_whatever_its_case,
    search_text_is_never_syntax,
    search_looks_past_the_newest_posts,
    deleting_a_post_takes_its_mentions_and_notifications_and_writes_its_event,
);

/// Now, to the microsecond both backends store.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).expect("now is in range")
}

fn page(before: Option<Uuid>, since: Option<Uuid>, limit: u32) -> PageRequest {
    PageRequest { before, since, limit }
}

fn everyone(text: Option<&str>) -> PostQuery {
    PostQuery { scope: PostScope::Everyone, text: text.map(ToOwned::to_owned) }
}

async fn created(content: &Content, new: application::ports::NewPost) -> Post {
    match content.posts.create(new, None, None).await.expect("creating a post") {
        CreatePostOutcome::Created(post) => post,
        other => panic!("expected a new post, got {other:?}"),
    }
}

/// Mentions in a stable order: the stored order is not part of the contract.
fn sorted(mut post: Post) -> Post {
    post.mentions.sort_by_key(|m| m.user_id);
    post
}

async fn listed(content: &Content, query: &PostQuery, request: PageRequest) -> (Vec<String>, Option<Uuid>) {
    let page = content.posts.list(query, request).await.expect("listing posts");
    (page.items.iter().map(|p| p.content.as_str().to_owned()).collect(), page.next_cursor)
}

async fn a_created_post_is_found_with_its_author_and_mentions(content: &Content) {
    let alice = content.user("alice").await;
    let bob = content.user("bob").await;
    let carol = content.user("Carol").await;
    let post = created(content, new_post(&alice, "hi @bob and @Carol", &[&bob, &carol], now())).await;
    let found = content.posts.find(post.id).await.unwrap().expect("the post is found");
    assert_eq!(sorted(found), sorted(post.clone()));
    assert_eq!(content.posts.find(PostId::generate()).await.unwrap(), None);
    assert_eq!(content.events().await, ["post.created", "notification.created", "notification.created"]);
    let listed = content.posts.list(&everyone(None), page(None, None, 10)).await.unwrap();
    assert_eq!(listed.items.into_iter().map(sorted).collect::<Vec<_>>(), [sorted(post)]);
    assert_eq!(content.count("post_mentions").await, 2);
}

async fn an_idempotency_key_replays_the_first_post_until_it_expires(content: &Content) {
    let alice = content.user("alice").await;
    let bob = content.user("bob").await;
    let at = now();
    let key = IdempotencyKey { key: "k-1".into(), not_before: at - Duration::hours(24) };
    let first = content.posts.create(new_post(&alice, "first", &[], at), Some(key.clone()), None).await.unwrap();
    let CreatePostOutcome::Created(first) = first else { panic!("expected a new post, got {first:?}") };
    let again = content.posts.create(new_post(&alice, "again", &[], at), Some(key.clone()), None).await.unwrap();
    assert_eq!(again, CreatePostOutcome::Replayed(first.clone()));
    assert_eq!(content.count("posts").await, 1, "a replay writes nothing");
    assert_eq!(content.events().await.len(), 1);
    // The same key from someone else is theirs.
    let other = content.posts.create(new_post(&bob, "bob's", &[], at), Some(key.clone()), None).await.unwrap();
    assert!(matches!(other, CreatePostOutcome::Created(_)), "{other:?}");
    // Past its window the key is free again, and then points to the new post.
    let later = IdempotencyKey { key: "k-1".into(), not_before: at + Duration::seconds(1) };
    let renewed =
        content.posts.create(new_post(&alice, "renewed", &[], at + Duration::seconds(2)), Some(later.clone()), None);
    let CreatePostOutcome::Created(renewed) = renewed.await.unwrap() else { panic!("the key expired") };
    let replayed = content.posts.create(new_post(&alice, "x", &[], at), Some(later), None).await.unwrap();
    assert_eq!(replayed, CreatePostOutcome::Replayed(renewed));
    assert_eq!(content.count("posts").await, 3);
}

async fn the_daily_quota_stops_posting_at_its_limit(content: &Content) {
    let alice = content.user("alice").await;
    let bob = content.user("bob").await;
    let today = now().date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let quota = DailyQuota { limit: 2, since: today };
    let mut kept = Vec::new();
    for text in ["one", "two"] {
        let outcome = content.posts.create(new_post(&alice, text, &[], now()), None, Some(quota)).await.unwrap();
        let CreatePostOutcome::Created(post) = outcome else { panic!("within the quota: {outcome:?}") };
        kept.push(post);
    }
    let third = content.posts.create(new_post(&alice, "three", &[], now()), None, Some(quota)).await.unwrap();
    assert_eq!(third, CreatePostOutcome::QuotaExceeded);
    assert_eq!(content.count("posts").await, 2, "nothing is written past the quota");
    assert_eq!(content.events().await.len(), 2);
    // Deleting a post does not give its slot back.
    let event = Envelope::new(DomainEvent::PostDeleted { post_id: kept[0].id, author_id: alice.id }, now());
    assert!(content.posts.delete(kept[0].id, event).await.unwrap());
    let after = content.posts.create(new_post(&alice, "four", &[], now()), None, Some(quota)).await.unwrap();
    assert_eq!(after, CreatePostOutcome::QuotaExceeded);
    // Another author, and another day, count apart.
    let bobs = content.posts.create(new_post(&bob, "bob", &[], now()), None, Some(quota)).await.unwrap();
    assert!(matches!(bobs, CreatePostOutcome::Created(_)), "{bobs:?}");
    let tomorrow = DailyQuota { limit: 2, since: today + Duration::days(1) };
    let next = content.posts.create(new_post(&alice, "five", &[], now()), None, Some(tomorrow)).await.unwrap();
    assert!(matches!(next, CreatePostOutcome::Created(_)), "{next:?}");
    let none = DailyQuota { limit: 0, since: today };
    let refused = content.posts.create(new_post(&bob, "no", &[], now()), None, Some(none)).await.unwrap();
    assert_eq!(refused, CreatePostOutcome::QuotaExceeded);
}

async fn pages_are_newest_first_with_cursors_both_ways(content: &Content) {
    let alice = content.user("alice").await;
    let bob = content.user("bob").await;
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(created(content, new_post(&alice, &format!("p{n}"), &[], now())).await.id);
        created(content, new_post(&bob, &format!("bob{n}"), &[], now())).await;
    }
    let id = |n: usize| *ids[n - 1].as_uuid();
    let mine = PostQuery { scope: PostScope::Author(alice.id), text: None };
    assert_eq!(listed(content, &mine, page(None, None, 2)).await, (vec!["p5".into(), "p4".into()], Some(id(4))));
    assert_eq!(listed(content, &mine, page(Some(id(4)), None, 2)).await, (vec!["p3".into(), "p2".into()], Some(id(2))));
    assert_eq!(listed(content, &mine, page(Some(id(2)), None, 2)).await, (vec!["p1".into()], None));
    // Newer than a cursor: still newest first, the page nearest the top.
    assert_eq!(listed(content, &mine, page(None, Some(id(2)), 2)).await, (vec!["p5".into(), "p4".into()], Some(id(4))));
    assert_eq!(listed(content, &mine, page(None, Some(id(4)), 2)).await, (vec!["p5".into()], None));
    assert_eq!(listed(content, &mine, page(Some(id(5)), Some(id(2)), 5)).await, (vec!["p4".into(), "p3".into()], None));
    let (all, next) = listed(content, &everyone(None), page(None, None, 3)).await;
    assert_eq!(all, ["bob5", "p5", "bob4"]);
    assert!(next.is_some());
}

async fn the_timeline_holds_own_and_followees_posts_only(content: &Content) {
    let alice = content.user("alice").await;
    let bob = content.user("bob").await;
    let carol = content.user("carol").await;
    assert!(content.follows.follow(new_follow(&alice, &bob)).await.unwrap());
    assert!(content.follows.follow(new_follow(&carol, &alice)).await.unwrap());
    for (who, text) in [(&alice, "mine"), (&bob, "bob's"), (&carol, "carol's"), (&alice, "mine again")] {
        created(content, new_post(who, text, &[], now())).await;
    }
    let timeline = PostQuery { scope: PostScope::Timeline(alice.id), text: None };
    assert_eq!(listed(content, &timeline, page(None, None, 10)).await.0, ["mine again", "bob's", "mine"]);
    assert_eq!(listed(content, &timeline, page(None, None, 2)).await.0, ["mine again", "bob's"]);
    let searched = PostQuery { scope: PostScope::Timeline(alice.id), text: Some("AGAIN".into()) };
    assert_eq!(listed(content, &searched, page(None, None, 10)).await.0, ["mine again"]);
    let theirs = PostQuery { scope: PostScope::Timeline(bob.id), text: None };
    assert_eq!(listed(content, &theirs, page(None, None, 10)).await.0, ["bob's"]);
}

async fn search_finds_a_rare_word_whatever_its_case(content: &Content) {
    let alice = content.user("alice").await;
    let bob = content.user("bob").await;
    created(content, new_post(&alice, "The Quokka smiles", &[], now())).await;
    for n in 0..5 {
        created(content, new_post(&bob, &format!("the usual words {n}"), &[], now())).await;
    }
    created(content, new_post(&bob, "quokkas are not quokka", &[], now())).await;
    for text in ["quokka", "QUOKKA", "  qUoKkA  "] {
        assert_eq!(
            listed(content, &everyone(Some(text)), page(None, None, 10)).await.0,
            ["quokkas are not quokka", "The Quokka smiles"],
            "{text}"
        );
    }
    assert_eq!(listed(content, &everyone(Some("quokka smiles")), page(None, None, 10)).await.0, ["The Quokka smiles"]);
    let by_alice = PostQuery { scope: PostScope::Author(alice.id), text: Some("Quokka".into()) };
    assert_eq!(listed(content, &by_alice, page(None, None, 10)).await.0, ["The Quokka smiles"]);
    let (first, cursor) = listed(content, &everyone(Some("the")), page(None, None, 4)).await;
    assert_eq!(first, ["the usual words 4", "the usual words 3", "the usual words 2", "the usual words 1"]);
    let (rest, end) = listed(content, &everyone(Some("the")), page(cursor, None, 4)).await;
    assert_eq!((rest, end), (vec!["the usual words 0".into(), "The Quokka smiles".into()], None));
    assert!(listed(content, &everyone(Some("wombat")), page(None, None, 10)).await.0.is_empty());
}

async fn search_text_is_never_syntax(content: &Content) {
    let alice = content.user("alice").await;
    created(content, new_post(&alice, "Zebra NEAR crossing: (quite) rare* sight", &[], now())).await;
    created(content, new_post(&alice, "nothing to see", &[], now())).await;
    let zebra = vec!["Zebra NEAR crossing: (quite) rare* sight".to_owned()];
    for text in [
        "zebra*",
        "\"zebra",
        "(zebra",
        "zebra)",
        "zebra NEAR crossing",
        "NEAR",
        "crossing:",
        "zebra -",
        "rare*",
        "\"zebra near\"",
        "zebra or elephant",
        "NEAR(zebra crossing)",
        "^zebra",
        "zebra:crossing",
    ] {
        assert_eq!(listed(content, &everyone(Some(text)), page(None, None, 10)).await.0, zebra, "{text:?}");
    }
    for text in ["zebra -crossing", "\"crossing zebra\"", "zebra AND", "zebra AND elephant", "zeb*"] {
        assert!(listed(content, &everyone(Some(text)), page(None, None, 10)).await.0.is_empty(), "{text:?}");
    }
    // Nothing to search for: nothing found, as the same text on PostgreSQL.
    for text in ["", "*", "(", "\"", "\"\"", "-", ":", "()", "* - : ( \""] {
        let page = content.posts.list(&everyone(Some(text)), page(None, None, 10)).await.unwrap();
        assert!(page.items.is_empty() && page.next_cursor.is_none(), "{text:?}");
        let mine = PostQuery { scope: PostScope::Author(alice.id), text: Some(text.into()) };
        assert!(
            content
                .posts
                .list(&mine, PageRequest { before: None, since: None, limit: 5 })
                .await
                .unwrap()
                .items
                .is_empty()
        );
    }
}

/// More posts than the search's recent window: a common word fills its page
/// from the newest posts, a rare one is found among the oldest.
async fn search_looks_past_the_newest_posts(content: &Content) {
    let alice = content.user("alice").await;
    created(content, new_post(&alice, "an old platypus", &[], now())).await;
    created(content, new_post(&alice, "another platypus", &[], now())).await;
    for n in 0..4100 {
        content.posts.create(new_post(&alice, &format!("filler {n}"), &[], now()), None, None).await.unwrap();
    }
    let (rare, next) = listed(content, &everyone(Some("platypus")), page(None, None, 1)).await;
    assert_eq!(rare, ["another platypus"]);
    assert_eq!(
        listed(content, &everyone(Some("platypus")), page(next, None, 1)).await,
        (vec!["an old platypus".into()], None)
    );
    let (common, _) = listed(content, &everyone(Some("filler")), page(None, None, 2)).await;
    assert_eq!(common, ["filler 4099", "filler 4098"]);
    let (both, _) = listed(content, &everyone(Some("platypus or filler")), page(None, None, 3)).await;
    assert_eq!(both, ["filler 4099", "filler 4098", "filler 4097"]);
}

async fn deleting_a_post_takes_its_mentions_and_notifications_and_writes_its_event(content: &Content) {
    let alice = content.user("alice").await;
    let bob = content.user("bob").await;
    let post = created(content, new_post(&alice, "bye @bob, said the ocelot", &[&bob], now())).await;
    let kept = created(content, new_post(&alice, "the other ocelot", &[&bob], now())).await;
    assert_eq!((content.count("post_mentions").await, content.count("notifications").await), (2, 2));
    let event = Envelope::new(DomainEvent::PostDeleted { post_id: post.id, author_id: alice.id }, now());
    assert!(content.posts.delete(post.id, event.clone()).await.unwrap());
    assert_eq!(content.posts.find(post.id).await.unwrap(), None);
    assert_eq!((content.count("post_mentions").await, content.count("notifications").await), (1, 1));
    assert_eq!(content.events().await.last().map(String::as_str), Some("post.deleted"));
    assert_eq!(listed(content, &everyone(Some("ocelot")), page(None, None, 10)).await.0, [kept.content.as_str()]);
    let events = content.events().await.len();
    assert!(!content.posts.delete(post.id, event).await.unwrap(), "already gone");
    assert_eq!(content.events().await.len(), events, "nothing written for an absent post");
}
