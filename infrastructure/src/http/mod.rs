//! The actix-web adapter: one route table, extractors, problem+json errors.

mod auth;
pub mod extract;
mod fields;
mod follows;
pub mod health;
pub mod middleware;
mod notifications;
mod paging;
mod posts;
pub mod problem;
mod users;

use actix_web::dev::Server;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use std::net::TcpListener;
use std::sync::Arc;

use crate::di::AppModule;
use crate::wire::PublicUrls;
pub use health::Readiness;
use problem::ApiError;

/// Every route of the api, in one table.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .route("/auth/register", web::post().to(auth::register))
            .route("/auth/login", web::post().to(auth::login))
            .route("/auth/refresh", web::post().to(auth::refresh))
            .route("/auth/logout", web::post().to(auth::logout))
            .route("/auth/ws-ticket", web::post().to(auth::ws_ticket))
            .route("/users/me", web::get().to(users::me))
            .route("/users/me", web::patch().to(users::update_me))
            .route("/users/me", web::delete().to(users::delete_me))
            .route("/users/lookup", web::get().to(users::lookup))
            .route("/users", web::get().to(users::list))
            .route("/users/{id}", web::get().to(users::profile))
            .route("/users/{id}/role", web::patch().to(users::change_role))
            .route("/users/{id}/posts", web::get().to(posts::by_author))
            .route("/users/{id}/follow", web::put().to(follows::follow))
            .route("/users/{id}/follow", web::delete().to(follows::unfollow))
            .route("/users/{id}/followers", web::get().to(follows::followers))
            .route("/users/{id}/following", web::get().to(follows::following))
            .route("/posts", web::post().to(posts::create))
            .route("/posts", web::get().to(posts::search))
            .route("/posts/{id}", web::get().to(posts::get))
            .route("/posts/{id}", web::delete().to(posts::delete))
            .route("/timeline", web::get().to(posts::timeline))
            .route("/notifications", web::get().to(notifications::list))
            .route("/notifications/unread_count", web::get().to(notifications::unread_count))
            .route("/notifications/read", web::post().to(notifications::mark_read)),
    )
    .route("/health/live", web::get().to(health::live))
    .route("/health/ready", web::get().to(health::ready));
}

/// Starts the api on `listener`.
///
/// # Errors
/// When the server cannot take over the listener.
pub fn serve(
    listener: TcpListener,
    module: Arc<AppModule>,
    readiness: Readiness,
    urls: PublicUrls,
) -> std::io::Result<Server> {
    let readiness = web::Data::new(readiness);
    let urls = web::Data::new(urls);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(ErrorHandlers::new().default_handler(middleware::ensure_problem))
            .wrap(from_fn(middleware::request_id))
            .app_data(module.clone())
            .app_data(readiness.clone())
            .app_data(urls.clone())
            .app_data(extract::json_config())
            .app_data(extract::path_config())
            .app_data(extract::query_config())
            .app_data(web::PayloadConfig::new(extract::JSON_LIMIT))
            .configure(routes)
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(ApiError::from_status(actix_web::http::StatusCode::NOT_FOUND))
            }))
    })
    .listen(listener)?
    .run();
    Ok(server)
}
