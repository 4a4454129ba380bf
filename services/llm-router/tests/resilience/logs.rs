//! The log events runbooks grep for, captured with a minimal subscriber.

use super::support::{FakeLedger, breaker, memory_store, usd, utc};
use llm_router::budget::BudgetConfig;
use llm_router::clock::ManualClock;
use llm_router::resilience::{BreakerConfig, CircuitBreaker};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// One captured event: its message (the event name) and fields as text.
#[derive(Debug, Clone)]
struct Captured {
    level: tracing::Level,
    fields: BTreeMap<String, String>,
}

impl Captured {
    fn name(&self) -> &str {
        self.fields.get("message").map(String::as_str).unwrap_or("")
    }
}

#[derive(Clone, Default)]
struct Capture {
    events: Arc<Mutex<Vec<Captured>>>,
    ids: Arc<AtomicU64>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.ids.fetch_add(1, Ordering::SeqCst) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.events.lock().push(Captured {
            level: *event.metadata().level(),
            fields,
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Capture {
    fn named(&self, name: &str) -> Vec<Captured> {
        self.events
            .lock()
            .iter()
            .filter(|e| e.name() == name)
            .cloned()
            .collect()
    }
}

#[tokio::test]
async fn budget_transitions_rollover_and_reset_are_logged_once() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let config = BudgetConfig {
        limit: usd("100"),
        ..BudgetConfig::default()
    };
    let clock = ManualClock::new(utc("2026-11-30T20:00:00Z"));
    let b = breaker(
        &config,
        memory_store(&config),
        FakeLedger::new(),
        clock.clone(),
    );
    for (id, amount) in [("a", "50"), ("b", "30"), ("c", "1"), ("d", "14")] {
        let a = b.admit(id, usd(amount), false).await.unwrap();
        a.settle(usd(amount)).await.unwrap();
    }
    b.status().await.unwrap();
    assert!(b.admit("refused", usd("1"), false).await.is_err());
    let alerts = capture.named("circuit_breaker.alert");
    assert_eq!(alerts.len(), 1, "entering HALF_OPEN once");
    assert_eq!(alerts[0].level, tracing::Level::WARN);
    assert_eq!(alerts[0].fields["utilisation_bp"], "8000");
    assert_eq!(alerts[0].fields["state"], "HALF_OPEN");
    let opened = capture.named("circuit_breaker.opened");
    assert_eq!(opened.len(), 1, "entering OPEN once");
    assert_eq!(opened[0].level, tracing::Level::ERROR);
    assert_eq!(opened[0].fields["spent_usd"], "95.000000");
    assert_eq!(opened[0].fields["state"], "OPEN");

    let (_, _) = b.reset("ops@example.com", "new funds").await.unwrap();
    let audit = capture.named("audit");
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].fields["actor"], "ops@example.com");
    assert_eq!(audit[0].fields["action"], "budget.reset");
    assert!(audit[0].fields["before"].contains("\"spent_micro_usd\":95000000"));
    assert!(audit[0].fields["after"].contains("\"spent_micro_usd\":0"));
    assert_eq!(capture.named("circuit_breaker.closed").len(), 1);

    assert!(capture.named("circuit_breaker.monthly_reset").is_empty());
    clock.set(utc("2026-12-01T00:00:00Z"));
    b.admit("dec-1", usd("1"), false)
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    b.admit("dec-2", usd("1"), false)
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    let rollovers = capture.named("circuit_breaker.monthly_reset");
    assert_eq!(rollovers.len(), 1, "once per replica per month");
    assert_eq!(rollovers[0].fields["previous"], "2026-11");
    assert_eq!(rollovers[0].fields["period"], "2026-12");
}

#[tokio::test]
async fn provider_breaker_transitions_have_distinct_events() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let clock = ManualClock::new(utc("2026-11-10T12:00:00Z"));
    let b = CircuitBreaker::new("azure", BreakerConfig::default(), clock.clone());
    for _ in 0..5 {
        let p = b.try_acquire().unwrap();
        b.record_failure(p, "http 503");
    }
    clock.advance(Duration::from_secs(60));
    let probe = b.try_acquire().unwrap();
    b.record_failure(probe, "http 503");
    clock.advance(Duration::from_secs(120));
    let probe = b.try_acquire().unwrap();
    b.record_success(probe);
    let names: Vec<String> = capture
        .events
        .lock()
        .iter()
        .map(|e| e.name().to_owned())
        .filter(|n| n.starts_with("circuit_breaker.provider_"))
        .collect();
    assert_eq!(
        names,
        vec![
            "circuit_breaker.provider_opened",
            "circuit_breaker.provider_half_opened",
            "circuit_breaker.provider_reopened",
            "circuit_breaker.provider_half_opened",
            "circuit_breaker.provider_closed",
        ]
    );
    let opened = &capture.named("circuit_breaker.provider_opened")[0];
    assert_eq!(opened.level, tracing::Level::WARN);
    assert_eq!(opened.fields["provider"], "azure");
    assert_eq!(opened.fields["state"], "OPEN");
}
