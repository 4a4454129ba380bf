//! Ed25519 keys: this service's signing key and the public keys it trusts.
//!
//! A trust directory holds one `<issuer>.pem` per issuer (`gateway.pem`,
//! `conversation.pem`, `llm-router.pem`, `operator.pem`, …), each with one or
//! more `PUBLIC KEY` blocks, so a key rotates by adding the new key, rolling
//! the signers, then removing the old one. A key is bound to the issuer whose
//! file holds it: conversation's key cannot sign as the router. Tokens name
//! their key (`kid`, derived from the public key); an unknown `kid` re-reads
//! the directory (at most every few seconds), so rotation needs no restart.

use super::Issuer;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use parking_lot::RwLock;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The public development key pair (`FLUENTEDGE_DEV=1` only). Public on
/// purpose, like the gateway's development JWT secret: it proves nothing
/// outside a developer's machine, and development mode listens on loopback only.
pub const DEVELOPMENT_PRIVATE_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIDYbvMdf6uLQjis0ezhji1jbheyXT39ZE4HKMub4v/a7
-----END PRIVATE KEY-----
";

/// How often an unknown key id may re-read the trust directory.
const RELOAD_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

/// The key id of a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(public: &VerifyingKey) -> String {
    let digest = Sha256::digest(public.as_bytes());
    hex_prefix(&digest, 8)
}

fn hex_prefix(bytes: &[u8], n: usize) -> String {
    bytes.iter().take(n).map(|b| format!("{b:02x}")).collect()
}

/// A private signing key with its key id.
#[derive(Clone)]
pub struct PrivateKey {
    pub(super) encoding: EncodingKey,
    pub(super) kid: String,
    public: VerifyingKey,
}

impl PrivateKey {
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let signing = SigningKey::from_pkcs8_pem(pem)
            .map_err(|e| KeyError(format!("not an Ed25519 private key (PKCS#8 PEM): {e}")))?;
        let encoding = EncodingKey::from_ed_pem(pem.as_bytes())
            .map_err(|e| KeyError(format!("unusable Ed25519 private key: {e}")))?;
        let public = signing.verifying_key();
        Ok(Self {
            encoding,
            kid: key_id(&public),
            public,
        })
    }

    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| KeyError(format!("cannot read {}: {e}", path.display())))?;
        Self::from_pem(&pem)
    }

    pub fn development() -> Self {
        // The constant is a valid key; a failure here is a build defect.
        #[allow(clippy::expect_used)]
        Self::from_pem(DEVELOPMENT_PRIVATE_KEY_PEM).expect("the development key is valid")
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.public
    }
}

/// A new key pair as PEM (private PKCS#8, public SPKI): `gateway keys` and tests.
pub fn generate_pem() -> Result<(String, String), KeyError> {
    let seed: [u8; 32] = rand::random();
    let signing = SigningKey::from_bytes(&seed);
    let private = signing
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError(e.to_string()))?;
    let public = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError(e.to_string()))?;
    Ok((private.to_string(), public))
}

struct Trusted {
    /// `None`: the development key, valid for every issuer.
    issuer: Option<Issuer>,
    key: DecodingKey,
}

enum Source {
    Development,
    Directory(PathBuf),
}

/// The public keys this service accepts, by key id.
pub struct TrustStore {
    source: Source,
    keys: RwLock<HashMap<String, std::sync::Arc<Trusted>>>,
    last_reload: parking_lot::Mutex<Instant>,
}

impl TrustStore {
    pub fn development() -> Self {
        let dev = PrivateKey::development();
        let trusted = Trusted {
            issuer: None,
            key: DecodingKey::from_ed_der(dev.public_key().as_bytes()),
        };
        Self {
            source: Source::Development,
            keys: RwLock::new(HashMap::from([(dev.kid, std::sync::Arc::new(trusted))])),
            last_reload: parking_lot::Mutex::new(Instant::now()),
        }
    }

    /// Reads `dir` now (an unreadable or empty directory is an error).
    pub fn from_dir(dir: &Path) -> Result<Self, KeyError> {
        let keys = read_dir(dir)?;
        if keys.is_empty() {
            return Err(KeyError(format!(
                "{} holds no <issuer>.pem public keys",
                dir.display()
            )));
        }
        Ok(Self {
            source: Source::Directory(dir.to_owned()),
            keys: RwLock::new(keys),
            last_reload: parking_lot::Mutex::new(Instant::now()),
        })
    }

    /// The key `kid` names and the issuer it is bound to (`None`: any issuer).
    pub(super) fn lookup(&self, kid: &str) -> Option<(Option<Issuer>, DecodingKey)> {
        if let Some(found) = self.get(kid) {
            return Some(found);
        }
        self.reload_if_due();
        self.get(kid)
    }

    fn get(&self, kid: &str) -> Option<(Option<Issuer>, DecodingKey)> {
        self.keys.read().get(kid).map(|t| (t.issuer, t.key.clone()))
    }

    fn reload_if_due(&self) {
        let Source::Directory(dir) = &self.source else {
            return;
        };
        {
            let mut last = self.last_reload.lock();
            if last.elapsed() < RELOAD_INTERVAL {
                return;
            }
            *last = Instant::now();
        }
        match read_dir(dir) {
            Ok(keys) if !keys.is_empty() => {
                tracing::info!(keys = keys.len(), "service_auth.trust_reloaded");
                *self.keys.write() = keys;
            }
            Ok(_) => tracing::error!(dir = %dir.display(), "service_auth.trust_dir_empty"),
            Err(e) => tracing::error!(error = %e, "service_auth.trust_reload_failed"),
        }
    }
}

fn read_dir(dir: &Path) -> Result<HashMap<String, std::sync::Arc<Trusted>>, KeyError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| KeyError(format!("cannot read {}: {e}", dir.display())))?;
    let mut keys = HashMap::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        // Kubernetes mounts Secrets with dot-prefixed links; only <issuer>.pem counts.
        let Some(issuer) = name
            .strip_suffix(".pem")
            .and_then(|n| n.parse::<Issuer>().ok())
        else {
            continue;
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| KeyError(format!("cannot read {}: {e}", path.display())))?;
        for block in pem_blocks(&text) {
            let public = VerifyingKey::from_public_key_pem(&block).map_err(|e| {
                KeyError(format!(
                    "{}: not an Ed25519 public key: {e}",
                    path.display()
                ))
            })?;
            let trusted = Trusted {
                issuer: Some(issuer),
                key: DecodingKey::from_ed_der(public.as_bytes()),
            };
            keys.insert(key_id(&public), std::sync::Arc::new(trusted));
        }
    }
    Ok(keys)
}

/// The `PUBLIC KEY` PEM blocks in `text`.
fn pem_blocks(text: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
    const END: &str = "-----END PUBLIC KEY-----";
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let end = start + len + END.len();
        blocks.push(format!("{}\n", &rest[start..end]));
        rest = &rest[end..];
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_load_and_share_a_key_id() {
        let (private, public) = generate_pem().unwrap();
        let key = PrivateKey::from_pem(&private).unwrap();
        let vk = VerifyingKey::from_public_key_pem(&public).unwrap();
        assert_eq!(key.kid, key_id(&vk));
        assert_eq!(key.kid.len(), 16);
    }

    #[test]
    fn a_directory_binds_each_key_to_its_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let (_, a) = generate_pem().unwrap();
        let (_, b) = generate_pem().unwrap();
        // Two keys in one file: a rotation in progress.
        std::fs::write(dir.path().join("gateway.pem"), format!("{a}{b}")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let store = TrustStore::from_dir(dir.path()).unwrap();
        for pem in [a, b] {
            let kid = key_id(&VerifyingKey::from_public_key_pem(&pem).unwrap());
            assert_eq!(store.lookup(&kid).map(|k| k.0), Some(Some(Issuer::Gateway)));
        }
        assert!(store.lookup("0000000000000000").is_none());
    }

    #[test]
    fn bad_key_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("operator.pem"),
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        )
        .unwrap();
        let err = TrustStore::from_dir(dir.path()).err().unwrap().to_string();
        assert!(err.contains("operator.pem"), "{err}");
        assert!(PrivateKey::from_pem("nonsense").is_err());
    }
}
