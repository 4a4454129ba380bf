//! The trust boundary inside the cluster, over the real binaries with
//! production keys (no development mode): every internal RPC refuses a call
//! without a service token, with a token for the wrong service or role, and
//! with a learner's token for another learner's data; the right token works.
//! Operators use grpcurl with one `-H authorization:` flag.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use service_kit::auth::keys::PrivateKey;
use service_kit::auth::{Issuer, Role, Signer};
use std::path::{Path, PathBuf};
use std::time::Duration;
use test_support::{ChildProcess, binary_path};

type EnvPairs = Vec<(&'static str, String)>;

/// Keys for every issuer, written by `gateway keys` as an operator would.
struct Keys {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Keys {
    fn generate() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("keys");
        let status = std::process::Command::new(binary_path("gateway"))
            .args(["keys", "--out"])
            .arg(&root)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        Keys { _dir: dir, root }
    }

    fn private(&self, issuer: Issuer) -> PathBuf {
        self.root.join("private").join(format!("{issuer}.pem"))
    }

    fn trust(&self) -> String {
        self.root.join("trust").display().to_string()
    }

    /// A token signed by `issuer`'s key for `subject` in `role`.
    fn token(&self, issuer: Issuer, subject: Option<&str>, role: Role) -> String {
        let key = PrivateKey::from_file(&self.private(issuer)).unwrap();
        Signer::new(issuer, key, Duration::from_secs(60))
            .token(subject, role)
            .unwrap()
    }

    /// The environment of a service signing as `issuer` (production mode).
    fn env(&self, issuer: Option<Issuer>) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("FLUENTEDGE_DEV", "0".to_owned()),
            ("SERVICE_AUTH_TRUST_DIR", self.trust()),
        ];
        if let Some(issuer) = issuer {
            env.push((
                "SERVICE_AUTH_KEY_FILE",
                self.private(issuer).display().to_string(),
            ));
        }
        env
    }
}

/// grpcurl's outcome: `Ok(stdout)` or `Err(the error text with its code)`.
async fn call(addr: &str, token: Option<&str>, method: &str, body: &str) -> Result<String, String> {
    let mut cmd = test_support::grpcurl();
    cmd.arg("-plaintext");
    let header;
    if let Some(t) = token {
        header = format!("authorization: Bearer {t}");
        cmd.args(["-H", &header]);
    }
    let out = cmd.args(["-d", body, addr, method]).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!("{stdout}{stderr}"))
    }
}

#[track_caller]
fn refused(result: &Result<String, String>, code: &str) {
    match result {
        Err(e) => assert!(e.contains(&format!("Code: {code}")), "expected {code}: {e}"),
        Ok(out) => panic!("expected {code}, the call succeeded: {out}"),
    }
}

async fn start(
    bin: &str,
    listen_var: &str,
    mut env: Vec<(&'static str, String)>,
) -> (ChildProcess, String) {
    env.push((listen_var, "127.0.0.1:0".into()));
    let child = ChildProcess::spawn(bin, &env);
    let addr = child.bound_addr().await.to_string();
    (child, addr)
}

async fn wait_serving(addr: &str) {
    for _ in 0..200 {
        if let Ok(out) = call(addr, None, "grpc.health.v1.Health/Check", "{}").await
            && out.contains("\"SERVING\"")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{addr} never became SERVING");
}

fn sqlite_env(dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        (
            "CONVERSATION_SQLITE_PATH",
            dir.join("conversation.db").display().to_string(),
        ),
        (
            "USAGE_SQLITE_PATH",
            dir.join("usage.db").display().to_string(),
        ),
        (
            "USAGE_OUTBOX_PATH",
            dir.join("outbox.db").display().to_string(),
        ),
    ]
}

#[tokio::test]
async fn every_internal_rpc_checks_who_calls_and_for_whom() {
    let keys = Keys::generate();
    let data = tempfile::tempdir().unwrap();
    let with = |issuer| {
        let mut env = keys.env(issuer);
        env.extend(sqlite_env(data.path()));
        env
    };
    let (_usage, usage) = start("usage-accounting", "USAGE_LISTEN_ADDR", with(None)).await;
    let mut router_env = with(Some(Issuer::Router));
    router_env.push(("USAGE_ADDR", format!("http://{usage}")));
    let (_router, router) = start("llm-router", "ROUTER_LISTEN_ADDR", router_env).await;
    let mut conv_env = with(Some(Issuer::Conversation));
    conv_env.push(("ROUTER_ADDR", format!("http://{router}")));
    let (_conv, conv) = start("conversation", "CONVERSATION_LISTEN_ADDR", conv_env).await;
    for addr in [&usage, &router, &conv] {
        wait_serving(addr).await;
    }

    let alice = keys.token(Issuer::Gateway, Some("alice"), Role::User);
    let bob = keys.token(Issuer::Gateway, Some("bob"), Role::User);
    let gateway_admin = keys.token(Issuer::Gateway, Some("root"), Role::Admin);
    let operator = keys.token(Issuer::Operator, Some("ops"), Role::Admin);
    let router_own = keys.token(Issuer::Router, None, Role::Service);
    // Conversation's key signing as the router: refused (keys are bound to issuers).
    let forged = Signer::new(
        Issuer::Router,
        PrivateKey::from_file(&keys.private(Issuer::Conversation)).unwrap(),
        Duration::from_secs(60),
    )
    .token(None, Role::Service)
    .unwrap();
    // The public development key is worthless against production keys.
    let dev = service_kit::auth::development_signer(Issuer::Operator)
        .token(Some("ops"), Role::Admin)
        .unwrap();

    // conversation: only the gateway (or an operator) for a person, scoped to that person.
    let list = "fluentedge.conversation.v1.ConversationService/ListSessions";
    refused(&call(&conv, None, list, "{}").await, "Unauthenticated");
    refused(
        &call(&conv, Some(&dev), list, "{}").await,
        "Unauthenticated",
    );
    refused(
        &call(&conv, Some(&router_own), list, "{}").await,
        "PermissionDenied",
    );
    let created = call(
        &conv,
        Some(&alice),
        "fluentedge.conversation.v1.ConversationService/CreateSession",
        r#"{"scenario_id":"restaurant_order","level":"CEFR_LEVEL_B1"}"#,
    )
    .await
    .unwrap();
    let session: serde_json::Value = serde_json::from_str(&created).unwrap();
    let id = session["id"].as_str().unwrap();
    let get = "fluentedge.conversation.v1.ConversationService/GetSession";
    let body = format!(r#"{{"session_id":"{id}"}}"#);
    assert!(call(&conv, Some(&alice), get, &body).await.is_ok());
    refused(&call(&conv, Some(&bob), get, &body).await, "NotFound");
    // The old header that named the learner is ignored: no token, no call.
    let mut cmd = test_support::grpcurl();
    let out = cmd
        .args([
            "-plaintext",
            "-H",
            "x-fluentedge-subject: alice",
            "-d",
            &body,
            &conv,
            get,
        ])
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unauthenticated"));

    // llm-router admin: administrators only; the audit names the verified caller.
    let reset = "fluentedge.router.v1.RouterAdmin/ResetBudget";
    let pin = "fluentedge.router.v1.RouterAdmin/SetProviderOverride";
    for method in [reset, pin] {
        refused(&call(&router, None, method, "{}").await, "Unauthenticated");
        refused(
            &call(&router, Some(&alice), method, "{}").await,
            "PermissionDenied",
        );
        refused(
            &call(&router, Some(&router_own), method, "{}").await,
            "PermissionDenied",
        );
    }
    assert!(
        call(&router, Some(&operator), reset, r#"{"reason":"test"}"#)
            .await
            .is_ok()
    );
    assert!(
        call(
            &router,
            Some(&gateway_admin),
            "fluentedge.router.v1.RouterAdmin/GetBudget",
            "{}"
        )
        .await
        .is_ok()
    );
    refused(
        &call(
            &router,
            Some(&operator),
            reset,
            &format!(r#"{{"reason":"{}"}}"#, "x".repeat(501)),
        )
        .await,
        "InvalidArgument",
    );

    // usage-accounting: only the router writes; reports for administrators.
    let record = "fluentedge.usage.v1.UsageLedger/RecordUsage";
    let row = r#"{"record":{"call_id":"trust-1","request_id":"trust-request-1","created_at":"2026-12-01T00:00:00Z","provider":"azure","model":"m","input_tokens":1,"output_tokens":1,"cost_micro_usd":5,"price_version":"v1","user_id":"alice","outcome":"OUTCOME_SUCCESS","operation":"chat"}}"#;
    refused(&call(&usage, None, record, row).await, "Unauthenticated");
    refused(
        &call(&usage, Some(&gateway_admin), record, row).await,
        "PermissionDenied",
    );
    refused(
        &call(&usage, Some(&operator), record, row).await,
        "PermissionDenied",
    );
    refused(
        &call(&usage, Some(&forged), record, row).await,
        "Unauthenticated",
    );
    let written = call(&usage, Some(&router_own), record, row).await.unwrap();
    assert!(written.contains("CREATED"), "{written}");
    let list_usage = "fluentedge.usage.v1.UsageLedger/ListUsage";
    refused(
        &call(&usage, Some(&alice), list_usage, "{}").await,
        "PermissionDenied",
    );
    refused(
        &call(&usage, Some(&router_own), list_usage, "{}").await,
        "PermissionDenied",
    );
    let listed = call(&usage, Some(&operator), list_usage, "{}")
        .await
        .unwrap();
    assert!(listed.contains("trust-1"), "{listed}");
}

#[tokio::test]
async fn missing_keys_and_open_secrets_stop_the_process_with_78() {
    let keys = Keys::generate();
    let data = tempfile::tempdir().unwrap();
    let mut cases: Vec<(&str, EnvPairs, &str)> = vec![
        (
            "llm-router",
            vec![
                ("FLUENTEDGE_DEV", "0".into()),
                ("ROUTER_LISTEN_ADDR", "127.0.0.1:0".into()),
            ],
            "SERVICE_AUTH_KEY_FILE",
        ),
        (
            "conversation",
            vec![
                ("FLUENTEDGE_DEV", "0".into()),
                ("CONVERSATION_LISTEN_ADDR", "127.0.0.1:0".into()),
            ],
            "SERVICE_AUTH_KEY_FILE",
        ),
        (
            "usage-accounting",
            vec![
                ("FLUENTEDGE_DEV", "0".into()),
                ("USAGE_LISTEN_ADDR", "127.0.0.1:0".into()),
            ],
            "SERVICE_AUTH_TRUST_DIR",
        ),
        (
            "llm-router",
            vec![
                ("FLUENTEDGE_DEV", "0".into()),
                ("SERVICE_AUTH_TRUST_DIR", keys.trust()),
                ("SERVICE_AUTH_KEY_FILE", "/nonexistent/key.pem".into()),
            ],
            "SERVICE_AUTH_KEY_FILE",
        ),
        (
            "gateway",
            [
                keys.env(Some(Issuer::Gateway)),
                vec![("AUTH_JWT_SECRET", "".into())],
            ]
            .concat(),
            "AUTH_JWT_SECRET",
        ),
        (
            "gateway",
            [
                keys.env(Some(Issuer::Gateway)),
                vec![("AUTH_JWT_SECRET", "short".into())],
            ]
            .concat(),
            "AUTH_JWT_SECRET",
        ),
        (
            "gateway",
            keys.env(Some(Issuer::Gateway)),
            "AUTH_JWT_SECRET",
        ),
        (
            "gateway",
            [
                keys.env(Some(Issuer::Gateway)),
                vec![("AUTH_JWT_SECRET", gateway::DEVELOPMENT_JWT_SECRET.into())],
            ]
            .concat(),
            "AUTH_JWT_SECRET",
        ),
        // Development mode never listens beyond loopback.
        (
            "gateway",
            vec![
                ("FLUENTEDGE_DEV", "1".into()),
                ("GATEWAY_LISTEN_ADDR", "0.0.0.0:0".into()),
            ],
            "GATEWAY_LISTEN_ADDR",
        ),
    ];
    // A typo in a level or a backend address stops the process too, rather
    // than muting every log or failing every call later.
    let dev = || vec![("FLUENTEDGE_DEV", "1".to_owned())];
    for (bin, var, value) in [
        ("gateway", "LOG_LEVEL", "verbose"),
        ("llm-router", "LOG_LEVEL", "INFOO"),
        ("gateway", "CONVERSATION_ADDR", "http://[::1"),
        ("gateway", "ROUTER_ADDR", "not an address"),
        ("gateway", "USAGE_ADDR", "ftp://usage:50053"),
        ("conversation", "ROUTER_ADDR", "http://router:50052/v1"),
        ("llm-router", "USAGE_ADDR", ","),
    ] {
        let mut env = dev();
        env.push((var, value.to_owned()));
        cases.push((bin, env, var));
    }
    for (bin, mut env, var) in cases {
        env.extend(sqlite_env(data.path()));
        let mut child = ChildProcess::spawn(bin, &env);
        let code = child.wait_exit(Duration::from_secs(20)).await;
        let logs = child.logs().join("\n");
        assert_eq!(code, Some(78), "{bin} with {env:?}: {logs}");
        assert!(logs.contains(var), "{bin} must name {var}: {logs}");
    }
}
