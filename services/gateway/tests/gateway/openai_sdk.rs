//! The official `openai` Python package (from PyPI, in a venv under the
//! target dir, made once) against the gateway with fake backends.

use super::app::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const OPENAI: &str = "openai==3.51.0";
const PYTEST: &str = "pytest==8.4.2";

/// `<target>/openai-sdk-venv`, created and filled once; fails the test (never
/// skips it) when Python, venv or pip cannot do it.
fn sdk_venv() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> → target
    let target = exe.ancestors().nth(3).unwrap();
    let venv = target.join("openai-sdk-venv");
    let marker = venv.join(format!(".installed-{OPENAI}-{PYTEST}"));
    if marker.exists() {
        return venv;
    }
    let run = |cmd: &mut Command, what: &str| {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
        assert!(
            out.status.success(),
            "{what} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
        "python3 -m venv",
    );
    run(
        Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            OPENAI,
            PYTEST,
        ]),
        "pip install openai pytest",
    );
    std::fs::write(&marker, b"").unwrap();
    venv
}

fn test_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openai_sdk/test_sdk.py")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_sdk_works_against_the_gateway() {
    let venv = tokio::task::spawn_blocking(sdk_venv).await.unwrap();
    let app = spawn_app().await;
    let out = tokio::process::Command::new(venv.join("bin/python"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(test_file())
        .env("OPENAI_BASE_URL", app.url("/v1"))
        .env("OPENAI_API_KEY", learner("sdk-user"))
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env_remove("OPENAI_ORG_ID")
        .env_remove("OPENAI_PROJECT_ID")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pytest failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("13 passed"), "{stdout}");
    // The budget 429 was not retried (x-should-retry: false).
    let completes = app
        .fakes
        .router
        .seen
        .all()
        .iter()
        .filter(|s| s.rpc == "Complete")
        .count();
    assert_eq!(
        completes, 5,
        "chat, budget (not retried), all-down, the tool call and its answer; none for the bad requests"
    );
}
