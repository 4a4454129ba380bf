//! What a caller reads of a backend's failure. The backends describe failures
//! for operators (the budget's spend and limit, each provider's and model's
//! error); a learner needs to know what to do, not the system's internals.
//! Callers without the admin role get a message that says what happened and
//! what to do; admins keep the backend's detail; the logs always keep it.
//!
//! A provider's stream cut after its first token reaches every caller as
//! `provider_stream_interrupted` with a plain message: the backend's text
//! would be the HTTP client's own error ("error decoding response body").

use service_kit::{ErrorCode, RequestContext};

/// The code a provider's stream cut mid-reply reaches callers with.
pub const PROVIDER_STREAM_INTERRUPTED: &str = "provider_stream_interrupted";

const BUDGET_EXCEEDED: &str = "The AI budget for this period is used up, so new requests cannot be \
     answered now. Try again later, or ask your administrator.";
const ALL_PROVIDERS_FAILED: &str =
    "The AI service is temporarily unavailable. Please try again in a moment.";
const STREAM_CUT: &str = "The AI provider stopped in the middle of the reply. What arrived is kept; \
     please try again for a complete answer.";

/// The code and message a caller sees for a backend failure `code` whose
/// backend message is `detail`.
pub fn for_caller(code: ErrorCode, detail: String) -> (&'static str, String) {
    let admin = RequestContext::current().is_some_and(|c| c.admin);
    let public = match code {
        ErrorCode::StreamInterrupted => {
            let message = if admin {
                format!("{STREAM_CUT} ({detail})")
            } else {
                STREAM_CUT.to_owned()
            };
            return (PROVIDER_STREAM_INTERRUPTED, message);
        }
        _ if admin => None,
        ErrorCode::BudgetExceeded => Some(BUDGET_EXCEEDED),
        ErrorCode::AllProvidersFailed => Some(ALL_PROVIDERS_FAILED),
        _ => None,
    };
    match public {
        Some(message) => {
            tracing::info!(reason = code.reason(), detail = %detail, "gateway.detail_withheld");
            (code.reason(), message.to_owned())
        }
        None => (code.reason(), detail),
    }
}
