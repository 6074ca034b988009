use domain::{DisplayName, Role, UserId, Username};
use futures::executor::block_on;

use crate::ports::UserChanges;
use crate::testing::{CLIENT, Harness};
use crate::user::AdminBootstrap;
use crate::{ApplicationError, AuthFailure, Conflict};

#[test]
fn update_changes_only_the_given_fields() {
    let h = Harness::default();
    let (me, _) = h.signed_in("alice");
    let changes = UserChanges { display_name: Some(Some(DisplayName::new("Alice A.").unwrap())), ..Default::default() };
    let user = block_on(h.accounts.update(&me, changes)).unwrap();
    assert_eq!(user.display_name.unwrap().as_str(), "Alice A.");
    assert_eq!(user.username.as_str(), "alice");
}

#[test]
fn renaming_to_a_taken_username_is_a_conflict() {
    let h = Harness::default();
    h.register("bob", None, None).unwrap();
    let (me, _) = h.signed_in("alice");
    let changes = UserChanges { username: Some(Username::new("BOB").unwrap()), ..Default::default() };
    let err = block_on(h.accounts.update(&me, changes)).unwrap_err();
    assert!(matches!(err, ApplicationError::Conflict(Conflict::UsernameTaken)));
}

#[test]
fn deleting_the_account_revokes_its_tokens_and_forbids_login() {
    let h = Harness::default();
    let (me, tokens) = h.signed_in("alice");
    block_on(h.accounts.delete(&me)).unwrap();
    let err = h.auth.authenticate(&tokens.access_token).unwrap_err();
    assert!(matches!(err, ApplicationError::Unauthorized(AuthFailure::TokenRevoked)));
    let err = block_on(h.auth.login("alice", "correct horse", CLIENT)).unwrap_err();
    assert!(matches!(err, ApplicationError::Unauthorized(AuthFailure::InvalidCredentials)));
}

#[test]
fn an_account_deleted_elsewhere_answers_its_token_with_revoked_not_not_found() {
    use crate::ports::UserRepository;
    let h = Harness::default();
    let (me, _) = h.signed_in("alice");
    // Another instance deleted the row; this one has not heard of the revocation yet.
    assert!(block_on(h.users.delete(me.user_id)).unwrap());
    let revoked = |result: Result<_, ApplicationError>| {
        matches!(result, Err(ApplicationError::Unauthorized(AuthFailure::TokenRevoked)))
    };
    assert!(revoked(block_on(h.accounts.me(&me)).map(drop)));
    let changes = UserChanges { display_name: Some(Some(DisplayName::new("A").unwrap())), ..Default::default() };
    assert!(revoked(block_on(h.accounts.update(&me, changes)).map(drop)));
    assert!(revoked(block_on(h.accounts.delete(&me))));
    assert!(revoked(block_on(h.accounts.set_avatar(&me, b"IMG one".to_vec())).map(drop)));
    assert!(h.avatar_files().is_empty(), "the refused avatar's file is removed");
}

#[test]
fn lookup_of_an_impossible_username_is_not_found() {
    let h = Harness::default();
    let (me, _) = h.signed_in("alice");
    let err = block_on(h.accounts.lookup(&me, "no such name!")).unwrap_err();
    assert!(matches!(err, ApplicationError::NotFound("user")));
    assert_eq!(block_on(h.accounts.lookup(&me, "ALICE")).unwrap().user.id, me.user_id);
}

#[test]
fn admin_routes_refuse_a_plain_user() {
    let h = Harness::default();
    let (me, _) = h.signed_in("alice");
    assert!(matches!(block_on(h.accounts.list(&me, None, 20, 0)), Err(ApplicationError::Forbidden(_))));
    let err = block_on(h.accounts.change_role(&me, me.user_id, Role::Admin)).unwrap_err();
    assert!(matches!(err, ApplicationError::Forbidden(_)));
}

#[test]
fn a_demoted_admin_loses_admin_rights_before_their_token_expires() {
    let h = Harness::default();
    let root = h.make_admin("root_admin");
    let deputy_user = h.register("deputy", Some(Role::Admin), Some(&root)).unwrap();
    let (deputy, _) = h.login("deputy");
    block_on(h.accounts.change_role(&root, deputy_user.id, Role::User)).unwrap();
    assert!(matches!(block_on(h.accounts.list(&deputy, None, 20, 0)), Err(ApplicationError::Forbidden(_))));
}

#[test]
fn admin_list_filters_by_prefix_and_pages() {
    let h = Harness::default();
    let admin = h.make_admin("root_admin");
    for name in ["anna", "Annie", "bob", "annabel"] {
        h.register(name, None, None).unwrap();
    }
    let page = block_on(h.accounts.list(&admin, Some("ANN"), 2, 1)).unwrap();
    assert_eq!(page.total, 3);
    let names: Vec<_> = page.users.iter().map(|u| u.username.as_str().to_owned()).collect();
    assert_eq!(names, ["annabel", "Annie"]);
    assert!(matches!(block_on(h.accounts.list(&admin, None, 0, 0)), Err(ApplicationError::Validation(_))));
}

#[test]
fn an_admin_cannot_change_their_own_role() {
    let h = Harness::default();
    let admin = h.make_admin("root_admin");
    let err = block_on(h.accounts.change_role(&admin, admin.user_id, Role::User)).unwrap_err();
    assert!(matches!(err, ApplicationError::Validation(_)));
}

#[test]
fn changing_the_role_of_an_unknown_user_is_not_found() {
    let h = Harness::default();
    let admin = h.make_admin("root_admin");
    let err = block_on(h.accounts.change_role(&admin, UserId::generate(), Role::Admin)).unwrap_err();
    assert!(matches!(err, ApplicationError::NotFound("user")));
}

#[test]
fn bootstrapping_an_admin_never_overwrites_an_existing_user() {
    let h = Harness::default();
    h.register("root_admin", None, None).unwrap();
    let password = domain::Password::new("another password").unwrap();
    let outcome = block_on(h.accounts.bootstrap_admin(Username::new("ROOT_ADMIN").unwrap(), password)).unwrap();
    assert_eq!(outcome, AdminBootstrap::AlreadyExists { is_admin: false });
    assert!(block_on(h.auth.login("root_admin", "correct horse", CLIENT)).is_ok());
}

#[test]
fn a_new_avatar_replaces_the_old_file_and_deleting_the_account_removes_it() {
    let h = Harness::default();
    let (me, _) = h.signed_in("alice");
    let first = block_on(h.accounts.set_avatar(&me, b"IMG one".to_vec())).unwrap().avatar.unwrap();
    let second = block_on(h.accounts.set_avatar(&me, b"IMG two".to_vec())).unwrap().avatar.unwrap();
    assert_ne!(first, second);
    assert_eq!(h.avatar_files(), [second]);
    block_on(h.accounts.delete(&me)).unwrap();
    assert!(h.avatar_files().is_empty());
}

#[test]
fn an_avatar_that_is_not_an_image_is_unsupported_and_changes_nothing() {
    let h = Harness::default();
    let (me, _) = h.signed_in("alice");
    let err = block_on(h.accounts.set_avatar(&me, b"plain text".to_vec())).unwrap_err();
    assert!(matches!(err, ApplicationError::UnsupportedMedia(_)));
    assert_eq!(block_on(h.accounts.me(&me)).unwrap().avatar, None);
}
