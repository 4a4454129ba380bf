//! Who may call the ledger's RPCs. Writes (usage records, budget resets): the
//! router only, so nobody else can forge or erase spend. The month's spend:
//! the router (to rebuild its budget) and administrators. Reports:
//! administrators, through the gateway's admin API or an operator's token.

use service_kit::auth::{Issuer, Need, Rule, grant};

const ROUTER: Rule = &[grant(Issuer::Router, Need::Any)];
const ROUTER_OR_ADMINS: Rule = &[
    grant(Issuer::Router, Need::Any),
    grant(Issuer::Gateway, Need::Admin),
    grant(Issuer::Operator, Need::Admin),
];
const ADMINS: Rule = &[
    grant(Issuer::Gateway, Need::Admin),
    grant(Issuer::Operator, Need::Admin),
];

pub fn policy(method: &str) -> Option<Rule> {
    match method.strip_prefix("/fluentedge.usage.v1.UsageLedger/")? {
        "RecordUsage" | "RecordUsageBatch" | "RecordBudgetReset" => Some(ROUTER),
        "GetSpend" => Some(ROUTER_OR_ADMINS),
        "GetUsageSummary" | "ListUsage" => Some(ADMINS),
        _ => None,
    }
}
