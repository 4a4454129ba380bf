//! usage-accounting's integration tests: one binary.
//!
//! - `conformance`: every ledger rule, on PostgreSQL and on SQLite.
//! - `concurrency`: 50 senders replaying the same 1,000 records, both backends.
//! - `proptests`: totals against an independent sum, both backends.
//! - `manual_sql`: the manuals' monthly cost query on the PostgreSQL ledger.
//! - `partitions`: the PostgreSQL ledger's monthly partitions, retention by
//!   partition, and the migration from the unpartitioned table.
//! - `grpc`: the service on port 0 through the generated client, grpcurl
//!   (the README's examples), readiness, and the retention command.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "usage_accounting/concurrency.rs"]
mod concurrency;
#[path = "usage_accounting/conformance.rs"]
mod conformance;
#[path = "usage_accounting/grpc.rs"]
mod grpc;
#[path = "usage_accounting/manual_sql.rs"]
mod manual_sql;
#[path = "usage_accounting/partitions.rs"]
mod partitions;
#[path = "usage_accounting/proptests.rs"]
mod proptests;
#[path = "usage_accounting/support.rs"]
mod support;
