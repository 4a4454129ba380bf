//! Service identity and authorisation on every gRPC call.
//!
//! Nothing inside the cluster is trusted by position. Every gRPC call carries
//! `authorization: Bearer <token>`: a short-lived EdDSA (Ed25519) JWT signed
//! with the calling service's own private key, naming the service (`iss`) and,
//! when the call is made for a person, that person's verified subject and role.
//! Every server verifies the token against the public keys it trusts and checks
//! a per-RPC [`policy::Rule`] before the handler runs.
//!
//! Why signed tokens rather than mutual TLS (docs/ARCHITECTURE.md has the long
//! form): the learner's identity has to travel with the call anyway, and a
//! token carries both who calls and for whom; each service holds only its own
//! private key, so a compromised conversation pod cannot sign as the router
//! (ledger writes) or as an operator; keys rotate without a restart (a new
//! key id triggers a re-read of the trust directory); and grpcurl keeps working
//! with one `-H authorization:…` flag. Transport encryption is the mesh's or
//! the CNI's job and composes with this.
//!
//! Development (`FLUENTEDGE_DEV=1` with no keys configured) signs and trusts a
//! public development key, as the gateway's development JWT secret does; the
//! same switch confines every listener to loopback.

pub mod keys;
pub mod policy;
pub mod settings;
pub mod token;

pub use policy::{Grant, Need, Policy, Rule, grant};
pub use settings::AuthSettings;
pub use token::{Signer, Verifier};

use arc_swap::ArcSwapOption;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The services (and operators) that may sign service tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Issuer {
    Gateway,
    Conversation,
    Router,
    Usage,
    /// A person operating the suite with grpcurl (`make token ROLE=admin INTERNAL=1`).
    Operator,
}

impl Issuer {
    pub const ALL: [Issuer; 5] = [
        Issuer::Gateway,
        Issuer::Conversation,
        Issuer::Router,
        Issuer::Usage,
        Issuer::Operator,
    ];

    /// The name in tokens, trust directories (`<name>.pem`) and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Issuer::Gateway => "gateway",
            Issuer::Conversation => "conversation",
            Issuer::Router => "llm-router",
            Issuer::Usage => "usage-accounting",
            Issuer::Operator => "operator",
        }
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Issuer {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Issuer::ALL
            .into_iter()
            .find(|i| i.as_str() == s)
            .ok_or_else(|| format!("unknown issuer {s:?}"))
    }
}

/// What the caller may do on behalf of its subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A learner or SDK user, acting on their own data.
    User,
    /// An administrator or operator.
    Admin,
    /// A service acting for itself (usage delivery, budget rebuild).
    Service,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            "service" => Ok(Role::Service),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

/// A verified caller of one gRPC call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub issuer: Issuer,
    /// The person the call is made for; `None` for a service's own calls.
    pub subject: Option<String>,
    pub role: Role,
}

/// This process's credentials: how it signs its calls and whom it trusts.
pub struct ServiceAuth {
    pub signer: Option<Signer>,
    pub verifier: Verifier,
}

/// The token of an `authorization: Bearer <token>` value.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

static CURRENT: ArcSwapOption<ServiceAuth> = ArcSwapOption::const_empty();

/// Makes `auth` the process's credentials (once at start-up; tests may replace it).
pub fn install(auth: ServiceAuth) {
    CURRENT.store(Some(Arc::new(auth)));
}

/// The installed credentials. `None` before [`install`]: every call then fails
/// closed (clients refuse to send, servers refuse to serve).
pub fn current() -> Option<Arc<ServiceAuth>> {
    CURRENT.load_full()
}

/// The development credentials of `issuer` (the public development key):
/// `FLUENTEDGE_DEV=1` processes, and tests that run services in-process.
pub fn development(issuer: Issuer) -> ServiceAuth {
    ServiceAuth {
        signer: Some(development_signer(issuer)),
        verifier: Verifier::new(keys::TrustStore::development()),
    }
}

/// A signer for `issuer` with the development key (tests playing a service).
pub fn development_signer(issuer: Issuer) -> Signer {
    Signer::new(
        issuer,
        keys::PrivateKey::development(),
        std::time::Duration::from_secs(120),
    )
}

/// The person a call's development-key service token names (test fakes that
/// stand in for a service and record who called).
pub fn development_subject(metadata: &tonic::metadata::MetadataMap) -> Option<String> {
    let token = bearer(metadata.get("authorization")?.to_str().ok()?)?;
    Verifier::new(keys::TrustStore::development())
        .verify(token)
        .ok()?
        .subject
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn bearer_takes_the_token_of_either_case_and_refuses_the_rest() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
    }
}
