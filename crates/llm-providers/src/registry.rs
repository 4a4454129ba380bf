//! The vendor registry: provider kind → how to read its settings and build it
//! (adding a vendor = one module + one line in [`VENDORS`]), and the
//! connected providers by name.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::config::Vendor;
use crate::labelled::Labelled;
use crate::{Provider, anthropic, azure, bedrock, ollama, openai, vertex};

/// Every vendor kind the router speaks.
pub const VENDORS: &[Vendor] = &[
    azure::VENDOR,
    anthropic::VENDOR,
    bedrock::VENDOR,
    vertex::VENDOR,
    openai::VENDOR,
    ollama::VENDOR,
];

pub fn vendor(kind: &str) -> Option<&'static Vendor> {
    VENDORS.iter().find(|v| v.kind == kind)
}

pub fn kinds() -> String {
    VENDORS
        .iter()
        .map(|v| v.kind)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The connected providers by name.
#[derive(Clone, Default)]
pub struct Registry {
    providers: HashMap<Arc<str>, Arc<dyn Provider>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.providers.keys()).finish()
    }
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a provider under `name`; its calls are labelled
    /// with their vendor and model, so their HTTP spans say which call they were.
    pub fn insert(&mut self, name: &str, provider: Arc<dyn Provider>) {
        self.providers
            .insert(Arc::from(name), Arc::new(Labelled(provider)));
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.providers.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(|k| &**k)
    }
}
