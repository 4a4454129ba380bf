//! Service credentials from the environment, failing closed.
//!
//! | variable | meaning |
//! | --- | --- |
//! | `SERVICE_AUTH_KEY_FILE` | this service's Ed25519 private key (PKCS#8 PEM) |
//! | `SERVICE_AUTH_TRUST_DIR` | directory of `<issuer>.pem` public keys it accepts |
//! | `SERVICE_AUTH_TOKEN_TTL_SECS` | lifetime of the tokens it signs (default 120) |
//! | `FLUENTEDGE_DEV` | `1`: with neither of the above, the public development key |
//!
//! Without keys and without the development switch the process exits 78
//! naming the missing variable.

use super::keys::{PrivateKey, TrustStore};
use super::{Issuer, ServiceAuth, Signer, Verifier};
use crate::config::{ConfigError, Env};
use std::path::Path;
use std::time::Duration;

pub const KEY_FILE_VAR: &str = "SERVICE_AUTH_KEY_FILE";
pub const TRUST_DIR_VAR: &str = "SERVICE_AUTH_TRUST_DIR";
pub const TTL_VAR: &str = "SERVICE_AUTH_TOKEN_TTL_SECS";

/// How a service authenticates: it signs as `issuer` when `signs` (a service
/// that calls no other, like usage-accounting, needs no private key).
pub struct AuthSettings {
    pub issuer: Issuer,
    pub signs: bool,
}

impl AuthSettings {
    pub fn new(issuer: Issuer, signs: bool) -> Self {
        Self { issuer, signs }
    }

    pub fn load(&self, env: &Env) -> Result<ServiceAuth, ConfigError> {
        let ttl_secs: u64 = env.parse_or(TTL_VAR, 120)?;
        if !(10..=3600).contains(&ttl_secs) {
            return Err(ConfigError::new(TTL_VAR, "must be 10 to 3600 seconds"));
        }
        let ttl = Duration::from_secs(ttl_secs);
        let key_file = env.get(KEY_FILE_VAR);
        let trust_dir = env.get(TRUST_DIR_VAR);
        if key_file.is_none() && trust_dir.is_none() {
            if !env.dev_mode()? {
                let missing = if self.signs {
                    KEY_FILE_VAR
                } else {
                    TRUST_DIR_VAR
                };
                return Err(ConfigError::new(
                    missing,
                    format!(
                        "not set: every gRPC call is authenticated; set {KEY_FILE_VAR} and \
                         {TRUST_DIR_VAR} (docs/RUNBOOK.md, service keys), or FLUENTEDGE_DEV=1 \
                         for development on loopback"
                    ),
                ));
            }
            return Ok(ServiceAuth {
                signer: self
                    .signs
                    .then(|| Signer::new(self.issuer, PrivateKey::development(), ttl)),
                verifier: Verifier::new(TrustStore::development()),
            });
        }
        let trust_dir = trust_dir.ok_or_else(|| {
            ConfigError::new(TRUST_DIR_VAR, format!("not set (while {KEY_FILE_VAR} is)"))
        })?;
        let verifier = Verifier::new(
            TrustStore::from_dir(Path::new(trust_dir))
                .map_err(|e| ConfigError::new(TRUST_DIR_VAR, e.to_string()))?,
        );
        let signer = match (self.signs, key_file) {
            (false, _) => None,
            (true, None) => {
                return Err(ConfigError::new(
                    KEY_FILE_VAR,
                    format!("not set (while {TRUST_DIR_VAR} is)"),
                ));
            }
            (true, Some(path)) => Some(Signer::new(
                self.issuer,
                PrivateKey::from_file(Path::new(path))
                    .map_err(|e| ConfigError::new(KEY_FILE_VAR, e.to_string()))?,
                ttl,
            )),
        };
        Ok(ServiceAuth { signer, verifier })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::auth::keys::generate_pem;

    fn load(pairs: &[(&str, &str)], signs: bool) -> Result<ServiceAuth, ConfigError> {
        AuthSettings::new(Issuer::Gateway, signs).load(&Env::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn no_keys_and_no_development_switch_names_the_variable() {
        assert_eq!(load(&[], true).err().unwrap().var, KEY_FILE_VAR);
        assert_eq!(load(&[], false).err().unwrap().var, TRUST_DIR_VAR);
        // An empty value (an empty key in a Secret) is no key.
        assert_eq!(
            load(&[(KEY_FILE_VAR, "")], true).err().unwrap().var,
            KEY_FILE_VAR
        );
        assert_eq!(
            load(&[("FLUENTEDGE_DEV", "0")], true).err().unwrap().var,
            KEY_FILE_VAR
        );
        assert_eq!(
            load(&[("FLUENTEDGE_DEV", "perhaps")], true)
                .err()
                .unwrap()
                .var,
            "FLUENTEDGE_DEV"
        );
    }

    #[test]
    fn development_mode_uses_the_development_key() {
        let auth = load(&[("FLUENTEDGE_DEV", "1")], true).unwrap();
        let token = auth
            .signer
            .as_ref()
            .unwrap()
            .token(None, Role::Service)
            .unwrap();
        assert_eq!(
            auth.verifier.verify(&token).unwrap().issuer,
            Issuer::Gateway
        );
    }

    #[test]
    fn files_are_checked_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = generate_pem().unwrap();
        let key = dir.path().join("key.pem");
        std::fs::write(&key, private).unwrap();
        let trust = dir.path().join("trust");
        std::fs::create_dir(&trust).unwrap();
        let trust_s = trust.to_str().unwrap();
        let key_s = key.to_str().unwrap();
        // An empty trust directory, a missing key file, a half configuration.
        assert_eq!(
            load(&[(KEY_FILE_VAR, key_s), (TRUST_DIR_VAR, trust_s)], true)
                .err()
                .unwrap()
                .var,
            TRUST_DIR_VAR
        );
        std::fs::write(trust.join("gateway.pem"), public).unwrap();
        assert_eq!(
            load(
                &[(KEY_FILE_VAR, "/nonexistent.pem"), (TRUST_DIR_VAR, trust_s)],
                true
            )
            .err()
            .unwrap()
            .var,
            KEY_FILE_VAR
        );
        assert_eq!(
            load(&[(KEY_FILE_VAR, key_s)], true).err().unwrap().var,
            TRUST_DIR_VAR
        );
        assert_eq!(
            load(&[(TRUST_DIR_VAR, trust_s)], true).err().unwrap().var,
            KEY_FILE_VAR
        );
        let auth = load(&[(KEY_FILE_VAR, key_s), (TRUST_DIR_VAR, trust_s)], true).unwrap();
        let token = auth
            .signer
            .as_ref()
            .unwrap()
            .token(Some("a"), Role::User)
            .unwrap();
        assert!(auth.verifier.verify(&token).is_ok());
        // A verifying-only service needs no key file.
        assert!(
            load(&[(TRUST_DIR_VAR, trust_s)], false)
                .unwrap()
                .signer
                .is_none()
        );
    }
}
