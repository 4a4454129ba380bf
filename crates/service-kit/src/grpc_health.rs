//! `grpc.health.v1.Health` as the health protocol and a rolling deploy need
//! it, over tonic-health's reporter:
//!
//! - `Watch` streams end when the server starts draining. An open `Watch`
//!   (a load balancer or a sidecar watching) is a call in flight; left open,
//!   it would hold a SIGTERM'd process for the whole grace period.
//! - `Watch` on an unknown service answers `SERVICE_UNKNOWN` and keeps the
//!   stream open (until draining), as the protocol says, instead of failing
//!   the call with NOT_FOUND. `Check` on an unknown service stays NOT_FOUND.

use futures::{Stream, StreamExt};
use std::pin::Pin;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_health::server::{HealthReporter, HealthService};

pub(crate) struct DrainingHealth {
    inner: HealthService,
    draining: CancellationToken,
}

pub(crate) fn server(
    reporter: &HealthReporter,
    draining: CancellationToken,
) -> HealthServer<DrainingHealth> {
    HealthServer::new(DrainingHealth {
        inner: HealthService::from_health_reporter(reporter.clone()),
        draining,
    })
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for DrainingHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.inner.check(request).await
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let (statuses, known): (WatchStream, bool) = match self.inner.watch(request).await {
            Ok(stream) => (Box::pin(stream.into_inner()), true),
            Err(status) if status.code() == tonic::Code::NotFound => {
                let unknown = reply(ServingStatus::ServiceUnknown);
                let stream = futures::stream::once(async move { Ok(unknown) })
                    .chain(futures::stream::pending());
                (Box::pin(stream), false)
            }
            Err(status) => return Err(status),
        };
        let draining = self.draining.clone();
        // Draining flips every status to NOT_SERVING just before it cancels,
        // and the end of the stream may win that race: a known service's
        // stream always ends on NOT_SERVING (sent once, not repeated).
        let last_word = known.then(|| Ok(reply(ServingStatus::NotServing)));
        let mut previous = None;
        let stream = statuses
            .take_until(async move { draining.cancelled().await })
            .chain(futures::stream::iter(last_word))
            .filter(move |item| {
                let status = item.as_ref().ok().map(|r| r.status);
                let repeated = status.is_some() && status == previous;
                previous = status.or(previous);
                std::future::ready(!repeated)
            });
        Ok(Response::new(Box::pin(stream)))
    }
}

fn reply(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}
