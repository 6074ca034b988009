//! The OpenAPI document and the Swagger UI served by the api.

use infrastructure::http::ROUTE_TABLE;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn every_route_of_the_route_table_is_in_the_openapi_document() {
    let app = spawn_app().await;
    let response = app.get("/api-docs/openapi.json").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let document: Value = response.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut missing = Vec::new();
    for (method, path) in ROUTE_TABLE {
        if document["paths"][path][method].is_null() {
            missing.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    assert!(missing.is_empty(), "undocumented routes: {missing:?}");
    let documented: usize = document["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, ROUTE_TABLE.len(), "the document lists no route the api lacks");
    assert_eq!(document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert!(document["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test]
async fn the_docs_page_is_served_by_the_api_itself() {
    let app = spawn_app().await;
    let page = app.get("/docs/").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"));
    assert!(!html.contains("https://"), "no asset from another host");
    let script = app.get("/docs/swagger-ui-bundle.js").send().await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    let redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let bare = redirect.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(bare.headers().get("location").unwrap(), "/docs/");
}

#[tokio::test]
async fn every_operation_id_is_unique() {
    let app = spawn_app().await;
    let document: Value = app.get("/api-docs/openapi.json").send().await.unwrap().json().await.unwrap();
    let mut ids: Vec<&str> = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .map(|operation| operation["operationId"].as_str().unwrap())
        .collect();
    let all = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all, "{ids:?}");
    assert_eq!(document["paths"]["/api/v1/webhooks"]["get"]["operationId"], "list_webhooks");
}
