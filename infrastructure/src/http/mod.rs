//! The actix-web adapter: one route table, extractors, problem+json errors.

mod admin;
mod auth;
pub mod client;
pub mod extract;
mod fields;
mod follows;
pub mod health;
pub mod media;
pub mod middleware;
mod notifications;
pub mod openapi;
mod paging;
mod posts;
pub mod problem;
mod users;
pub mod web;
mod webhooks;

use actix_web::dev::Server;
use actix_web::middleware::{ErrorHandlers, from_fn};
// `web` is this crate's web client (web.rs); actix's module is spelled out.
use actix_web::{App, HttpServer};
use std::net::TcpListener;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::di::AppModule;
use crate::wire::PublicUrls;
pub use health::Readiness;
use problem::ApiError;

/// Declares the route table once, as both the registration and a list that
/// tests hold the OpenAPI document against.
macro_rules! route_table {
    ($($method:ident $path:literal => $handler:path),* $(,)?) => {
        /// Every route of the api as `(method, path)`.
        pub const ROUTE_TABLE: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        /// Registers every route of the api.
        pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
            $(cfg.route($path, actix_web::web::$method().to($handler));)*
        }
    };
}

// Order matters where paths overlap: `/users/me` and `/users/lookup` before `/users/{id}`.
route_table! {
    post "/api/v1/auth/register" => auth::register,
    post "/api/v1/auth/login" => auth::login,
    post "/api/v1/auth/refresh" => auth::refresh,
    post "/api/v1/auth/logout" => auth::logout,
    post "/api/v1/auth/ws-ticket" => auth::ws_ticket,
    get "/api/v1/users/me" => users::me,
    patch "/api/v1/users/me" => users::update_me,
    delete "/api/v1/users/me" => users::delete_me,
    put "/api/v1/users/me/avatar" => media::upload_avatar,
    get "/api/v1/users/lookup" => users::lookup,
    get "/api/v1/users" => users::list,
    get "/api/v1/users/{id}" => users::profile,
    patch "/api/v1/users/{id}/role" => users::change_role,
    get "/api/v1/admin/stats" => admin::stats,
    get "/api/v1/users/{id}/posts" => posts::by_author,
    put "/api/v1/users/{id}/follow" => follows::follow,
    delete "/api/v1/users/{id}/follow" => follows::unfollow,
    get "/api/v1/users/{id}/followers" => follows::followers,
    get "/api/v1/users/{id}/following" => follows::following,
    post "/api/v1/posts" => posts::create,
    get "/api/v1/posts" => posts::search,
    get "/api/v1/posts/{id}" => posts::get,
    delete "/api/v1/posts/{id}" => posts::delete,
    get "/api/v1/timeline" => posts::timeline,
    get "/api/v1/notifications" => notifications::list,
    get "/api/v1/notifications/unread_count" => notifications::unread_count,
    post "/api/v1/notifications/read" => notifications::mark_read,
    post "/api/v1/webhooks" => webhooks::create,
    get "/api/v1/webhooks" => webhooks::list,
    delete "/api/v1/webhooks/{id}" => webhooks::delete,
    get "/media/{key}" => media::serve,
    get "/metrics" => crate::telemetry::render_metrics,
    get "/health/live" => health::live,
    get "/health/ready" => health::ready,
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
    media: media::MediaSettings,
    proxies: client::TrustedProxies,
    page: web::WebClient,
) -> std::io::Result<Server> {
    use actix_web::web::{Data, PayloadConfig};
    let readiness = Data::new(readiness);
    let proxies = Data::new(proxies);
    let media = Data::new(media);
    crate::telemetry::metrics();
    let urls = Data::new(urls);
    let page = Data::new(page);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(ErrorHandlers::new().default_handler(middleware::ensure_problem))
            .wrap(from_fn(middleware::request_id))
            .app_data(module.clone())
            .app_data(readiness.clone())
            .app_data(media.clone())
            .app_data(urls.clone())
            .app_data(proxies.clone())
            .app_data(page.clone())
            .app_data(extract::json_config())
            .app_data(extract::path_config())
            .app_data(extract::query_config())
            .app_data(PayloadConfig::new(extract::JSON_LIMIT))
            .configure(routes)
            .service(SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", openapi::ApiDoc::openapi()))
            .route(
                "/docs",
                actix_web::web::get().to(|| async {
                    actix_web::HttpResponse::PermanentRedirect().insert_header(("location", "/docs/")).finish()
                }),
            )
            // The web client, like /docs a page for browsers rather than an operation of the API.
            .route("/", actix_web::web::get().to(web::index))
            .route("/assets/{file}", actix_web::web::get().to(web::asset))
            .default_service(actix_web::web::to(|| async {
                Err::<actix_web::HttpResponse, _>(ApiError::from_status(actix_web::http::StatusCode::NOT_FOUND))
            }))
    })
    .listen(listener)?
    // The binary owns the signals: it stops this server, then closes the broker.
    .disable_signals()
    .run();
    Ok(server)
}
