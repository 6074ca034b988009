//! Users: profile, lookup, edits, deletion, admin list and roles (avatars and stats elsewhere).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn me_answers_the_callers_own_account() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let response = app.get("/api/v1/users/me").bearer_auth(&alice.access).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["id"], alice.id.as_str());
    assert_eq!(me["username"], "alice");
    assert_eq!(me["role"], "user");
}

#[tokio::test]
async fn patching_me_changes_given_fields_and_null_clears_them() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let patch = |body: Value| app.patch("/api/v1/users/me").bearer_auth(&alice.access).json(&body).send();

    let response =
        patch(json!({"display_name": "  Alice A.  ", "bio": "hello", "email": "a@example.com"})).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["display_name"], "Alice A.");
    assert_eq!(me["bio"], "hello");
    assert_eq!(me["email"], "a@example.com");
    assert_eq!(me["username"], "alice");

    let me: Value = patch(json!({"bio": null, "username": "Alice_2"})).await.unwrap().json().await.unwrap();
    assert_eq!(me["bio"], Value::Null);
    assert_eq!(me["display_name"], "Alice A.");
    assert_eq!(me["username"], "Alice_2");
    assert_eq!(app.login_as("alice_2", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn patching_me_with_bad_fields_is_422_per_field() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let body = json!({"username": null, "display_name": "d".repeat(51), "bio": "b".repeat(161), "email": "nope"});
    let response = app.patch("/api/v1/users/me").bearer_auth(&alice.access).json(&body).send().await.unwrap();
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    for field in ["username", "display_name", "bio", "email"] {
        assert!(problem["errors"][field].is_array(), "{field}: {problem}");
    }
    let wrong_type =
        app.patch("/api/v1/users/me").bearer_auth(&alice.access).json(&json!({"bio": 5})).send().await.unwrap();
    assert_problem(wrong_type, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[tokio::test]
async fn renaming_to_a_name_or_email_taken_in_another_case_is_409() {
    let app = spawn_app().await;
    let bob = app.signed_in("Bob").await;
    app.patch("/api/v1/users/me")
        .bearer_auth(&bob.access)
        .json(&json!({"email": "bob@example.com"}))
        .send()
        .await
        .unwrap();
    let alice = app.signed_in("alice").await;
    let rename = app
        .patch("/api/v1/users/me")
        .bearer_auth(&alice.access)
        .json(&json!({"username": "BOB"}))
        .send()
        .await
        .unwrap();
    assert_problem(rename, StatusCode::CONFLICT, "username_taken").await;
    let email = app
        .patch("/api/v1/users/me")
        .bearer_auth(&alice.access)
        .json(&json!({"email": "BOB@example.COM"}))
        .send()
        .await
        .unwrap();
    assert_problem(email, StatusCode::CONFLICT, "email_taken").await;
}

#[tokio::test]
async fn deleting_me_ends_the_account_and_every_token() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let response = app.delete("/api/v1/users/me").bearer_auth(&alice.access).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let me = app.get("/api/v1/users/me").bearer_auth(&alice.access).send().await.unwrap();
    assert_problem(me, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_problem(app.login_as("alice", PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let refresh = app.post("/api/v1/auth/refresh").json(&json!({"refresh_token": alice.refresh})).send().await.unwrap();
    assert_problem(refresh, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    let profile = app.get(&format!("/api/v1/users/{}", alice.id)).bearer_auth(&bob.access).send().await.unwrap();
    assert_problem(profile, StatusCode::NOT_FOUND, "user_not_found").await;
    assert_eq!(app.register("alice").await.status(), StatusCode::CREATED, "the name is free again");
}

#[tokio::test]
async fn a_profile_shows_public_fields_only() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    app.patch("/api/v1/users/me")
        .bearer_auth(&alice.access)
        .json(&json!({"email": "a@example.com", "bio": "hi"}))
        .send()
        .await
        .unwrap();
    let bob = app.signed_in("bob").await;
    let response = app.get(&format!("/api/v1/users/{}", alice.id)).bearer_auth(&bob.access).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let profile: Value = response.json().await.unwrap();
    assert_eq!(profile["username"], "alice");
    assert_eq!(profile["bio"], "hi");
    for counter in ["followers_count", "following_count", "posts_count"] {
        assert_eq!(profile[counter], 0, "{counter}");
    }
    assert_eq!(profile["followed_by_me"], false);
    assert!(profile.get("email").is_none() && profile.get("role").is_none(), "{profile}");
}

#[tokio::test]
async fn profiles_need_a_token_a_valid_id_and_an_existing_user() {
    let app = spawn_app().await;
    let bob = app.signed_in("bob").await;
    let anonymous = app.get(&format!("/api/v1/users/{}", bob.id)).send().await.unwrap();
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
    let unknown =
        app.get(&format!("/api/v1/users/{}", uuid::Uuid::now_v7())).bearer_auth(&bob.access).send().await.unwrap();
    assert_problem(unknown, StatusCode::NOT_FOUND, "user_not_found").await;
    let malformed = app.get("/api/v1/users/not-a-uuid").bearer_auth(&bob.access).send().await.unwrap();
    assert_problem(malformed, StatusCode::BAD_REQUEST, "invalid_parameter").await;
}

#[tokio::test]
async fn lookup_finds_a_user_by_name_in_any_case() {
    let app = spawn_app().await;
    let alice = app.signed_in("Alice").await;
    let found = app.get("/api/v1/users/lookup?username=aLiCe").bearer_auth(&alice.access).send().await.unwrap();
    assert_eq!(found.status(), StatusCode::OK);
    assert_eq!(found.json::<Value>().await.unwrap()["id"], alice.id.as_str());
    let missing = app.get("/api/v1/users/lookup?username=nobody").bearer_auth(&alice.access).send().await.unwrap();
    assert_problem(missing, StatusCode::NOT_FOUND, "user_not_found").await;
    let no_param = app.get("/api/v1/users/lookup").bearer_auth(&alice.access).send().await.unwrap();
    assert_problem(no_param, StatusCode::BAD_REQUEST, "invalid_parameter").await;
}

#[tokio::test]
async fn the_user_list_is_for_admins_only() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let response = app.get("/api/v1/users").bearer_auth(&alice.access).send().await.unwrap();
    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn an_admin_pages_and_filters_the_user_list() {
    let app = spawn_app().await;
    for name in ["anna", "Annie", "bob", "annabel", "an_x"] {
        app.register(name).await;
    }
    let admin = app.admin().await;
    let list = |query: &'static str| app.get(&format!("/api/v1/users{query}")).bearer_auth(&admin.access).send();

    let all: Value = list("").await.unwrap().json().await.unwrap();
    assert_eq!(all["meta"], json!({"total": 6, "limit": 20, "offset": 0}));
    assert_eq!(all["data"].as_array().unwrap().len(), 6);
    assert!(all["data"][0]["email"].is_null() && all["data"][0]["role"].is_string());

    let page: Value = list("?q=ANN&limit=2&offset=1").await.unwrap().json().await.unwrap();
    assert_eq!(page["meta"], json!({"total": 3, "limit": 2, "offset": 1}));
    let names: Vec<&str> = page["data"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["annabel", "Annie"]);

    let underscore: Value = list("?q=an_").await.unwrap().json().await.unwrap();
    assert_eq!(underscore["meta"]["total"], 1, "_ is matched literally");

    assert_problem(list("?limit=0").await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_problem(list("?limit=101").await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_problem(list("?limit=abc").await.unwrap(), StatusCode::BAD_REQUEST, "invalid_parameter").await;
}

#[tokio::test]
async fn an_admin_changes_a_role_and_it_takes_effect_at_once() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let admin = app.admin().await;
    let promote = app
        .patch(&format!("/api/v1/users/{}/role", alice.id))
        .bearer_auth(&admin.access)
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(promote.status(), StatusCode::OK);
    assert_eq!(promote.json::<Value>().await.unwrap()["role"], "admin");
    let list = app.get("/api/v1/users").bearer_auth(&alice.access).send().await.unwrap();
    assert_eq!(list.status(), StatusCode::OK, "the old token now has admin rights");

    let demote = app
        .patch(&format!("/api/v1/users/{}/role", alice.id))
        .bearer_auth(&admin.access)
        .json(&json!({"role": "user"}))
        .send()
        .await
        .unwrap();
    assert_eq!(demote.status(), StatusCode::OK);
    let list = app.get("/api/v1/users").bearer_auth(&alice.access).send().await.unwrap();
    assert_problem(list, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn role_changes_refuse_non_admins_bad_roles_unknown_users_and_oneself() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let admin = app.admin().await;
    let change = |token: &str, id: &str, role: &str| {
        app.patch(&format!("/api/v1/users/{id}/role")).bearer_auth(token).json(&json!({"role": role})).send()
    };
    assert_problem(change(&alice.access, &alice.id, "admin").await.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;
    let bad = assert_problem(
        change(&admin.access, &alice.id, "root").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(bad["errors"]["role"].is_array());
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_problem(change(&admin.access, &unknown, "admin").await.unwrap(), StatusCode::NOT_FOUND, "user_not_found")
        .await;
    assert_problem(
        change(&admin.access, &admin.id, "user").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}
