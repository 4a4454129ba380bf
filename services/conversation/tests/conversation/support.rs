//! `spawn_app`: the service on port 0 over a fresh database, and request helpers.

use crate::fake_router::FakeRouter;
use conversation::Config;
use fluentedge_proto::conversation::v1 as pb;
use pb::conversation_service_client::ConversationServiceClient;
use service_kit::{Env, ServerSettings};
use std::net::SocketAddr;
use std::time::Duration;
use test_support::TestDb;
use tokio::sync::oneshot;
use tonic::transport::Channel;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A fresh database of either kind, kept alive as long as the value.
pub enum Db {
    Postgres(TestDb),
    Sqlite(tempfile::TempDir),
}

impl Db {
    pub async fn create(backend: Backend) -> Db {
        match backend {
            Backend::Postgres => Db::Postgres(TestDb::create().await),
            Backend::Sqlite => Db::Sqlite(tempfile::tempdir().unwrap()),
        }
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Db::Postgres(db) => vec![("DATABASE_URL", db.url.clone())],
            Db::Sqlite(dir) => vec![(
                "CONVERSATION_SQLITE_PATH",
                dir.path()
                    .join("nested/conversation.db")
                    .display()
                    .to_string(),
            )],
        }
    }
}

pub struct App {
    pub addr: SocketAddr,
    _db: Db,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Starts the service against `router_addr` with extra `env`, and waits
/// until its health says SERVING (the database is migrated).
pub async fn spawn_app(backend: Backend, router_addr: &str, env: &[(&str, &str)]) -> App {
    let db = Db::create(backend).await;
    let app = spawn_on(db, router_addr, env).await;
    app.wait_serving().await;
    app
}

/// Starts the service without waiting for readiness.
pub async fn spawn_on(db: Db, router_addr: &str, env: &[(&str, &str)]) -> App {
    let mut pairs: Vec<(String, String)> = db
        .env()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    pairs.push(("ROUTER_ADDR".into(), router_addr.to_owned()));
    pairs.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let mut config = Config::from_env(&Env::from_pairs(pairs)).unwrap();
    // Conversation's own calls (to the router) are signed with the development key.
    service_kit::auth::install(service_kit::auth::development(
        service_kit::auth::Issuer::Conversation,
    ));
    config.server = ServerSettings::for_tests();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        conversation::run(
            config,
            listener,
            Box::pin(async move {
                let _ = stopped.await;
            }),
        )
        .await
        .unwrap();
    });
    App {
        addr,
        _db: db,
        stop: Some(stop),
        task: Some(task),
    }
}

impl App {
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub async fn client(&self) -> ConversationServiceClient<Channel> {
        ConversationServiceClient::new(self.channel().await)
    }

    pub async fn health(&self) -> i32 {
        let mut h = tonic_health::pb::health_client::HealthClient::new(self.channel().await);
        h.check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|r| r.into_inner().status)
        .unwrap_or(-1)
    }

    pub async fn wait_serving(&self) {
        let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
        for _ in 0..500 {
            if self.health().await == serving {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the conversation service never became SERVING");
    }

    /// Stops the service and waits for its drain.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .unwrap()
                .unwrap();
        }
    }
}

pub const ALICE: &str = "learner-alice";
pub const BOB: &str = "learner-bob";

/// The service against a fresh fake router.
pub async fn setup(
    backend: Backend,
    env: &[(&str, &str)],
) -> (App, FakeRouter, ConversationServiceClient<Channel>) {
    let router = FakeRouter::spawn().await;
    let app = spawn_app(backend, &router.url(), env).await;
    let client = app.client().await;
    (app, router, client)
}

/// The `x-error-reason` of a failed call.
pub fn reason(status: &tonic::Status) -> &str {
    status
        .metadata()
        .get("x-error-reason")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A request the gateway makes for `subject`: a development-key service token
/// naming the learner.
pub fn as_<T>(subject: &str, message: T) -> tonic::Request<T> {
    let token = service_kit::auth::development_signer(service_kit::auth::Issuer::Gateway)
        .token(Some(subject), service_kit::auth::Role::User)
        .unwrap();
    let mut r = tonic::Request::new(message);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

pub async fn create_session(
    client: &mut ConversationServiceClient<Channel>,
    subject: &str,
    scenario: &str,
) -> pb::Session {
    client
        .create_session(as_(
            subject,
            pb::CreateSessionRequest {
                scenario_id: scenario.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

pub fn send(session: &str, content: &str, client_id: &str) -> pb::SendMessageRequest {
    pb::SendMessageRequest {
        session_id: session.into(),
        content: content.into(),
        client_message_id: client_id.into(),
    }
}

/// Every message of a session, following page tokens.
pub async fn all_messages(
    client: &mut ConversationServiceClient<Channel>,
    subject: &str,
    session: &str,
) -> Vec<pb::Message> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_messages(as_(
                subject,
                pb::ListMessagesRequest {
                    session_id: session.into(),
                    page_size: 200,
                    page_token: token,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        out.extend(page.messages);
        if page.next_page_token.is_empty() {
            return out;
        }
        token = page.next_page_token;
    }
}

/// A streamed exchange collected: the accepted message, the deltas, the terminal frame.
#[derive(Debug, Default)]
pub struct Streamed {
    pub accepted: Option<pb::Message>,
    pub deltas: Vec<String>,
    pub completed: Option<pb::Message>,
    pub error: Option<pb::StreamError>,
    /// Frames after the terminal one (must be none).
    pub after_terminal: usize,
}

pub async fn collect_stream(
    client: &mut ConversationServiceClient<Channel>,
    subject: &str,
    request: pb::SendMessageRequest,
) -> Result<Streamed, tonic::Status> {
    use pb::stream_message_response::Frame;
    let mut stream = client
        .stream_message(as_(subject, request))
        .await?
        .into_inner();
    let mut out = Streamed::default();
    while let Some(frame) = stream.message().await? {
        if out.completed.is_some() || out.error.is_some() {
            out.after_terminal += 1;
            continue;
        }
        match frame.frame.unwrap() {
            Frame::Accepted(m) => out.accepted = Some(m),
            Frame::Delta(d) => out.deltas.push(d),
            Frame::Completed(m) => out.completed = Some(m),
            Frame::Error(e) => out.error = Some(e),
        }
    }
    Ok(out)
}

/// Polls `f` until it returns `Some`, for at most 10 s.
pub async fn eventually<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..500 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition not met within 10 s");
}

/// Declares `async fn $name(backend: Backend)` tests once for each database.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::support::Backend::Postgres).await
                }
            )*
        }
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::support::Backend::Sqlite).await
                }
            )*
        }
    };
}
pub(crate) use on_both_databases;
