//! Model tiers and aliases → the ordered (provider, model) candidates a call
//! tries: the config file's fallback order, `LLM_PROVIDER` (or the runtime
//! override) pinning the primary, `AI_MODE=local` routing to the local
//! provider.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

#[cfg(test)]
mod config_tests;
pub mod file;
mod load;

pub use load::{DEFAULT_SIMULATOR_URL, EMBEDDED, ProviderSettings, RouterSettings, load, load_str};

/// The tiers of the manuals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    Sota,
    CostEffective,
}

impl Tier {
    pub const ALL: [Tier; 2] = [Tier::Sota, Tier::CostEffective];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Sota => "sota",
            Tier::CostEffective => "cost_effective",
        }
    }

    pub fn parse(name: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One (provider, model) a call may be sent to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Candidate {
    pub provider: Arc<str>,
    /// The provider's model id or Azure deployment name.
    pub model: Arc<str>,
}

impl Candidate {
    pub fn new(provider: &str, model: &str) -> Self {
        Candidate {
            provider: Arc::from(provider),
            model: Arc::from(model),
        }
    }
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// The candidates of one tier or alias.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// In the fallback order.
    pub ordered: Vec<Candidate>,
    /// Mapped but outside the fallback order: used only when pinned.
    pub others: Vec<Candidate>,
}

impl Route {
    /// The candidates in the order to try them, `pin` first when it serves this route.
    pub fn candidates(&self, pin: Option<&str>) -> Vec<Candidate> {
        let pinned = pin.and_then(|p| {
            self.ordered
                .iter()
                .chain(&self.others)
                .find(|c| &*c.provider == p)
        });
        match pinned {
            None => self.ordered.clone(),
            Some(first) => std::iter::once(first.clone())
                .chain(self.ordered.iter().filter(|c| *c != first).cloned())
                .collect(),
        }
    }

    fn retain(&mut self, keep: &impl Fn(&str) -> bool) {
        self.ordered.retain(|c| keep(&c.provider));
        self.others.retain(|c| keep(&c.provider));
    }
}

/// What a chat request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Neither tier nor model: the configured default tier.
    Default,
    Tier(Tier),
    /// A model alias (or a tier's name).
    Model(String),
}

/// A resolved target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// What the caller asked for, as shown in messages: `sota`, `gpt-4o-mini`…
    pub name: String,
    /// The tier served, when the target was one.
    pub tier: Option<Tier>,
    pub candidates: Vec<Candidate>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("unknown model {0:?} (ListModels names the available ones)")]
    UnknownModel(String),
    #[error("unknown embedding model {0:?} (ListModels names the available ones)")]
    UnknownEmbeddingModel(String),
    #[error("no default embedding model is configured; name one")]
    NoDefaultEmbedding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    Chat,
    Embedding,
}

/// One entry of the catalogue ListModels shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry {
    pub id: String,
    pub kind: ModelKind,
    pub tier: Option<Tier>,
    pub candidates: Vec<Candidate>,
}

/// Every route, resolved from the config file and the environment.
#[derive(Debug, Clone)]
pub struct Routes {
    pub(crate) sota: Route,
    pub(crate) cost_effective: Route,
    pub(crate) aliases: BTreeMap<String, Route>,
    pub(crate) embeddings: BTreeMap<String, Route>,
    pub(crate) default_tier: Tier,
    pub(crate) default_embedding: Option<String>,
    /// `LLM_PROVIDER`.
    pub(crate) pinned: Option<Arc<str>>,
    /// `AI_MODE=local`: routes hold only the local provider.
    pub(crate) local: bool,
}

impl Routes {
    pub fn tier(&self, tier: Tier) -> &Route {
        match tier {
            Tier::Sota => &self.sota,
            Tier::CostEffective => &self.cost_effective,
        }
    }

    /// `LLM_PROVIDER`, when set.
    pub fn pinned(&self) -> Option<&str> {
        self.pinned.as_deref()
    }

    pub fn local_mode(&self) -> bool {
        self.local
    }

    /// Pin precedence: the runtime override, else `LLM_PROVIDER`; none in local mode.
    fn pin<'a>(&'a self, runtime: Option<&'a str>) -> Option<&'a str> {
        if self.local {
            None
        } else {
            runtime.or(self.pinned.as_deref())
        }
    }

    pub fn resolve_chat(
        &self,
        target: &Target,
        runtime_pin: Option<&str>,
    ) -> Result<Resolved, RouteError> {
        let pin = self.pin(runtime_pin);
        let tier = match target {
            Target::Default => Some(self.default_tier),
            Target::Tier(t) => Some(*t),
            Target::Model(name) => Tier::parse(name),
        };
        if let Some(tier) = tier {
            return Ok(Resolved {
                name: tier.as_str().to_owned(),
                tier: Some(tier),
                candidates: self.tier(tier).candidates(pin),
            });
        }
        let Target::Model(name) = target else {
            return Err(RouteError::UnknownModel(String::new()));
        };
        let route = self
            .aliases
            .get(name)
            .ok_or_else(|| RouteError::UnknownModel(name.clone()))?;
        Ok(Resolved {
            name: name.clone(),
            tier: None,
            candidates: route.candidates(pin),
        })
    }

    pub fn resolve_embedding(
        &self,
        model: Option<&str>,
        runtime_pin: Option<&str>,
    ) -> Result<Resolved, RouteError> {
        let name = match model {
            Some(m) => m,
            None => self
                .default_embedding
                .as_deref()
                .ok_or(RouteError::NoDefaultEmbedding)?,
        };
        let route = self
            .embeddings
            .get(name)
            .ok_or_else(|| RouteError::UnknownEmbeddingModel(name.to_owned()))?;
        Ok(Resolved {
            name: name.to_owned(),
            tier: None,
            candidates: route.candidates(self.pin(runtime_pin)),
        })
    }

    /// Tiers, then chat aliases, then embedding aliases, each with its
    /// candidates in the order they would be tried now.
    pub fn catalogue(&self, runtime_pin: Option<&str>) -> Vec<ModelEntry> {
        let pin = self.pin(runtime_pin);
        let tiers = Tier::ALL.into_iter().map(|t| ModelEntry {
            id: t.as_str().to_owned(),
            kind: ModelKind::Chat,
            tier: Some(t),
            candidates: self.tier(t).candidates(pin),
        });
        let aliases = self.aliases.iter().map(|(id, r)| ModelEntry {
            id: id.clone(),
            kind: ModelKind::Chat,
            tier: None,
            candidates: r.candidates(pin),
        });
        let embeddings = self.embeddings.iter().map(|(id, r)| ModelEntry {
            id: id.clone(),
            kind: ModelKind::Embedding,
            tier: None,
            candidates: r.candidates(pin),
        });
        tiers.chain(aliases).chain(embeddings).collect()
    }

    /// Drops candidates of providers that are not available (no credentials
    /// and no simulator).
    pub fn retain_providers(&mut self, keep: impl Fn(&str) -> bool) {
        self.sota.retain(&keep);
        self.cost_effective.retain(&keep);
        for r in self
            .aliases
            .values_mut()
            .chain(self.embeddings.values_mut())
        {
            r.retain(&keep);
        }
    }

    /// Every (provider, model) any route may use.
    pub fn all_candidates(&self) -> impl Iterator<Item = &Candidate> {
        [&self.sota, &self.cost_effective]
            .into_iter()
            .chain(self.aliases.values())
            .chain(self.embeddings.values())
            .flat_map(|r| r.ordered.iter().chain(&r.others))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(ordered: &[(&str, &str)], others: &[(&str, &str)]) -> Route {
        Route {
            ordered: ordered.iter().map(|(p, m)| Candidate::new(p, m)).collect(),
            others: others.iter().map(|(p, m)| Candidate::new(p, m)).collect(),
        }
    }

    #[test]
    fn pin_moves_its_candidate_first() {
        let r = route(
            &[("azure", "a"), ("anthropic", "b"), ("bedrock", "c")],
            &[("openai", "d")],
        );
        let names =
            |v: Vec<Candidate>| v.iter().map(|c| c.provider.to_string()).collect::<Vec<_>>();
        assert_eq!(names(r.candidates(None)), ["azure", "anthropic", "bedrock"]);
        assert_eq!(
            names(r.candidates(Some("bedrock"))),
            ["bedrock", "azure", "anthropic"]
        );
        assert_eq!(
            names(r.candidates(Some("openai"))),
            ["openai", "azure", "anthropic", "bedrock"]
        );
        assert_eq!(
            names(r.candidates(Some("nobody"))),
            ["azure", "anthropic", "bedrock"]
        );
    }
}
