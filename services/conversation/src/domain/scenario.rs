//! The tutor's scenarios: a small catalogue kept as data (`scenarios/scenarios.toml`,
//! or the file named by `SCENARIOS_FILE`), validated once at start-up.

use serde::Deserialize;
use std::collections::HashSet;

/// The catalogue shipped with the service.
pub const EMBEDDED: &str = include_str!("../../scenarios/scenarios.toml");

const CATEGORIES: [&str; 2] = ["everyday", "work"];
const MAX_GOALS: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Stable id, e.g. "job_interview": `[a-z0-9_]`, 1 to 64 characters.
    pub id: String,
    pub title: String,
    pub description: String,
    /// "everyday" or "work".
    pub category: String,
    /// Who the tutor plays, e.g. "a hiring manager".
    pub tutor_role: String,
    /// What the learner practises (1 to 10).
    pub goals: Vec<String>,
    /// The tutor's first line.
    pub opening_line: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    scenario: Vec<Scenario>,
}

/// The validated catalogue, in file order.
#[derive(Debug, Clone)]
pub struct Catalogue {
    scenarios: Vec<Scenario>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scenarios file: {0}")]
pub struct CatalogueError(pub String);

impl Catalogue {
    /// The catalogue shipped with the service (validated by a unit test).
    pub fn embedded() -> Result<Self, CatalogueError> {
        Self::parse(EMBEDDED)
    }

    /// Parses and validates a TOML catalogue (`[[scenario]]` tables).
    pub fn parse(text: &str) -> Result<Self, CatalogueError> {
        let file: File = toml::from_str(text).map_err(|e| CatalogueError(e.to_string()))?;
        if file.scenario.is_empty() {
            return Err(CatalogueError("no [[scenario]] entries".into()));
        }
        let mut seen = HashSet::new();
        for s in &file.scenario {
            check(s)?;
            if !seen.insert(s.id.as_str()) {
                return Err(CatalogueError(format!("duplicate scenario id {:?}", s.id)));
            }
        }
        Ok(Self {
            scenarios: file.scenario,
        })
    }

    pub fn all(&self) -> &[Scenario] {
        &self.scenarios
    }

    pub fn get(&self, id: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.id == id)
    }
}

fn check(s: &Scenario) -> Result<(), CatalogueError> {
    let fail = |what: &str| Err(CatalogueError(format!("scenario {:?}: {what}", s.id)));
    let id_ok = (1..=64).contains(&s.id.len())
        && s.id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !id_ok {
        return fail("id must be 1 to 64 characters of a-z, 0-9 and _");
    }
    for (name, value) in [
        ("title", &s.title),
        ("description", &s.description),
        ("tutor_role", &s.tutor_role),
        ("opening_line", &s.opening_line),
    ] {
        if value.trim().is_empty() {
            return fail(&format!("{name} must not be empty"));
        }
    }
    if !CATEGORIES.contains(&s.category.as_str()) {
        return fail("category must be \"everyday\" or \"work\"");
    }
    if s.goals.is_empty() || s.goals.len() > MAX_GOALS {
        return fail(&format!("goals must list 1 to {MAX_GOALS} goals"));
    }
    if s.goals.iter().any(|g| g.trim().is_empty()) {
        return fail("goals must not be empty strings");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"
        [[scenario]]
        id = "cafe"
        title = "At the café"
        description = "Order a drink."
        category = "everyday"
        tutor_role = "a barista"
        goals = ["order politely"]
        opening_line = "Hi! What can I get you?"
    "#;

    #[test]
    fn the_embedded_catalogue_is_valid_and_covers_everyday_and_work() {
        let c = Catalogue::embedded().unwrap();
        assert!(c.all().len() >= 8, "{} scenarios", c.all().len());
        for cat in CATEGORIES {
            assert!(
                c.all().iter().filter(|s| s.category == cat).count() >= 3,
                "{cat}"
            );
        }
        for id in ["job_interview", "restaurant_order"] {
            assert!(c.get(id).is_some(), "{id}");
        }
    }

    #[test]
    fn parses_a_minimal_file() {
        let c = Catalogue::parse(ONE).unwrap();
        assert_eq!(c.all().len(), 1);
        assert_eq!(c.get("cafe").unwrap().tutor_role, "a barista");
        assert!(c.get("nope").is_none());
    }

    #[test]
    fn rejects_bad_catalogues() {
        let cases = [
            ("", "no [[scenario]]"),
            (&ONE.replace("everyday", "leisure"), "category"),
            (&ONE.replace("\"cafe\"", "\"Cafe!\""), "id must be"),
            (&ONE.replace("a barista", " "), "tutor_role"),
            (&ONE.replace("[\"order politely\"]", "[]"), "goals"),
            (&format!("{ONE}{ONE}"), "duplicate"),
            (&ONE.replace("goals", "aims"), "unknown field"),
        ];
        for (text, expected) in cases {
            let err = Catalogue::parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected:?} not in {err:?}");
        }
    }
}
