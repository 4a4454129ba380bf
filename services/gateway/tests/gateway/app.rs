//! `spawn_app()`: fake backends and the gateway on port 0, a reqwest client,
//! and tokens signed the way clients' are.

use super::fakes::{FakeConversation, FakeRouter, FakeUsage};
use fluentedge_proto::conversation::v1::conversation_service_server::ConversationServiceServer;
use fluentedge_proto::router::v1::llm_router_server::LlmRouterServer;
use fluentedge_proto::router::v1::router_admin_server::RouterAdminServer;
use fluentedge_proto::usage::v1::usage_ledger_server::UsageLedgerServer;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use service_kit::auth::{Issuer, Need, Rule, grant};
use service_kit::grpc_server::{GrpcServer, Health};
use service_kit::{Env, ServerSettings};
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub const AUDIENCE: &str = "fluentedge";

/// The three fake backends, served over real gRPC.
pub struct Fakes {
    pub conversation: FakeConversation,
    pub router: FakeRouter,
    pub usage: FakeUsage,
    pub conversation_addr: SocketAddr,
    pub router_addr: SocketAddr,
    pub usage_addr: SocketAddr,
    pub health: Vec<Health>,
    stop: CancellationToken,
}

impl Drop for Fakes {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

const GATEWAY: Rule = &[grant(Issuer::Gateway, Need::Any)];

fn gateway_only(_method: &str) -> Option<Rule> {
    Some(GATEWAY)
}

async fn serve(
    name: &'static str,
    services: &[&'static str],
    add: impl FnOnce(&mut GrpcServer),
    stop: &CancellationToken,
) -> (SocketAddr, Health) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The gateway's calls are signed with the development key (installed
    // below); the fakes accept the gateway for every RPC they serve.
    service_kit::auth::install(service_kit::auth::development(Issuer::Gateway));
    let mut server = GrpcServer::new(name, ServerSettings::for_tests(), services).await;
    server.authorize(gateway_only);
    add(&mut server);
    let health = server.health();
    health.set_serving().await;
    let stop = stop.clone();
    tokio::spawn(async move {
        server
            .serve(listener, async move { stop.cancelled().await })
            .await
            .unwrap();
    });
    (addr, health)
}

pub async fn spawn_fakes() -> Fakes {
    let stop = CancellationToken::new();
    let conversation = FakeConversation::default();
    let router = FakeRouter::default();
    let usage = FakeUsage::default();
    let (conversation_addr, h1) = {
        let svc = conversation.clone();
        serve(
            "conversation",
            &["fluentedge.conversation.v1.ConversationService"],
            |s| {
                s.add_service(ConversationServiceServer::new(svc));
            },
            &stop,
        )
        .await
    };
    let (router_addr, h2) = {
        let (a, b) = (router.clone(), router.clone());
        serve(
            "llm-router",
            &[
                "fluentedge.router.v1.LlmRouter",
                "fluentedge.router.v1.RouterAdmin",
            ],
            |s| {
                s.add_service(LlmRouterServer::new(a));
                s.add_service(RouterAdminServer::new(b));
            },
            &stop,
        )
        .await
    };
    let (usage_addr, h3) = {
        let svc = usage.clone();
        serve(
            "usage-accounting",
            &["fluentedge.usage.v1.UsageLedger"],
            |s| {
                s.add_service(UsageLedgerServer::new(svc));
            },
            &stop,
        )
        .await
    };
    Fakes {
        conversation,
        router,
        usage,
        conversation_addr,
        router_addr,
        usage_addr,
        health: vec![h1, h2, h3],
        stop,
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub fakes: Fakes,
    stop: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// The gateway with `env` on top of the fakes' addresses.
pub async fn spawn_app_with(env: &[(&str, &str)]) -> TestApp {
    let fakes = spawn_fakes().await;
    spawn_gateway(fakes, env).await
}

pub async fn spawn_gateway(fakes: Fakes, env: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![
        (
            "CONVERSATION_ADDR".to_owned(),
            format!("http://{}", fakes.conversation_addr),
        ),
        (
            "ROUTER_ADDR".to_owned(),
            format!("http://{}", fakes.router_addr),
        ),
        (
            "USAGE_ADDR".to_owned(),
            format!("http://{}", fakes.usage_addr),
        ),
    ];
    vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let (addr, stop) = start_gateway(vars).await;
    TestApp {
        addr,
        http: test_support::http_client(),
        fakes,
        stop,
    }
}

/// `gateway::run` on port 0 with `vars`; cancel the token to stop it.
pub async fn start_gateway(vars: Vec<(String, String)>) -> (SocketAddr, CancellationToken) {
    // Development mode (the development secret), as `make run`; the gateway's
    // own calls are signed with the development key.
    let mut env = Env::from_pairs([("SHUTDOWN_GRACE_MS", "200"), ("FLUENTEDGE_DEV", "1")]);
    service_kit::auth::install(service_kit::auth::development(Issuer::Gateway));
    for (k, v) in vars {
        env.set(k, v);
    }
    let config = gateway::Config::from_env(&env).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let shutdown = {
        let stop = stop.clone();
        Box::pin(async move { stop.cancelled().await })
    };
    tokio::spawn(async move { gateway::run(config, listener, shutdown).await.unwrap() });
    (addr, stop)
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path))
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path))
    }

    /// The status of `GET path` with `token` as the bearer credential.
    pub async fn status_with(&self, token: &str, path: &str) -> u16 {
        let r = self.get(path).bearer_auth(token).send().await.unwrap();
        r.status().as_u16()
    }

    /// `GET` as learner `sub`.
    pub fn get_as(&self, sub: &str, path: &str) -> reqwest::RequestBuilder {
        self.get(path).bearer_auth(learner(sub))
    }

    /// `POST` of JSON `body` as learner `sub`.
    pub fn post_as(&self, sub: &str, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.post(path).bearer_auth(learner(sub)).json(&body)
    }
}

pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// An HS256 token signed with the development secret.
pub fn jwt(claims: Value) -> String {
    jwt_with(gateway::DEVELOPMENT_JWT_SECRET.as_bytes(), claims)
}

pub fn jwt_with(secret: &[u8], claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

pub fn learner(sub: &str) -> String {
    jwt(json!({"sub": sub, "aud": AUDIENCE, "exp": now() + 3600, "roles": ["learner"]}))
}

pub fn admin(sub: &str) -> String {
    jwt(json!({"sub": sub, "aud": AUDIENCE, "exp": now() + 3600, "roles": ["admin"]}))
}

/// The JSON body of a response, with its status.
pub async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, body)
}

/// Asserts the app error shape and returns the code.
pub fn app_error(body: &Value) -> &str {
    let e = &body["error"];
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        e["request_id"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    e["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code: {body}"))
}

/// Server-sent events of a body: (event name, data) pairs, comments skipped.
pub fn sse_events(body: &str) -> Vec<(Option<String>, String)> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .filter_map(|block| {
            let mut event = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
                }
            }
            (!data.is_empty()).then(|| (event, data.join("\n")))
        })
        .collect()
}
