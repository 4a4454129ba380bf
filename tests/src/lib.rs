//! fluentedge-e2e
