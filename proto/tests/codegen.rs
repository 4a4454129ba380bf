//! The generated code is checked in so that building FluentEdge needs no `protoc`.
//! This test regenerates it from `fluentedge/**/*.proto` and fails on any difference,
//! with the `protoc` of the `protoc-bin-vendored` crate (no system protoc needed; the
//! same version on every machine, so the output is the same everywhere).
//! After editing a `.proto`, run `make proto` (or `PROTO_BLESS=1 cargo test -p fluentedge-proto`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

const PROTOS: &[&str] = &[
    "fluentedge/conversation/v1/conversation.proto",
    "fluentedge/router/v1/router.proto",
    "fluentedge/usage/v1/usage.proto",
];

fn generate(out_dir: &Path) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let protos: Vec<PathBuf> = PROTOS.iter().map(|p| root.join(p)).collect();
    let protoc =
        protoc_bin_vendored::protoc_bin_path().expect("protoc-bin-vendored has this platform");
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // RPCs a service does not implement yet answer UNIMPLEMENTED.
        .generate_default_stubs(true)
        .emit_rerun_if_changed(false)
        .out_dir(out_dir)
        .file_descriptor_set_path(out_dir.join("fluentedge_descriptor.bin"))
        .compile_with_config(config, &protos, &[root])
        .expect("the .proto files compile");
}

#[test]
fn generated_code_is_up_to_date() {
    let checked_in = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/gen");
    let fresh = tempfile::tempdir().unwrap();
    generate(fresh.path());

    let bless = std::env::var_os("PROTO_BLESS").is_some();
    let mut stale = Vec::new();
    for entry in std::fs::read_dir(fresh.path()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let new = std::fs::read(entry.path()).unwrap();
        let old = std::fs::read(checked_in.join(&name)).unwrap_or_default();
        if new != old {
            if bless {
                std::fs::write(checked_in.join(&name), &new).unwrap();
            } else {
                stale.push(name.to_string_lossy().into_owned());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "generated code is stale: {stale:?}; run `make proto` and commit proto/src/gen"
    );
}
