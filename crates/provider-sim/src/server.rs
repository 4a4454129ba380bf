//! The accept loop: TCP_NODELAY on every socket, HTTP/1.1 and h2c via hyper-util, and a
//! bounded drain on shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Serve `app` on `listener` until `stop` is cancelled, then let open connections finish for at
/// most `drain` (zero: close them at once) before dropping them.
pub(crate) async fn run(
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
    drain: Duration,
) {
    let tracker = TaskTracker::new();
    let kill = CancellationToken::new();
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    loop {
        let stream = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "set_nodelay failed");
        }
        let app = app.clone();
        let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            app.clone().oneshot(req)
        });
        let builder = Arc::clone(&builder);
        let stop = stop.clone();
        let kill = kill.clone();
        tracker.spawn(async move {
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                () = kill.cancelled() => return,
                () = stop.cancelled() => {}
            }
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                _ = conn => {}
                () = kill.cancelled() => {}
            }
        });
    }
    drop(listener);
    tracker.close();
    if drain.is_zero() || tokio::time::timeout(drain, tracker.wait()).await.is_err() {
        kill.cancel();
    }
    tracker.wait().await;
}
