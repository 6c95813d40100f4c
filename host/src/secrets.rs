//! The key apps' secrets are encrypted with (AES-256-GCM), kept outside the database so that a
//! copy of the database alone reveals no secret: a file in the data dir on one node
//! (`secrets.key`, made on first start), or `--secrets-key-file` / `KILN_SECRETS_KEY` shared by
//! every node of a cluster. Each secret is sealed with a nonce of its own and bound to the app
//! and the variable it belongs to, so a sealed value moved to another app or name does not open.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// The file the key lives in when none is given.
pub const KEY_FILE: &str = "secrets.key";
/// What a sealed value starts with (the format's version).
const SEALED_PREFIX: &str = "aes256gcm:";

/// A secrets key. Its `Debug` shows only a fingerprint.
#[derive(Clone)]
pub struct SecretKey {
    key: Arc<LessSafeKey>,
    fingerprint: String,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.fingerprint)
    }
}

/// Why a sealed value does not open.
#[derive(Debug, thiserror::Error)]
#[error("it was not sealed with this node's secrets key (or was changed since)")]
pub struct WrongKey;

impl SecretKey {
    /// A key from its text: 64 hexadecimal digits (32 bytes), surrounding space ignored.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let bytes = hex::decode(text.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .context("a secrets key is 64 hexadecimal digits (32 random bytes, e.g. `openssl rand -hex 32`)")?;
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> anyhow::Result<Self> {
        use sha2::Digest as _;
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| anyhow::anyhow!("a secrets key is 32 bytes"))?;
        let digest = sha2::Sha256::digest(bytes);
        Ok(Self {
            key: Arc::new(LessSafeKey::new(unbound)),
            fingerprint: hex::encode(&digest[..4]),
        })
    }

    /// The key in `file`.
    pub fn read(file: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the secrets key {}", file.display()))?;
        Self::parse(&text).with_context(|| format!("the secrets key {}", file.display()))
    }

    /// The key in `file`, made there first (random, readable by its owner only) when there is
    /// none.
    pub fn read_or_create(file: &Path) -> anyhow::Result<Self> {
        if file.exists() {
            return Self::read(file);
        }
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| anyhow::anyhow!("no randomness for a secrets key"))?;
        let text = format!("{}\n", hex::encode(bytes));
        write_private(file, text.as_bytes())
            .with_context(|| format!("writing the secrets key {}", file.display()))?;
        Self::from_bytes(&bytes)
    }

    /// A short, non-secret name of the key (the first bytes of its SHA-256), to tell nodes'
    /// keys apart.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// `plain` sealed for `context` (the app and variable it belongs to), as text.
    pub fn seal(&self, context: &str, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system's randomness");
        let mut sealed = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .expect("sealing fits in memory");
        format!(
            "{SEALED_PREFIX}{}{}",
            hex::encode(nonce),
            hex::encode(sealed)
        )
    }

    /// What [`SecretKey::seal`] sealed for `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<String, WrongKey> {
        let bytes = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|hex_text| hex::decode(hex_text).ok())
            .filter(|b| b.len() >= NONCE_LEN)
            .ok_or(WrongKey)?;
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| WrongKey)?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut body)
            .map_err(|_| WrongKey)?;
        String::from_utf8(plain.to_vec()).map_err(|_| WrongKey)
    }
}

/// Writes `bytes` to a new `file` only its owner may read.
fn write_private(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(file)?;
    out.write_all(bytes)?;
    out.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_context() {
        let dir = tempfile::tempdir().expect("test");
        let key = SecretKey::read_or_create(&dir.path().join(KEY_FILE)).expect("test");
        let again = SecretKey::read_or_create(&dir.path().join(KEY_FILE)).expect("test");
        assert_eq!(key.fingerprint(), again.fingerprint());
        let sealed = key.seal("service/shop/API_KEY", "s3cret");
        assert!(!sealed.contains("s3cret"));
        assert_ne!(sealed, key.seal("service/shop/API_KEY", "s3cret"));
        assert_eq!(
            again.open("service/shop/API_KEY", &sealed).expect("test"),
            "s3cret"
        );
        assert!(key.open("service/other/API_KEY", &sealed).is_err());
        let other = SecretKey::parse(&"ab".repeat(32)).expect("test");
        assert!(other.open("service/shop/API_KEY", &sealed).is_err());
        let mut damaged = sealed.clone();
        let last = damaged.pop().expect("test");
        damaged.push(if last == '0' { '1' } else { '0' });
        assert!(key.open("service/shop/API_KEY", &damaged).is_err());
        assert!(SecretKey::parse("short").is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .expect("test")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
