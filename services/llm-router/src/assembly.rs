//! Start-up: the router's parts built from its config in dependency order
//! (state stores, the usage ledger client, the budget, usage delivery,
//! breakers, the engine, the admin service), and their orderly shutdown.

use std::sync::Arc;
use std::time::Duration;

use fluentedge_proto::router::v1::llm_router_server::LlmRouterServer;
use fluentedge_proto::router::v1::router_admin_server::RouterAdminServer;
use service_kit::bootstrap::BoxError;
use service_kit::grpc_server::{GrpcServer, Health};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::grpc::RouterAdminApi;
use crate::admin::{self, AdminService, PinStore, ProviderOverride, RedisPinStore};
use crate::api::RouterApi;
use crate::budget::{
    BudgetBreaker, BudgetStore, MemoryBudgetStore, RedisBudgetStore, StoreTtls, watch_readiness,
    watch_reclaims,
};
use crate::clients::UsageLedgerClient;
use crate::clock;
use crate::config::Config;
use crate::delivery::{Outbox, RedisStreamOutbox, SqliteOutbox, UsageDelivery};
use crate::engine::{self, Accounting, Engine, Resilience};
use crate::redis::{self, RedisHandle};
use crate::resilience::{Breakers, RetryBudgets};

/// How long start-up waits for a first Redis connection before going on
/// (readiness then reports the outage).
const REDIS_FIRST_CONNECT: Duration = Duration::from_secs(2);

/// Where the budget, the usage outbox and the runtime pin live.
struct State {
    store: Arc<dyn BudgetStore>,
    outbox: Arc<dyn Outbox>,
    /// Shared by the replicas (Redis); `None`: this process's own.
    pin_store: Option<Arc<dyn PinStore>>,
    redis: Option<RedisHandle>,
}

/// A router's long-lived parts.
pub struct Router {
    engine: Arc<Engine>,
    admin: Arc<AdminService>,
    budget: Arc<BudgetBreaker>,
    accounting: Arc<Accounting>,
    pinned: Arc<ProviderOverride>,
    pin_store: Option<Arc<dyn PinStore>>,
    readiness_interval: Duration,
    redis: Option<RedisHandle>,
}

impl Router {
    /// `tasks`: where long-lived workers run (the process waits for them
    /// after [`Router::shutdown`]).
    pub async fn assemble(config: &Config, tasks: &TaskTracker) -> Result<Router, BoxError> {
        let clock = clock::system();
        let engine = Engine::connect(&config.routing)?;
        let State {
            store,
            outbox,
            pin_store,
            redis,
        } = state(config, tasks).await?;
        let ledger = Arc::new(UsageLedgerClient::connect(
            &config.usage_addr,
            config.usage_timeout,
        )?);
        let budget =
            BudgetBreaker::new(config.budget.clone(), store, ledger.clone(), clock.clone());
        let delivery = UsageDelivery::start(ledger, outbox, config.delivery.clone()).await;
        let accounting = Arc::new(Accounting::new(budget.clone(), delivery, clock.clone()));
        let breakers = Arc::new(Breakers::new(config.breaker.clone(), clock));
        let resilience = Resilience::new(
            config.retry.clone(),
            RetryBudgets::new(config.retry_budget.clone()),
            breakers.clone(),
        );
        // The runtime pin starts empty: `LLM_PROVIDER` stays in the routes
        // and applies again once a runtime pin is cleared.
        let pinned = Arc::new(ProviderOverride::new(None));
        let providers = admin_providers(engine.providers());
        let engine = Arc::new(
            engine
                .with_resilience(resilience)
                .with_accounting(accounting.clone())
                .with_pin_source(pinned.clone())
                .with_call_timeout(config.server.request_timeout),
        );
        let mut admin = AdminService::new(budget.clone(), breakers, providers, pinned.clone());
        if let Some(store) = &pin_store {
            admin = admin.with_pin_store(store.clone());
        }
        Ok(Router {
            engine,
            admin: Arc::new(admin),
            budget,
            accounting,
            pinned,
            pin_store,
            readiness_interval: config.readiness_interval,
            redis,
        })
    }

    /// Background work until `cancel`: readiness from the budget (health
    /// `NOT_SERVING` while it cannot be checked) and, with Redis, the pin
    /// shared by the replicas.
    pub fn spawn_background(
        &self,
        tasks: &TaskTracker,
        health: Health,
        cancel: &CancellationToken,
    ) {
        tasks.spawn(watch_readiness(
            self.budget.clone(),
            health,
            self.readiness_interval,
            cancel.clone(),
        ));
        if self.budget.config().slice != crate::money::Micros::ZERO {
            tasks.spawn(watch_reclaims(self.budget.clone(), cancel.clone()));
        }
        if let Some(store) = &self.pin_store {
            tasks.spawn(admin::sync_pin(
                store.clone(),
                self.pinned.clone(),
                self.readiness_interval,
                cancel.clone(),
            ));
        }
    }

    /// Registers `LlmRouter` and `RouterAdmin`.
    pub fn add_services(&self, server: &mut GrpcServer, max_message_bytes: usize) {
        server.add_service(
            LlmRouterServer::new(RouterApi::new(self.engine.clone()))
                .max_decoding_message_size(max_message_bytes)
                .max_encoding_message_size(max_message_bytes),
        );
        server.add_service(
            RouterAdminServer::new(RouterAdminApi::new(self.admin.clone()))
                .max_decoding_message_size(max_message_bytes)
                .max_encoding_message_size(max_message_bytes),
        );
    }

    /// After the server drained (or its grace period ended): the calls still
    /// in flight cancelled, their callers told so; the settles and records of
    /// the last calls, the delivery flush (to the ledger, else the outbox),
    /// then Redis.
    pub async fn shutdown(self) {
        self.engine.cancel_calls().await;
        self.accounting.shutdown().await;
        if let Some(redis) = self.redis {
            redis.shutdown().await;
        }
    }
}

async fn state(config: &Config, tasks: &TaskTracker) -> Result<State, BoxError> {
    let ttls = StoreTtls::for_reservation_ttl(config.budget.reservation_ttl);
    let prefix = &config.redis.key_prefix;
    let timeout = config.redis.command_timeout;
    let Some(url) = &config.redis.url else {
        let outbox = SqliteOutbox::open(&config.outbox_path).await?;
        tracing::warn!(
            store = "memory",
            outbox = "sqlite",
            outbox_path = %config.outbox_path.display(),
            scope = "single replica only: no REDIS_URL, so the budget is not shared with other replicas",
            "budget.store"
        );
        return Ok(State {
            store: Arc::new(MemoryBudgetStore::new(ttls)),
            outbox: Arc::new(outbox),
            pin_store: None,
            redis: None,
        });
    };
    let handle = redis::connect(url, timeout, REDIS_FIRST_CONNECT).await?;
    tracing::info!(
        store = "redis",
        outbox = "redis",
        key_prefix = %prefix,
        "budget.store"
    );
    Ok(State {
        store: Arc::new(
            RedisBudgetStore::new(handle.client.clone(), prefix.as_str(), ttls, timeout)
                .with_tasks(tasks.clone()),
        ),
        outbox: Arc::new(RedisStreamOutbox::new(
            handle.client.clone(),
            prefix,
            timeout,
        )),
        pin_store: Some(Arc::new(RedisPinStore::new(
            handle.client.clone(),
            prefix,
            timeout,
        ))),
        redis: Some(handle),
    })
}

/// The providers as operators see them. "Configured" means callable: real
/// credentials or the simulator standing in for them (the admin API pins only
/// callable providers). Providers outside the fallback order come after it.
fn admin_providers(providers: &[engine::ProviderInfo]) -> Vec<admin::ProviderInfo> {
    let ordered = providers.iter().filter(|p| p.priority.is_some()).count();
    let mut extra = 0u32;
    providers
        .iter()
        .map(|p| admin::ProviderInfo {
            name: p.name.clone(),
            configured: p.configured || p.simulated,
            priority: p.priority.unwrap_or_else(|| {
                let priority = u32::try_from(ordered)
                    .unwrap_or(u32::MAX)
                    .saturating_add(extra);
                extra += 1;
                priority
            }),
            base_url: p.base_url.clone(),
        })
        .collect()
}
