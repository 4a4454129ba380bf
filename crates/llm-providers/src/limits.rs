//! Size limits every vendor client shares, in one place so no vendor borrows
//! another's.

/// Largest unary answer read.
pub const MAX_BODY: usize = 32 * 1024 * 1024;
/// Largest embeddings answer read (256 inputs × 3072 floats as JSON).
pub const MAX_EMBED_BODY: usize = 64 * 1024 * 1024;
/// Largest error body read (enough for any vendor's error JSON).
pub const MAX_ERROR_BODY: usize = 64 * 1024;
