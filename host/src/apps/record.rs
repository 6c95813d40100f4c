//! A stored app, typed: the store keeps grants, limits, isolation, schema and variables as
//! text; they are decoded once, here, and a value that does not decode is [`AppsError::Corrupt`]
//! naming the app and the column. A damaged grant never silently becomes "no grants".

use serde::de::DeserializeOwned;

use super::AppsError;
use super::model::{LimitsSpec, Permissions};
use super::vars::StoredVars;
use crate::config::Isolation;
use crate::kind::AppKind;
use crate::runtime::Access;
use crate::store::AppRow;

/// A service or function as stored, with its columns decoded.
#[derive(Debug, Clone)]
pub struct Record {
    /// Unique name within its kind.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Served or not.
    pub enabled: bool,
    /// Whether callers need a token.
    pub jwt_check: bool,
    /// What the app may touch.
    pub permissions: Permissions,
    /// The app's own OpenAPI document.
    pub schema: Option<serde_json::Value>,
    /// The app's own limits.
    pub limits: LimitsSpec,
    /// The app's own isolation (the node's default otherwise).
    pub isolation: Option<Isolation>,
    /// Variables and secrets (secrets sealed).
    pub vars: StoredVars,
    /// Cron expressions it is run on.
    pub schedule: Vec<String>,
    /// The version served.
    pub active_version: Option<i64>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// What shapes how an app runs besides its code: a deployment is made again when it changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    permissions: Permissions,
    limits: LimitsSpec,
    isolation: Option<Isolation>,
    vars: StoredVars,
}

impl Record {
    /// A new app: enabled, no token needed, nothing granted, no version yet.
    pub fn new(name: &str, description: &str) -> Self {
        let now = crate::store::now();
        Self {
            name: name.to_string(),
            description: description.to_string(),
            enabled: true,
            jwt_check: false,
            permissions: Permissions::default(),
            schema: None,
            limits: LimitsSpec::default(),
            isolation: None,
            vars: StoredVars::new(),
            schedule: Vec::new(),
            active_version: None,
            created_at: now.clone(),
            updated_at: now,
        }
    }

    /// Decodes a stored row.
    pub fn decode(kind: AppKind, row: AppRow) -> Result<Self, AppsError> {
        let column = |column: &str, error: &dyn std::fmt::Display| {
            AppsError::Corrupt(format!(
                "the stored {column} of {kind} '{}' cannot be read ({error}): it is not served until it is set again",
                row.name
            ))
        };
        let permissions = decode(&row.permissions).map_err(|e| column("permissions", &e))?;
        let limits = decode(&row.limits).map_err(|e| column("limits", &e))?;
        let schema = match row.schema.as_deref() {
            Some(text) => Some(decode(text).map_err(|e| column("schema", &e))?),
            None => None,
        };
        let isolation = match row.isolation.as_deref() {
            None => None,
            Some("reuse") => Some(Isolation::Reuse),
            Some("request") => Some(Isolation::Request),
            Some(other) => return Err(column("isolation", &format!("'{other}'"))),
        };
        let vars = decode(&row.vars).map_err(|e| column("vars", &e))?;
        let schedule = decode(&row.schedule).map_err(|e| column("schedule", &e))?;
        Ok(Self {
            name: row.name,
            description: row.description,
            enabled: row.enabled,
            jwt_check: row.jwt_check,
            permissions,
            schema,
            limits,
            isolation,
            vars,
            schedule,
            active_version: row.active_version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    /// The row to store.
    pub fn encode(&self) -> AppRow {
        AppRow {
            name: self.name.clone(),
            description: self.description.clone(),
            enabled: self.enabled,
            jwt_check: self.jwt_check,
            permissions: encode(&self.permissions),
            schema: self.schema.as_ref().map(|s| s.to_string()),
            limits: encode(&self.limits),
            isolation: self.isolation.map(|i| i.as_str().to_string()),
            vars: encode(&self.vars),
            schedule: encode(&self.schedule),
            active_version: self.active_version,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }

    /// Who may call it.
    pub fn access(&self) -> Access {
        Access {
            enabled: self.enabled,
            jwt_check: self.jwt_check,
        }
    }

    /// What besides its code shapes how it runs.
    pub fn shape(&self) -> Shape {
        Shape {
            permissions: self.permissions.clone(),
            limits: self.limits.clone(),
            isolation: self.isolation,
            vars: self.vars.clone(),
        }
    }
}

fn decode<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    serde_json::from_str(text)
}

fn encode<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("permissions and limits serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_round_trips_and_a_damaged_column_is_an_error_naming_it() {
        let mut record = Record::new("shop", "a shop");
        record.permissions.net = vec!["api.example.com".into()];
        record.limits.memory_mb = Some(64);
        record.isolation = Some(Isolation::Request);
        record.schema = Some(serde_json::json!({"openapi": "3.0.0"}));
        let back =
            Record::decode(AppKind::Service, record.encode()).expect("a row Kiln wrote decodes");
        assert_eq!(back.shape(), record.shape());
        assert_eq!(back.schema, record.schema);

        type Damage = (&'static str, fn(&mut AppRow));
        let damages: [Damage; 5] = [
            ("permissions", |row| {
                row.permissions = "{\"net\": [\"api.exam".into()
            }),
            ("permissions", |row| {
                row.permissions = "{\"nett\": []}".into()
            }),
            ("limits", |row| {
                row.limits = "{\"memory_mb\": \"lots\"}".into()
            }),
            ("schema", |row| row.schema = Some("{".into())),
            ("isolation", |row| row.isolation = Some("shared".into())),
        ];
        for (column, damage) in damages {
            let mut row = record.encode();
            damage(&mut row);
            let error =
                Record::decode(AppKind::Service, row).expect_err("a damaged row is refused");
            assert!(
                matches!(&error, AppsError::Corrupt(m) if m.contains(column) && m.contains("service 'shop'")),
                "{error}"
            );
        }
    }
}
