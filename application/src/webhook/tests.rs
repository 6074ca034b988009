use futures::executor::block_on;

use super::MAX_WEBHOOKS;
use crate::ApplicationError;
use crate::testing::Harness;

#[test]
fn a_refused_url_is_a_validation_error_on_url() {
    let h = Harness::default();
    let (alice, _) = h.signed_in("alice");
    let err = block_on(h.webhooks().create(&alice, "http://internal.example/hook")).unwrap_err();
    assert!(matches!(&err, ApplicationError::Validation(errors) if errors.contains_key("url")), "{err:?}");
}

#[test]
fn a_user_holds_at_most_ten_webhooks() {
    let h = Harness::default();
    let (alice, _) = h.signed_in("alice");
    let webhooks = h.webhooks();
    for n in 0..MAX_WEBHOOKS {
        block_on(webhooks.create(&alice, &format!("https://example.com/{n}"))).unwrap();
    }
    let err = block_on(webhooks.create(&alice, "https://example.com/one-more")).unwrap_err();
    assert!(matches!(err, ApplicationError::Validation(_)));
    let (bob, _) = h.signed_in("bob");
    assert!(block_on(webhooks.create(&bob, "https://example.com/bob")).is_ok(), "the limit is per user");
}

#[test]
fn only_the_owner_lists_and_deletes_a_webhook() {
    let h = Harness::default();
    let (alice, _) = h.signed_in("alice");
    let (bob, _) = h.signed_in("bob");
    let webhooks = h.webhooks();
    let created = block_on(webhooks.create(&alice, "https://example.com/a")).unwrap();
    assert!(block_on(webhooks.list(&bob)).unwrap().is_empty());
    assert!(matches!(block_on(webhooks.delete(&bob, created.id)), Err(ApplicationError::NotFound("webhook"))));
    block_on(webhooks.delete(&alice, created.id)).unwrap();
    assert!(block_on(webhooks.list(&alice)).unwrap().is_empty());
}

#[test]
fn a_webhook_prints_without_its_secret_or_query() {
    let h = Harness::default();
    let (alice, _) = h.signed_in("alice");
    let created = block_on(h.webhooks().create(&alice, "https://example.com/in?token=t0ken#frag")).unwrap();
    let printed = format!("{created:?}");
    assert!(printed.contains("https://example.com/in"), "{printed}");
    assert!(!printed.contains("t0ken") && !printed.contains("frag") && !printed.contains(&created.secret), "{printed}");
}
