//! Other services this one calls.

pub mod router;
