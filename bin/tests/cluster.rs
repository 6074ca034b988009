//! The core of the HTTP/WebSocket suite through a balancer: `scripts/cluster.sh start 2 2`
//! runs two `api` and two `notifier` of the build under test behind the script's nginx, and
//! every check goes through nginx, which sends consecutive requests to different instances
//! (its access log names the instance that answered each one). Checks, in order:
//!
//! - `register_login_refresh`
//! - `post_get_delete`
//! - `follow_and_timeline`
//! - `search`
//! - `websocket_gets_posts_written_through_either_api`
//! - `logout_on_one_api_is_refused_on_the_other`
//! - `deleted_users_token_is_revoked_on_the_other_api`
//! - `avatar_uploaded_through_one_api_is_served_by_both`
//!
//! Compiled when `TEST_DATABASE_URL` and `TEST_AMQP_URL` are set. Needs nginx: under CI
//! (`CI` set) its absence fails the test; elsewhere the test says so and passes.

#![cfg_attr(served_tests, expect(clippy::unwrap_used, reason = "a test fails loudly where it breaks"))]

#[cfg(served_tests)]
mod support;

#[cfg(served_tests)]
mod suite {
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::time::{Duration, Instant};

    use futures::StreamExt;
    use reqwest::StatusCode;
    use serde_json::{Value, json};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

    const PASSWORD: &str = "correct horse";
    /// API.md: a logout holds on every other instance within 100 ms while the broker is up.
    const REVOCATION_BOUND: Duration = Duration::from_millis(100);
    /// A post reaches a follower's socket through the relay, the broker and a notifier; the
    /// debug build on a loaded CI machine gets far more than the release build's milliseconds.
    const DELIVERY_BOUND: Duration = Duration::from_secs(5);
    /// A 1x1 RGB PNG.
    const PNG: [u8; 69] = [
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53, 0xde, 0x00, 0x00, 0x00,
        0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0x00, 0x00, 0x03, 0x01, 0x01, 0x00, 0xc9,
        0xfe, 0x92, 0xef, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];

    /// A cluster started by `scripts/cluster.sh` in a state folder of its own; stopped (and the
    /// folder removed) when dropped, so a failing check still ends every process it started.
    struct Cluster {
        state: PathBuf,
        port: u16,
        apis: Vec<u16>,
        notifiers: Vec<u16>,
        http: reqwest::Client,
    }

    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster.sh")
    }

    /// A port below 32768 (the script's rule: the bench client's sockets take those above)
    /// that nobody listens on, with the next 300 left for the instances the script places there.
    fn public_port() -> u16 {
        let start = 20_000 + (uuid::Uuid::now_v7().as_u128() % 8_000) as u16;
        (start..30_000).step_by(7).find(|&port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()).unwrap()
    }

    fn nginx_installed() -> bool {
        Command::new("sh").args(["-c", "command -v nginx"]).output().is_ok_and(|out| out.status.success())
    }

    impl Cluster {
        fn command(&self, action: &str) -> Command {
            let mut command = Command::new("bash");
            let binaries = Path::new(env!("CARGO_BIN_EXE_api")).parent().unwrap();
            command
                .arg(script())
                .arg(action)
                .env("CLUSTER_STATE_DIR", &self.state)
                .env("CLUSTER_PORT", self.port.to_string())
                .env("CLUSTER_BIN_DIR", binaries)
                .env("CLUSTER_PG_SERVER", super::support::SERVER)
                .env("POST_DAILY_LIMIT", "0")
                .env("RUST_LOG", "warn");
            if let Ok(amqp) = std::env::var("TEST_AMQP_URL") {
                command.env("AMQP_URL", amqp);
            }
            command
        }

        fn start() -> Self {
            let state = std::env::temp_dir().join(format!("social-cluster-{}", uuid::Uuid::now_v7().simple()));
            let mut cluster = Self {
                state,
                port: public_port(),
                apis: Vec::new(),
                notifiers: Vec::new(),
                http: reqwest::Client::new(),
            };
            let output = cluster.command("start").args(["2", "2"]).output().unwrap();
            assert!(
                output.status.success(),
                "cluster.sh start 2 2 failed:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            let processes = std::fs::read_to_string(cluster.state.join("processes")).unwrap();
            for line in processes.lines() {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let port: u16 = fields[3].parse().unwrap();
                match fields[0] {
                    "api" => cluster.apis.push(port),
                    "notifier" => cluster.notifiers.push(port),
                    _ => {}
                }
            }
            assert_eq!((cluster.apis.len(), cluster.notifiers.len()), (2, 2), "{processes}");
            cluster
        }

        fn url(&self, path: &str) -> String {
            format!("http://127.0.0.1:{}{path}", self.port)
        }

        /// `path` on one api directly, not through nginx.
        fn direct(&self, api: u16, path: &str) -> String {
            format!("http://127.0.0.1:{api}{path}")
        }

        fn other_api(&self, api: u16) -> u16 {
            *self.apis.iter().find(|&&port| port != api).unwrap()
        }

        /// The upstream port of each line nginx logged after the first `skip` lines, with the
        /// request line; the log format of cluster.sh ends in `-> <addr> <time> s`.
        fn served(&self, skip: usize) -> Vec<(String, u16)> {
            let log = std::fs::read_to_string(self.state.join("logs/nginx-access.log")).unwrap();
            log.lines()
                .skip(skip)
                .filter_map(|line| {
                    let request = line.split('"').nth(1)?.to_owned();
                    let upstream = line.rsplit(" -> ").next()?.split_whitespace().next()?;
                    Some((request, upstream.rsplit(':').next()?.parse().ok()?))
                })
                .collect()
        }

        fn log_lines(&self) -> usize {
            std::fs::read_to_string(self.state.join("logs/nginx-access.log")).unwrap().lines().count()
        }

        /// Sends `request` through nginx; returns the response and the api that answered it.
        async fn through(&self, request: reqwest::RequestBuilder) -> (reqwest::Response, u16) {
            let before = self.log_lines();
            let response = request.send().await.unwrap();
            // nginx writes the line once the response is sent: by now, or a moment later.
            for _ in 0..100 {
                if let Some((_, port)) = self.served(before).last() {
                    return (response, *port);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("nginx logged no line for the request");
        }

        async fn register(&self, name: &str) -> Value {
            let body = json!({"username": name, "password": PASSWORD});
            let response = self.http.post(self.url("/api/v1/auth/register")).json(&body).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::CREATED, "register {name}");
            response.json().await.unwrap()
        }

        async fn login(&self, name: &str) -> Value {
            let body = json!({"username": name, "password": PASSWORD});
            let response = self.http.post(self.url("/api/v1/auth/login")).json(&body).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "login {name}");
            response.json().await.unwrap()
        }

        async fn post(&self, token: &str, content: &str) -> (Value, u16) {
            let request =
                self.http.post(self.url("/api/v1/posts")).bearer_auth(token).json(&json!({"content": content}));
            let (response, api) = self.through(request).await;
            assert_eq!(response.status(), StatusCode::CREATED);
            (response.json().await.unwrap(), api)
        }

        /// GET `path` through nginx twice in a row: the two answers come from different apis.
        async fn get_twice(&self, token: &str, path: &str) -> [(StatusCode, Value); 2] {
            let (first, first_api) = self.through(self.http.get(self.url(path)).bearer_auth(token)).await;
            let (second, second_api) = self.through(self.http.get(self.url(path)).bearer_auth(token)).await;
            assert_ne!(first_api, second_api, "consecutive requests for {path} went to one api");
            let status = (first.status(), second.status());
            [(status.0, first.json().await.unwrap()), (status.1, second.json().await.unwrap())]
        }

        /// A socket through nginx, opened with a ticket from an api through nginx.
        async fn socket(&self, token: &str) -> Socket {
            let response = self.http.post(self.url("/api/v1/auth/ws-ticket")).bearer_auth(token).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            let ticket: Value = response.json().await.unwrap();
            let url = format!("ws://127.0.0.1:{}/ws?ticket={}", self.port, ticket["ticket"].as_str().unwrap());
            tokio_tungstenite::connect_async(url.into_client_request().unwrap()).await.unwrap().0
        }
    }

    impl Drop for Cluster {
        fn drop(&mut self) {
            let env = std::fs::read_to_string(self.state.join("cluster.env")).unwrap_or_default();
            let exchange = env.lines().find_map(|line| line.strip_prefix("AMQP_EXCHANGE=")).map(str::to_owned);
            match self.command("stop").output() {
                Ok(output) if output.status.success() => {}
                Ok(output) => eprintln!("cluster.sh stop: {}", String::from_utf8_lossy(&output.stderr)),
                Err(e) => eprintln!("cluster.sh stop did not run: {e}"),
            }
            // cluster.sh leaves the exchange where RabbitMQ has no management API.
            if let Some(exchange) = exchange {
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    runtime.block_on(super::support::remove_exchange(&exchange))
                })
                .join();
            }
            let _ = std::fs::remove_dir_all(&self.state);
        }
    }

    fn ids(page: &Value) -> Vec<&str> {
        page["data"].as_array().unwrap().iter().map(|post| post["id"].as_str().unwrap()).collect()
    }

    /// The next `post.created` on `socket` (other events are skipped), within `DELIVERY_BOUND`.
    async fn next_post(socket: &mut Socket) -> String {
        loop {
            let message = tokio::time::timeout(DELIVERY_BOUND, socket.next())
                .await
                .unwrap_or_else(|_| panic!("no post.created within {DELIVERY_BOUND:?}"))
                .unwrap()
                .unwrap();
            if let Message::Text(text) = message {
                let event: Value = serde_json::from_str(&text).unwrap();
                if event["type"] == "post.created" {
                    return event["data"]["post"]["id"].as_str().unwrap().to_owned();
                }
            }
        }
    }

    /// How long after `since` `token` is refused with 401 by `api`, polled directly.
    async fn refused_after(cluster: &Cluster, api: u16, token: &str, since: Instant) -> (Duration, Value) {
        loop {
            let response =
                cluster.http.get(cluster.direct(api, "/api/v1/users/me")).bearer_auth(token).send().await.unwrap();
            if response.status() == StatusCode::UNAUTHORIZED {
                return (since.elapsed(), response.json().await.unwrap());
            }
            assert!(since.elapsed() < Duration::from_secs(3), "api {api} still takes the token");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    async fn register_login_refresh(cluster: &Cluster) {
        cluster.register("dora").await;
        let tokens = cluster.login("dora").await;
        let refresh = json!({"refresh_token": tokens["refresh_token"]});
        let (renewed, _) = cluster.through(cluster.http.post(cluster.url("/api/v1/auth/refresh")).json(&refresh)).await;
        assert_eq!(renewed.status(), StatusCode::OK);
        let renewed: Value = renewed.json().await.unwrap();
        // The spent refresh token is refused whichever api gets it.
        let again = cluster.http.post(cluster.url("/api/v1/auth/refresh")).json(&refresh).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
        for (status, me) in cluster.get_twice(renewed["access_token"].as_str().unwrap(), "/api/v1/users/me").await {
            assert_eq!((status, me["username"].as_str()), (StatusCode::OK, Some("dora")));
        }
    }

    async fn post_get_delete(cluster: &Cluster, token: &str) {
        let (post, _) = cluster.post(token, "written once, read by both").await;
        let path = format!("/api/v1/posts/{}", post["id"].as_str().unwrap());
        for (status, read) in cluster.get_twice(token, &path).await {
            assert_eq!((status, &read["id"]), (StatusCode::OK, &post["id"]));
        }
        let (deleted, _) = cluster.through(cluster.http.delete(cluster.url(&path)).bearer_auth(token)).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        for (status, problem) in cluster.get_twice(token, &path).await {
            assert_eq!((status, problem["code"].as_str()), (StatusCode::NOT_FOUND, Some("post_not_found")));
        }
    }

    async fn follow_and_timeline(cluster: &Cluster, author: (&str, &str), follower: &str) {
        let path = format!("/api/v1/users/{}/follow", author.0);
        let (followed, _) = cluster.through(cluster.http.put(cluster.url(&path)).bearer_auth(follower)).await;
        assert_eq!(followed.status(), StatusCode::NO_CONTENT);
        let (post, _) = cluster.post(author.1, "for my followers").await;
        for (status, page) in cluster.get_twice(follower, "/api/v1/timeline").await {
            assert_eq!(status, StatusCode::OK);
            assert_eq!(ids(&page).first().copied(), post["id"].as_str(), "{page}");
        }
    }

    async fn search(cluster: &Cluster, token: &str) {
        let (post, _) = cluster.post(token, "a quokka crossed the balancer").await;
        for (status, page) in cluster.get_twice(token, "/api/v1/posts?q=quokka").await {
            assert_eq!(status, StatusCode::OK);
            assert_eq!(ids(&page), [post["id"].as_str().unwrap()], "{page}");
        }
    }

    async fn websocket_gets_posts_written_through_either_api(cluster: &Cluster, author: &str, follower: &str) {
        let before = cluster.log_lines();
        // Four sockets of one follower: nginx's workers each go round the notifiers, so at
        // least two land on different ones (checked below from the log).
        let mut sockets = Vec::new();
        for _ in 0..4 {
            sockets.push(cluster.socket(follower).await);
        }
        let mut writers = Vec::new();
        let mut slowest = Duration::ZERO;
        for n in 0..2 {
            let sent = Instant::now();
            let (post, api) = cluster.post(author, &format!("live {n}")).await;
            writers.push(api);
            for socket in &mut sockets {
                assert_eq!(Some(next_post(socket).await.as_str()), post["id"].as_str());
            }
            slowest = slowest.max(sent.elapsed());
        }
        assert_ne!(writers[0], writers[1], "the two posts went through one api");
        eprintln!("cluster: slowest POST -> delivery on 4 sockets: {} ms", slowest.as_millis());
        for mut socket in sockets {
            socket.close(None).await.unwrap();
        }
        // A WebSocket's line is logged when it closes.
        let mut notifiers = Vec::new();
        for _ in 0..200 {
            notifiers =
                cluster.served(before).into_iter().filter(|(r, _)| r.starts_with("GET /ws")).map(|(_, p)| p).collect();
            if notifiers.len() == 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        notifiers.sort_unstable();
        notifiers.dedup();
        assert_eq!(notifiers, cluster.notifiers, "the sockets were spread over both notifiers");
    }

    async fn logout_on_one_api_is_refused_on_the_other(cluster: &Cluster) {
        cluster.register("lou").await;
        let mut worst = Duration::ZERO;
        // Three times: one slow wake-up would be a fluke; a missing broker path (the 1 s poll
        // alone) would fail all three.
        for _ in 0..3 {
            let tokens = cluster.login("lou").await;
            let access = tokens["access_token"].as_str().unwrap();
            let body = json!({"refresh_token": tokens["refresh_token"]});
            let request = cluster.http.post(cluster.url("/api/v1/auth/logout")).bearer_auth(access).json(&body);
            let (response, api) = cluster.through(request).await;
            let done = Instant::now();
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
            let (took, problem) = refused_after(cluster, cluster.other_api(api), access, done).await;
            assert_eq!(problem["code"], "token_revoked");
            worst = worst.max(took);
            let refresh = cluster.http.post(cluster.direct(cluster.other_api(api), "/api/v1/auth/refresh"));
            assert_eq!(refresh.json(&body).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        }
        eprintln!("cluster: logout refused by the other api after {} ms at worst", worst.as_millis());
        assert!(worst <= REVOCATION_BOUND, "a logout took {worst:?} to reach the other api");
    }

    async fn deleted_users_token_is_revoked_on_the_other_api(cluster: &Cluster) {
        cluster.register("gone").await;
        let tokens = cluster.login("gone").await;
        let access = tokens["access_token"].as_str().unwrap();
        let (response, api) =
            cluster.through(cluster.http.delete(cluster.url("/api/v1/users/me")).bearer_auth(access)).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        // The very first request on the other api, before it may have heard of the deletion:
        // the account is gone, so the token is refused as revoked, never 404 user_not_found.
        let other = cluster.other_api(api);
        let first =
            cluster.http.get(cluster.direct(other, "/api/v1/users/me")).bearer_auth(access).send().await.unwrap();
        assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(first.json::<Value>().await.unwrap()["code"], "token_revoked");
        // Past the propagation window every route refuses it, on both apis.
        tokio::time::sleep(REVOCATION_BOUND).await;
        for (status, problem) in cluster.get_twice(access, "/api/v1/timeline").await {
            assert_eq!((status, problem["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("token_revoked")));
        }
    }

    async fn avatar_uploaded_through_one_api_is_served_by_both(cluster: &Cluster, token: &str) {
        let part = reqwest::multipart::Part::bytes(PNG.to_vec()).file_name("me.png").mime_str("image/png").unwrap();
        let form = reqwest::multipart::Form::new().part("file", part);
        let request = cluster.http.put(cluster.url("/api/v1/users/me/avatar")).bearer_auth(token).multipart(form);
        let (response, _) = cluster.through(request).await;
        assert_eq!(response.status(), StatusCode::OK);
        let user: Value = response.json().await.unwrap();
        let avatar = user["avatar_url"].as_str().unwrap();
        assert!(avatar.starts_with('/'), "{avatar}");
        for api in &cluster.apis {
            let image = cluster.http.get(cluster.direct(*api, avatar)).send().await.unwrap();
            assert_eq!(image.status(), StatusCode::OK, "api {api} serves {avatar}");
            assert_eq!(image.headers()["content-type"], "image/png");
        }
        let (first, first_api) = cluster.through(cluster.http.get(cluster.url(avatar))).await;
        let (second, second_api) = cluster.through(cluster.http.get(cluster.url(avatar))).await;
        assert_ne!(first_api, second_api);
        assert_eq!((first.status(), second.status()), (StatusCode::OK, StatusCode::OK));
    }

    #[tokio::test]
    async fn the_suite_through_nginx_in_front_of_two_apis_and_two_notifiers() {
        if !nginx_installed() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install nginx (.ci/run does): the cluster suite needs it"
            );
            eprintln!("cluster suite not run: nginx is not installed (apt-get install -y nginx)");
            return;
        }
        let cluster = Cluster::start();
        let check = |name: &str| eprintln!("cluster check passed: {name}");
        register_login_refresh(&cluster).await;
        check("register_login_refresh");
        cluster.register("ann").await;
        cluster.register("ben").await;
        let ann = cluster.login("ann").await;
        let ben = cluster.login("ben").await;
        let (ann_token, ben_token) = (ann["access_token"].as_str().unwrap(), ben["access_token"].as_str().unwrap());
        let ann_id = {
            let me = cluster.http.get(cluster.url("/api/v1/users/me")).bearer_auth(ann_token).send().await.unwrap();
            me.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
        };
        post_get_delete(&cluster, ann_token).await;
        check("post_get_delete");
        follow_and_timeline(&cluster, (&ann_id, ann_token), ben_token).await;
        check("follow_and_timeline");
        search(&cluster, ann_token).await;
        check("search");
        websocket_gets_posts_written_through_either_api(&cluster, ann_token, ben_token).await;
        check("websocket_gets_posts_written_through_either_api");
        logout_on_one_api_is_refused_on_the_other(&cluster).await;
        check("logout_on_one_api_is_refused_on_the_other");
        deleted_users_token_is_revoked_on_the_other_api(&cluster).await;
        check("deleted_users_token_is_revoked_on_the_other_api");
        avatar_uploaded_through_one_api_is_served_by_both(&cluster, ann_token).await;
        check("avatar_uploaded_through_one_api_is_served_by_both");
    }
}

#[cfg(not(served_tests))]
#[test]
fn cluster_suite_needs_test_database_url_and_test_amqp_url() {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must set TEST_DATABASE_URL and TEST_AMQP_URL: the cluster suite cannot be skipped"
    );
    eprintln!("cluster suite not run: TEST_DATABASE_URL and TEST_AMQP_URL are unset");
}
