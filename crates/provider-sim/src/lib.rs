//! provider-sim
