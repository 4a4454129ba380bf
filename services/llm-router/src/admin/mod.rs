//! Operator actions on the router (the `RouterAdmin` RPCs), as domain code:
//! the budget (view, audited reset), the providers with their breakers, and
//! the runtime pin of the primary provider (what `LLM_PROVIDER` does at start).
//! Every mutation writes an `audit` log line: actor, action, before, after.

pub mod grpc;
pub mod pin_store;

pub use pin_store::{PinStore, PinStoreError, RedisPinStore, sync_pin};

use crate::budget::{BudgetBreaker, BudgetError, BudgetStatus};
use crate::engine::PinSource;
use crate::resilience::{BreakerSnapshot, Breakers};
use arc_swap::ArcSwapOption;
use service_kit::{ErrorCode, ServiceError};
use std::sync::Arc;

/// A provider as configured (plain data given at construction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderInfo {
    /// Registry name, e.g. `azure`.
    pub name: String,
    /// Whether credentials are configured.
    pub configured: bool,
    /// Position in the default fallback order (0 = primary).
    pub priority: u32,
    pub base_url: String,
}

/// The pinned primary provider, read by the engine on every call (lock-free).
#[derive(Debug, Default)]
pub struct ProviderOverride {
    cell: ArcSwapOption<String>,
}

impl ProviderOverride {
    pub fn new(initial: Option<String>) -> Self {
        Self {
            cell: ArcSwapOption::from(initial.map(Arc::new)),
        }
    }

    /// The pinned provider, if any.
    pub fn get(&self) -> Option<Arc<String>> {
        self.cell.load_full()
    }

    pub(crate) fn replace(&self, value: Option<String>) -> Option<Arc<String>> {
        self.cell.swap(value.map(Arc::new))
    }
}

/// The engine reads the pin on every call.
impl PinSource for ProviderOverride {
    fn pinned(&self) -> Option<Arc<str>> {
        self.cell.load().as_deref().map(|p| Arc::from(p.as_str()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderView {
    pub info: ProviderInfo,
    pub breaker: BreakerSnapshot,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvidersView {
    pub providers: Vec<ProviderView>,
    pub override_provider: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    #[error("unknown provider {name:?}; known providers: {known}")]
    UnknownProvider { name: String, known: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Budget(#[from] BudgetError),
    #[error(transparent)]
    PinStore(#[from] PinStoreError),
}

impl From<AdminError> for ServiceError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Budget(b) => b.into(),
            AdminError::PinStore(p) => ServiceError::new(ErrorCode::Unavailable, p.to_string()),
            other => ServiceError::new(ErrorCode::InvalidArgument, other.to_string()),
        }
    }
}

pub struct AdminService {
    budget: Arc<BudgetBreaker>,
    breakers: Arc<Breakers>,
    providers: Vec<ProviderInfo>,
    pinned: Arc<ProviderOverride>,
    pin_store: Option<Arc<dyn PinStore>>,
}

impl AdminService {
    pub fn new(
        budget: Arc<BudgetBreaker>,
        breakers: Arc<Breakers>,
        mut providers: Vec<ProviderInfo>,
        pinned: Arc<ProviderOverride>,
    ) -> Self {
        providers.sort_by_key(|p| p.priority);
        Self {
            budget,
            breakers,
            providers,
            pinned,
            pin_store: None,
        }
    }

    /// Shares the pin with the other replicas through `store`.
    pub fn with_pin_store(mut self, store: Arc<dyn PinStore>) -> Self {
        self.pin_store = Some(store);
        self
    }

    pub async fn get_budget(&self) -> Result<BudgetStatus, AdminError> {
        Ok(self.budget.status().await?)
    }

    /// Audited by the budget breaker itself (it knows before and after).
    pub async fn reset_budget(
        &self,
        actor: &str,
        reason: &str,
    ) -> Result<(BudgetStatus, BudgetStatus), AdminError> {
        Ok(self.budget.reset(actor, reason).await?)
    }

    pub fn list_providers(&self) -> ProvidersView {
        ProvidersView {
            providers: self
                .providers
                .iter()
                .map(|info| ProviderView {
                    info: info.clone(),
                    breaker: self.breakers.get(&info.name).snapshot(),
                })
                .collect(),
            override_provider: self.pinned.get().map(|p| p.as_str().to_owned()),
        }
    }

    /// Pins `provider` as the primary (empty: clears the pin), on every
    /// replica when the pin is shared. Returns (before, after).
    pub async fn set_provider_override(
        &self,
        provider: &str,
        actor: &str,
        reason: &str,
    ) -> Result<(Option<String>, Option<String>), AdminError> {
        let actor = actor.trim();
        if actor.is_empty() {
            return Err(AdminError::Invalid("actor is required".into()));
        }
        let provider = provider.trim();
        let next = if provider.is_empty() {
            None
        } else {
            let Some(info) = self.providers.iter().find(|p| p.name == provider) else {
                return Err(AdminError::UnknownProvider {
                    name: provider.to_owned(),
                    known: self
                        .providers
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            if !info.configured {
                return Err(AdminError::Invalid(format!(
                    "provider {provider:?} has no credentials configured"
                )));
            }
            Some(provider.to_owned())
        };
        if let Some(store) = &self.pin_store {
            store.save(next.as_deref()).await?;
        }
        let before = self
            .pinned
            .replace(next.clone())
            .map(|p| p.as_str().to_owned());
        tracing::info!(
            actor,
            action = "provider.override",
            reason,
            before = before.as_deref().unwrap_or(""),
            after = next.as_deref().unwrap_or(""),
            "audit"
        );
        Ok((before, next))
    }
}
