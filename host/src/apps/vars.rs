//! Variables and secrets of an app: `KEY = value` pairs set through the admin API, kept in the
//! app's row (a secret's value sealed with the node's secrets key, [`crate::secrets`]) and given
//! to every new instance ([`crate::runtime::caps::vars`]). They are not part of a code version:
//! a change applies to the version served (and to any version rolled back to), and redeploys it
//! on every node — new requests see the new value, requests in flight finish with the old one.
//! A secret is write-only: every view shows it as [`MASK`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Apps, AppsError, Record};
use crate::kind::AppKind;
use crate::store::Save;

/// What views show instead of a secret's value.
pub const MASK: &str = "********";
/// The most variables an app has.
pub const MAX_VARS: usize = 100;
/// The longest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 32 << 10;

/// One variable as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredVar {
    /// The value; a secret's sealed.
    pub value: String,
    /// Whether it is a secret.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

/// An app's variables, by name.
pub type StoredVars = BTreeMap<String, StoredVar>;

/// `PUT /admin-api/v2/{services|functions}/{name}/vars/{KEY}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetVar {
    /// The value (at most 32 KiB of UTF-8, no NUL).
    pub value: String,
    /// A secret is stored encrypted and never shown again [default: false].
    #[serde(default)]
    pub secret: bool,
}

/// A variable as the admin API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct VarView {
    /// The name.
    pub key: String,
    /// The value; `********` for a secret.
    pub value: String,
    /// Whether it is a secret.
    pub secret: bool,
}

/// `GET /admin-api/v2/{services|functions}/{name}/vars`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VarsView {
    /// Every variable, by name.
    pub vars: Vec<VarView>,
}

/// Whether `key` names a variable: a letter or `_`, then letters, digits and `_`, at most 128;
/// `KILN_*` is Kiln's own.
pub fn valid_key(key: &str) -> bool {
    (1..=128).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !key.as_bytes()[0].is_ascii_digit()
        && !key.to_ascii_uppercase().starts_with("KILN_")
}

/// What a sealed secret is bound to: the app and the name.
pub fn seal_context(kind: AppKind, app: &str, key: &str) -> String {
    format!("{kind}/{app}/{key}")
}

fn view(key: &str, var: &StoredVar) -> VarView {
    VarView {
        key: key.to_string(),
        value: if var.secret {
            MASK.into()
        } else {
            var.value.clone()
        },
        secret: var.secret,
    }
}

fn invalid_key(key: &str) -> AppsError {
    AppsError::Invalid(format!(
        "'{key}' is not a variable name: a letter or '_', then letters, digits and '_' (at most 128); KILN_* is reserved"
    ))
}

impl Apps {
    /// Every variable of an app, secrets masked.
    pub async fn vars(&self, kind: AppKind, name: &str) -> Result<VarsView, AppsError> {
        let record = self.record(kind, name).await?;
        Ok(VarsView {
            vars: record.vars.iter().map(|(k, v)| view(k, v)).collect(),
        })
    }

    /// One variable of an app, a secret masked.
    pub async fn var(&self, kind: AppKind, name: &str, key: &str) -> Result<VarView, AppsError> {
        let record = self.record(kind, name).await?;
        record
            .vars
            .get(key)
            .map(|var| view(key, var))
            .ok_or_else(|| AppsError::Missing(format!("{kind} '{name}' has no variable '{key}'")))
    }

    /// Sets a variable (a secret sealed first) and redeploys what is served with it.
    pub async fn set_var(
        &self,
        kind: AppKind,
        name: &str,
        key: &str,
        body: SetVar,
    ) -> Result<VarView, AppsError> {
        if !valid_key(key) {
            return Err(invalid_key(key));
        }
        if body.value.len() > MAX_VALUE_BYTES {
            return Err(AppsError::TooLarge(format!(
                "the value of '{key}' is {} bytes; at most {MAX_VALUE_BYTES}",
                body.value.len()
            )));
        }
        if body.value.contains('\0') {
            return Err(AppsError::Invalid(format!(
                "the value of '{key}' holds a NUL character"
            )));
        }
        let value = if body.secret {
            let secrets = self.secrets.as_ref().ok_or_else(|| {
                AppsError::Unavailable(
                    "this node has no secrets key: the nodes of a cluster share one, given with --secrets-key-file or KILN_SECRETS_KEY".into(),
                )
            })?;
            secrets.seal(&seal_context(kind, name, key), &body.value)
        } else {
            body.value
        };
        let stored = StoredVar {
            value,
            secret: body.secret,
        };
        let shown = view(key, &stored);
        self.change_vars(kind, name, |vars| {
            if !vars.contains_key(key) && vars.len() >= MAX_VARS {
                return Err(AppsError::TooLarge(format!(
                    "{kind} '{name}' has {MAX_VARS} variables, the most an app may have"
                )));
            }
            vars.insert(key.to_string(), stored);
            Ok(())
        })
        .await?;
        Ok(shown)
    }

    /// Deletes a variable and redeploys what is served without it.
    pub async fn delete_var(&self, kind: AppKind, name: &str, key: &str) -> Result<(), AppsError> {
        self.change_vars(kind, name, |vars| match vars.remove(key) {
            Some(_) => Ok(()),
            None => Err(AppsError::Missing(format!(
                "{kind} '{name}' has no variable '{key}'"
            ))),
        })
        .await
    }

    /// Changes an app's variables under its lock, stores them, and serves the active version
    /// with them (other nodes follow from the store's change notification).
    async fn change_vars(
        &self,
        kind: AppKind,
        name: &str,
        change: impl FnOnce(&mut StoredVars) -> Result<(), AppsError>,
    ) -> Result<(), AppsError> {
        let _guard = self.lock(kind, name).await;
        let mut record = self.record(kind, name).await?;
        change(&mut record.vars)?;
        record.updated_at = crate::store::now();
        let prepared = match record.active_version {
            Some(v) => match self.store.version(kind, name, v, true).await? {
                Some(active) => Some((self.prepare(kind, &record, &active).await?, v)),
                None => None,
            },
            None => None,
        };
        self.store
            .save_app(kind, &record.encode(), Save::Update, None)
            .await?;
        if let Some((prepared, version)) = prepared {
            self.activate(kind, &record, version, prepared);
        }
        Ok(())
    }

    /// An app's variables with secrets opened, for its instances.
    pub(super) fn opened_vars(
        &self,
        kind: AppKind,
        record: &Record,
    ) -> Result<Vec<(String, String)>, AppsError> {
        record
            .vars
            .iter()
            .map(|(key, var)| {
                if !var.secret {
                    return Ok((key.clone(), var.value.clone()));
                }
                let secrets = self.secrets.as_ref().ok_or_else(|| {
                    AppsError::Corrupt(format!(
                        "{kind} '{}' has secrets but this node has no secrets key (--secrets-key-file or KILN_SECRETS_KEY): it is not served",
                        record.name
                    ))
                })?;
                let plain = secrets
                    .open(&seal_context(kind, &record.name, key), &var.value)
                    .map_err(|error| {
                        AppsError::Corrupt(format!(
                            "the secret '{key}' of {kind} '{}' cannot be opened: {error}; it is not served until the secret is set again",
                            record.name
                        ))
                    })?;
                Ok((key.clone(), plain))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_are_environment_names_and_kiln_keeps_its_own() {
        for good in ["API_KEY", "_x", "Greeting2"] {
            assert!(valid_key(good), "{good}");
        }
        for bad in [
            "",
            "2FA",
            "A-B",
            "KILN_TOKEN",
            "kiln_x",
            "A B",
            &"A".repeat(129),
        ] {
            assert!(!valid_key(bad), "{bad}");
        }
    }

    #[test]
    fn a_secret_is_masked_and_a_plain_variable_is_shown() {
        let secret = StoredVar {
            value: "aes256gcm:00".into(),
            secret: true,
        };
        assert_eq!(view("K", &secret).value, MASK);
        let plain = StoredVar {
            value: "hello".into(),
            secret: false,
        };
        assert_eq!(view("K", &plain).value, "hello");
        assert_eq!(
            serde_json::to_string(&plain).expect("test"),
            r#"{"value":"hello"}"#
        );
    }
}
