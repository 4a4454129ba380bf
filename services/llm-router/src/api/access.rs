//! Who may call the router's RPCs. LLM calls: the gateway (OpenAI-compatible
//! API), conversation (the tutor) and operators. `RouterAdmin` (budget resets,
//! provider pins, state): administrators only, through the gateway's admin API
//! or an operator's token.

use service_kit::auth::{Issuer, Need, Rule, grant};

const CALLERS: Rule = &[
    grant(Issuer::Gateway, Need::Any),
    grant(Issuer::Conversation, Need::Any),
    grant(Issuer::Operator, Need::Any),
];
const ADMINS: Rule = &[
    grant(Issuer::Gateway, Need::Admin),
    grant(Issuer::Operator, Need::Admin),
];

pub fn policy(method: &str) -> Option<Rule> {
    if method.starts_with("/fluentedge.router.v1.LlmRouter/") {
        Some(CALLERS)
    } else if method.starts_with("/fluentedge.router.v1.RouterAdmin/") {
        Some(ADMINS)
    } else {
        None
    }
}
