//! `make run` (`scripts/run-suite.sh`) as a developer meets it: it prints the
//! addresses the services really bound and hands over the tokens; a service
//! that cannot start stops the whole suite, non-zero, naming the service.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A loopback address free a moment ago.
fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

struct Run {
    child: Child,
    output: PathBuf,
}

impl Run {
    /// The script on fresh ports and files under `dir`; `gateway` is the
    /// gateway's listen address.
    fn start(dir: &Path, gateway: &str) -> Run {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let bins = test_support::binary_path("gateway")
            .parent()
            .unwrap()
            .to_path_buf();
        let (conversation, router, usage) = (free_addr(), free_addr(), free_addr());
        let sim_port = free_addr().rsplit(':').next().unwrap().to_owned();
        let output = dir.join("make-run.out");
        let out = std::fs::File::create(&output).unwrap();
        let child = Command::new("bash")
            .arg(repo.join("scripts/run-suite.sh"))
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env("FLUENTEDGE_BIN_DIR", bins)
            .env("RUN_WEB", "0")
            .env("RUN_DATA_DIR", dir.join("run"))
            .env("METRICS_ADDR", "off")
            .env("SIM_PORT", sim_port)
            .env("GATEWAY_LISTEN_ADDR", gateway)
            .env("CONVERSATION_LISTEN_ADDR", &conversation)
            .env("CONVERSATION_ADDR", &conversation)
            .env("ROUTER_LISTEN_ADDR", &router)
            .env("ROUTER_ADDR", &router)
            .env("USAGE_LISTEN_ADDR", &usage)
            .env("USAGE_ADDR", &usage)
            .env("CONVERSATION_SQLITE_PATH", dir.join("conversation.db"))
            .env("USAGE_SQLITE_PATH", dir.join("usage.db"))
            .env("USAGE_OUTBOX_PATH", dir.join("outbox.db"))
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap();
        Run { child, output }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// Polls until the output contains `text` or the script exits.
    fn wait_for(&mut self, text: &str) -> Option<ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.output().contains(text) {
                return None;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "neither {text:?} nor an exit within 60 s:\n{}",
            self.output()
        );
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("make run did not exit:\n{}", self.output());
    }
}

#[test]
fn make_run_prints_the_bound_addresses_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = free_addr();
    let mut run = Run::start(dir.path(), &gateway);
    let exited = run.wait_for("Press Ctrl-C to stop.");
    let output = run.output();
    assert!(exited.is_none(), "{exited:?}:\n{output}");
    assert!(
        output.contains(&format!("gateway (HTTP)        http://{gateway}")),
        "{output}"
    );
    assert!(output.contains("source "), "{output}");
    let tokens = std::fs::read_to_string(dir.path().join("run/tokens.env")).unwrap();
    assert!(tokens.contains("export LEARNER=ey"), "{tokens}");
    assert!(tokens.contains("export ADMIN=ey"), "{tokens}");
    // The address printed is the one served.
    assert!(std::net::TcpStream::connect(&gateway).is_ok(), "{output}");
    let pid = run.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = run.wait_exit();
    assert!(status.success(), "{status:?}:\n{}", run.output());
}

#[test]
fn a_service_that_cannot_start_stops_make_run_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // The gateway's port is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gateway = taken.local_addr().unwrap().to_string();
    let mut run = Run::start(dir.path(), &gateway);
    let status = run.wait_exit();
    let output = run.output();
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        output.contains("make run: gateway failed to start"),
        "{output}"
    );
    assert!(!output.contains("FluentEdge is running"), "{output}");
}
