//! Clients of other services: usage-accounting (gRPC).

pub mod usage_ledger;

pub use usage_ledger::UsageLedgerClient;
