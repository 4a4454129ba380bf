//! Clients of other systems: usage-accounting (gRPC) and Redis.

pub mod redis;
pub mod usage_ledger;

pub use usage_ledger::UsageLedgerClient;
