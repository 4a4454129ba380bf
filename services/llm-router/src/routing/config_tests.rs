//! The config file and its environment overrides.

use service_kit::Env;

use super::load::EMBEDDED;
use super::{RouterSettings, Target, Tier, load_str};

fn load(pairs: &[(&str, &str)]) -> RouterSettings {
    load_str(EMBEDDED, "test", &Env::from_pairs(pairs.iter().copied())).unwrap()
}

fn load_err(pairs: &[(&str, &str)]) -> service_kit::ConfigError {
    load_str(EMBEDDED, "test", &Env::from_pairs(pairs.iter().copied())).unwrap_err()
}

fn load_text_err(text: &str) -> String {
    load_str(text, "test.toml", &Env::default())
        .unwrap_err()
        .to_string()
}

fn providers(s: &RouterSettings, tier: Tier) -> Vec<String> {
    s.routes
        .resolve_chat(&Target::Tier(tier), None)
        .unwrap()
        .candidates
        .iter()
        .map(|c| c.to_string())
        .collect()
}

#[test]
fn embedded_config_follows_the_manuals() {
    let s = load(&[]);
    assert_eq!(
        providers(&s, Tier::Sota),
        [
            "azure/gpt-4o",
            "anthropic/claude-sonnet-4-5",
            "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "vertex/gemini-2.5-pro"
        ]
    );
    assert_eq!(
        providers(&s, Tier::CostEffective)
            .first()
            .map(String::as_str),
        Some("azure/gpt-4o-mini")
    );
    // No credentials anywhere: the simulator stands in for every provider.
    assert!(
        s.providers
            .iter()
            .all(|p| p.setup.as_ref().is_some_and(|x| x.simulated()))
    );
    assert_eq!(&**s.prices.version(), "2025-10-01");
    let default = s.routes.resolve_chat(&Target::Default, None).unwrap();
    assert_eq!(default.tier, Some(Tier::CostEffective));
}

#[test]
fn azure_deployment_variables_replace_the_tier_models() {
    let s = load(&[
        ("AZURE_SOTA_DEPLOYMENT", "gpt-4o-2024-11-20"),
        ("AZURE_COST_EFFECTIVE_DEPLOYMENT", "gpt-4o-mini"),
    ]);
    assert_eq!(providers(&s, Tier::Sota)[0], "azure/gpt-4o-2024-11-20");
    // Priced by its longest priced prefix.
    let price = s.prices.price("azure", "gpt-4o-2024-11-20").unwrap();
    assert_eq!(price, s.prices.price("azure", "gpt-4o").unwrap());
    // A deployment with no price at all is refused, naming the variable.
    let e = load_err(&[("AZURE_SOTA_DEPLOYMENT", "our-custom-deployment")]);
    assert_eq!(e.var, "AZURE_SOTA_DEPLOYMENT");
    assert!(e.message.contains("azure/our-custom-deployment"), "{e}");
}

#[test]
fn llm_provider_pins_the_primary() {
    let s = load(&[("LLM_PROVIDER", "anthropic")]);
    assert_eq!(providers(&s, Tier::Sota)[0], "anthropic/claude-sonnet-4-5");
    assert_eq!(providers(&s, Tier::Sota)[1], "azure/gpt-4o");
    // openai is outside the fallback order but serves when pinned.
    let s = load(&[("LLM_PROVIDER", "openai")]);
    assert_eq!(providers(&s, Tier::Sota)[0], "openai/gpt-4o");
    let e = load_err(&[("LLM_PROVIDER", "azur")]);
    assert_eq!(e.var, "LLM_PROVIDER");
    assert!(e.message.contains("azur"), "{e}");
}

#[test]
fn local_mode_routes_to_the_local_provider_only() {
    let s = load(&[("AI_MODE", "local"), ("LLM_PROVIDER", "azure")]);
    assert_eq!(providers(&s, Tier::Sota), ["ollama/llama3.2"]);
    assert_eq!(providers(&s, Tier::CostEffective), ["ollama/llama3.2"]);
    assert_eq!(load_err(&[("AI_MODE", "hybrid")]).var, "AI_MODE");
}

#[test]
fn simulator_off_leaves_unconfigured_providers_unavailable() {
    let s = load(&[
        ("PROVIDER_SIMULATOR", "off"),
        ("ANTHROPIC_API_KEY", "sk-ant-secret-value"),
    ]);
    let available: Vec<&str> = s
        .providers
        .iter()
        .filter(|p| p.setup.is_some())
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(available, ["anthropic"]);
    let anthropic = s.providers.iter().find(|p| p.name == "anthropic").unwrap();
    let setup = anthropic.setup.as_ref().unwrap();
    assert!(!setup.simulated());
    assert_eq!(setup.base_url(), "https://api.anthropic.com");
    // Secrets never show in Debug output.
    assert!(!format!("{s:?}").contains("sk-ant-secret-value"));
}

#[test]
fn credentials_without_their_companions_fail_naming_the_variable() {
    let e = load_err(&[("AZURE_OPENAI_API_KEY", "k")]);
    assert!(e.message.contains("AZURE_OPENAI_ENDPOINT"), "{e}");
    let e = load_err(&[("AWS_ACCESS_KEY_ID", "AKID")]);
    assert_eq!(e.var, "AWS_SECRET_ACCESS_KEY");
    let e = load_err(&[("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")]);
    assert_eq!(e.var, "GOOGLE_APPLICATION_CREDENTIALS");
    let e = load_err(&[("SIMULATOR_URL", "not a url")]);
    assert_eq!(e.var, "SIMULATOR_URL");
}

#[test]
fn real_credentials_take_their_endpoints() {
    let s = load(&[
        ("AZURE_OPENAI_API_KEY", "k"),
        ("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com/"),
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_REGION", "eu-west-1"),
        ("VERTEX_ACCESS_TOKEN", "ya29.token"),
        ("VERTEX_PROJECT", "proj"),
        ("VERTEX_LOCATION", "europe-west4"),
    ]);
    let url = |name: &str| {
        s.providers
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.setup.as_ref())
            .map(|x| x.base_url().to_owned())
            .unwrap()
    };
    assert_eq!(url("azure"), "https://res.openai.azure.com");
    assert_eq!(
        url("bedrock"),
        "https://bedrock-runtime.eu-west-1.amazonaws.com"
    );
    assert_eq!(
        url("vertex"),
        "https://europe-west4-aiplatform.googleapis.com"
    );
}

fn minimal(extra: &str) -> String {
    format!(
        r#"
[routing]
fallback_order = ["a"]
[providers.a]
kind = "openai"
[tiers.sota]
a = "m"
[tiers.cost_effective]
a = "m"
[pricing]
version = "v1"
[pricing.models]
"a/m" = {{ input = "1", output = "2" }}
{extra}
"#
    )
}

#[test]
fn a_minimal_file_loads() {
    load_str(&minimal(""), "test.toml", &Env::default()).unwrap();
}

#[test]
fn bad_entries_are_named() {
    let cases: &[(&str, &str)] = &[
        ("[models.x]\nb = \"m\"", "models.\"x\".b: unknown provider"),
        (
            "[models.x]\na = \"unpriced\"",
            "models.\"x\".a: no price for a/unpriced",
        ),
        ("[models.sota]\na = \"m\"", "models.\"sota\""),
        (
            "[providers.b]\nkind = \"anthropic\"\n[embeddings.e]\nb = \"m\"",
            "embeddings.\"e\".b: anthropic has no embeddings API",
        ),
        (
            "[providers.b]\nkind = \"nope\"",
            "providers.b.kind: unknown kind \"nope\"",
        ),
        (
            "[providers.b]\nkind = \"openai\"\napi_verison = \"x\"",
            "providers.b: unknown field `api_verison`",
        ),
        (
            "[providers.b]\nkind = \"openai\"\n[providers.b.timeouts]\ntotal_ms = 0",
            "providers.b.timeouts.total_ms: must be positive",
        ),
    ];
    for (extra, expected) in cases {
        let msg = load_text_err(&minimal(extra));
        assert!(msg.contains(expected), "{extra:?}: {msg}");
        assert!(msg.contains("ROUTER_CONFIG"), "{msg}");
    }
    let float = minimal("").replace("input = \"1\"", "input = 1.5");
    assert!(load_text_err(&float).contains("write prices as strings"));
    let dup = minimal("").replace("[\"a\"]", "[\"a\", \"a\"]");
    assert!(load_text_err(&dup).contains("appears twice"));
    let typo = minimal("").replace("[tiers.sota]\na", "[tiers.sota]\nb");
    assert!(load_text_err(&typo).contains("tiers.sota.b: unknown provider"));
    assert!(load_text_err("not toml [").contains("test.toml"));
}

#[test]
fn aliases_are_served_by_every_provider_they_map() {
    let s = load(&[]);
    let names = |alias: &str| -> Vec<String> {
        s.routes
            .resolve_chat(&Target::Model(alias.into()), None)
            .unwrap()
            .candidates
            .iter()
            .map(|c| c.to_string())
            .collect()
    };
    assert_eq!(names("gpt-4o"), ["azure/gpt-4o", "openai/gpt-4o"]);
    assert_eq!(names("llama3.2"), ["ollama/llama3.2"]);
    let embed = s.routes.resolve_embedding(None, None).unwrap();
    assert_eq!(embed.name, "text-embedding-3-small");
    assert_eq!(embed.candidates.len(), 2);
}
