//! Who may call conversation's RPCs: the gateway (or an operator) on behalf of
//! a verified person, who is the only one whose sessions the call can touch
//! (the service scopes every query by that subject).

use service_kit::auth::{Issuer, Need, Rule, grant};

const LEARNER: Rule = &[
    grant(Issuer::Gateway, Need::Person),
    grant(Issuer::Operator, Need::Person),
];

pub fn policy(method: &str) -> Option<Rule> {
    method
        .strip_prefix("/fluentedge.conversation.v1.ConversationService/")
        .map(|_| LEARNER)
}
