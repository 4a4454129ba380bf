//! What the vendor clients share below their wire formats: the HTTP client
//! and streaming driver, the two stream framings (SSE, AWS event-stream) and
//! the two request-signing schemes (SigV4, Google service-account tokens).

pub mod eventstream;
pub mod google_auth;
pub mod http;
pub mod sigv4;
pub mod sse;
pub mod trace;
