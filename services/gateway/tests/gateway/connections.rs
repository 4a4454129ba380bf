//! Connection limits: a client that sends its headers slowly (slowloris) or
//! goes silent is disconnected; time is paused, so the limits are exact.

use super::app::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Reads until the server closes the connection; what it sent, and when.
async fn read_until_closed(mut read: tokio::net::tcp::OwnedReadHalf) -> (String, Instant) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match read.read(&mut buf).await {
            Ok(0) | Err(_) => return (String::from_utf8_lossy(&seen).into_owned(), Instant::now()),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_client_sending_headers_slowly_is_disconnected_at_the_header_read_timeout() {
    let app = spawn_app_with(&[("GATEWAY_HEADER_READ_TIMEOUT_MS", "2000")]).await;
    let start = Instant::now();
    let (read, mut write) = TcpStream::connect(app.addr).await.unwrap().into_split();
    let closed = tokio::spawn(read_until_closed(read));
    write
        .write_all(b"GET /health HTTP/1.1\r\nHost: gateway\r\n")
        .await
        .unwrap();
    // One header line every 500 ms, never the blank line that ends them.
    let mut sent = 0;
    while !closed.is_finished() && sent < 20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if write
            .write_all(format!("X-Slow-{sent}: 1\r\n").as_bytes())
            .await
            .is_err()
        {
            break;
        }
        sent += 1;
    }
    let (response, at) = closed.await.unwrap();
    let after = at - start;
    assert!(
        after >= Duration::from_millis(2000) && after < Duration::from_millis(2600),
        "closed after {after:?}"
    );
    assert!(!response.contains("200 OK"), "{response}");

    // A client that sends its request in time is served on a connection like it.
    let (read, mut write) = TcpStream::connect(app.addr).await.unwrap().into_split();
    write
        .write_all(b"GET /health HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (response, _) = read_until_closed(read).await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
}

#[tokio::test(start_paused = true)]
async fn a_silent_connection_is_closed_at_the_idle_timeout() {
    let app = spawn_app_with(&[
        ("GATEWAY_HEADER_READ_TIMEOUT_MS", "600000"),
        ("GATEWAY_REQUEST_TIMEOUT_MS", "1000"),
        ("GATEWAY_IDLE_TIMEOUT_MS", "3000"),
    ])
    .await;
    let (read, mut write) = TcpStream::connect(app.addr).await.unwrap().into_split();
    let closed = tokio::spawn(read_until_closed(read));
    write
        .write_all(b"GET /health HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .await
        .unwrap();
    let answered = Instant::now();
    // Keep-alive: the connection stays open after the response, until idle.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!closed.is_finished(), "closed before the idle timeout");
    let (response, at) = closed.await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    let idle = at - answered;
    assert!(
        idle >= Duration::from_millis(3000) && idle < Duration::from_millis(3500),
        "closed after {idle:?} idle"
    );
}

#[test]
fn the_idle_timeout_must_exceed_the_request_timeout() {
    let env = service_kit::Env::from_pairs([
        ("FLUENTEDGE_DEV", "1"),
        ("GATEWAY_REQUEST_TIMEOUT_MS", "5000"),
        ("GATEWAY_IDLE_TIMEOUT_MS", "5000"),
    ]);
    assert_eq!(
        gateway::Config::from_env(&env).unwrap_err().var,
        "GATEWAY_IDLE_TIMEOUT_MS"
    );
}
