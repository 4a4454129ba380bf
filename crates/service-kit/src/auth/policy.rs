//! Who may call which RPC. Each server declares a [`Policy`]: a rule per
//! method, written next to the service it guards. A method without a rule is
//! refused: a new RPC is closed until someone decides who may call it.

use super::{Caller, Issuer, Role};

/// What a caller must be, beyond being one of the rule's issuers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any verified call from the issuers (a service's own call or one made for a person).
    Any,
    /// A call made for a person (learner, SDK user or admin), who is the subject.
    Person,
    /// A call made for an administrator or operator.
    Admin,
}

/// One issuer allowed to call a method, and what its caller must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub issuer: Issuer,
    pub need: Need,
}

/// The grants of one method: a caller passes when any grant admits it.
pub type Rule = &'static [Grant];

/// A grant (for `const` rule tables).
pub const fn grant(issuer: Issuer, need: Need) -> Grant {
    Grant { issuer, need }
}

/// The rule for a full gRPC method path (`/package.Service/Method`), or `None`.
pub type Policy = fn(&str) -> Option<Rule>;

/// The policy of a server that declared none: every RPC refused.
pub fn deny_all(_: &str) -> Option<Rule> {
    None
}

/// Why a caller may not make a call (sent as PERMISSION_DENIED).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

/// Whether `caller` may call `method` under `policy`.
pub fn check(policy: Policy, method: &str, caller: &Caller) -> Result<(), Denied> {
    let Some(rule) = policy(method) else {
        return Err(Denied(format!("{method} is not open to any caller")));
    };
    let mut grants = rule.iter().filter(|g| g.issuer == caller.issuer).peekable();
    if grants.peek().is_none() {
        return Err(Denied(format!(
            "{} may not call {method}",
            caller.issuer.as_str()
        )));
    }
    let mut refusal = String::new();
    for g in grants {
        match g.need {
            Need::Any => return Ok(()),
            Need::Person if caller.subject.is_some() => return Ok(()),
            Need::Admin if caller.role == Role::Admin => return Ok(()),
            Need::Person => {
                refusal = format!("{method} is made for a person: the token names no subject")
            }
            Need::Admin => refusal = format!("{method} needs the admin role"),
        }
    }
    Err(Denied(refusal))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEARN: Rule = &[grant(Issuer::Gateway, Need::Person)];
    const ADMIN: Rule = &[
        grant(Issuer::Gateway, Need::Admin),
        grant(Issuer::Operator, Need::Admin),
    ];
    const WRITE: Rule = &[grant(Issuer::Router, Need::Any)];

    fn policy(method: &str) -> Option<Rule> {
        match method {
            "/p.S/Learn" => Some(LEARN),
            "/p.S/Admin" => Some(ADMIN),
            "/p.S/Write" => Some(WRITE),
            _ => None,
        }
    }

    fn caller(issuer: Issuer, subject: Option<&str>, role: Role) -> Caller {
        Caller {
            issuer,
            subject: subject.map(str::to_owned),
            role,
        }
    }

    #[test]
    fn rules_check_issuer_subject_and_role() {
        let learner = caller(Issuer::Gateway, Some("a"), Role::User);
        let admin = caller(Issuer::Gateway, Some("root"), Role::Admin);
        let operator = caller(Issuer::Operator, Some("ops"), Role::Admin);
        let router = caller(Issuer::Router, None, Role::Service);
        assert!(check(policy, "/p.S/Learn", &learner).is_ok());
        assert!(check(policy, "/p.S/Learn", &router).is_err());
        assert!(
            check(
                policy,
                "/p.S/Learn",
                &caller(Issuer::Gateway, None, Role::Service)
            )
            .is_err()
        );
        assert!(check(policy, "/p.S/Admin", &learner).is_err());
        assert!(check(policy, "/p.S/Admin", &admin).is_ok());
        assert!(check(policy, "/p.S/Admin", &operator).is_ok());
        assert!(check(policy, "/p.S/Write", &router).is_ok());
        assert!(check(policy, "/p.S/Write", &admin).is_err());
        assert!(check(policy, "/p.S/Unknown", &admin).is_err());
        assert!(check(deny_all, "/p.S/Learn", &learner).is_err());
    }
}
