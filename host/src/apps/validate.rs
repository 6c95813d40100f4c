//! Checks on what the admin API is given, before anything is compiled or stored.

use std::path::Path;

use super::AppsError;
use super::model::Permissions;

/// Checks an app name: `^[a-z0-9][a-z0-9-]{0,62}$`.
pub fn name(name: &str) -> Result<(), AppsError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(AppsError::Invalid(format!(
            "invalid name '{name}': names match ^[a-z0-9][a-z0-9-]{{0,62}}$"
        )))
    }
}

/// Checks grants: `run` must be empty, directories must exist and be absolute.
pub fn permissions(p: &Permissions) -> Result<(), AppsError> {
    if !p.run.is_empty() {
        return Err(AppsError::Invalid(format!(
            "permissions.run must be empty: WebAssembly guests cannot start processes (got {:?})",
            p.run
        )));
    }
    for dir in p.read.iter().chain(&p.write) {
        let path = Path::new(dir);
        if !path.is_absolute() || !path.is_dir() {
            return Err(AppsError::Invalid(format!(
                "permission path '{dir}' is not an existing absolute directory"
            )));
        }
    }
    Ok(())
}

/// An OpenAPI document given as an object or as a JSON string; empty means none.
pub fn schema(schema: Option<serde_json::Value>) -> Result<Option<serde_json::Value>, AppsError> {
    use serde_json::Value;
    match schema {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(&text) {
            Ok(value @ Value::Object(_)) => Ok(Some(value)),
            Ok(_) => Err(AppsError::Invalid("schema must be a JSON object".into())),
            Err(e) => Err(AppsError::Invalid(format!("schema is not valid JSON: {e}"))),
        },
        Some(value @ Value::Object(_)) => Ok(Some(value)),
        Some(_) => Err(AppsError::Invalid(
            "schema must be a JSON object or a JSON string".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_pattern() {
        for good in ["a", "hello", "my-service-2", "0x"] {
            assert!(name(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "A", "a_b", "a/b", &"x".repeat(64)] {
            assert!(name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn run_grants_and_relative_or_missing_directories_are_refused() {
        let run = Permissions {
            run: vec!["ls".into()],
            ..Permissions::default()
        };
        assert!(permissions(&run).is_err());
        let relative = Permissions {
            read: vec!["data".into()],
            ..Permissions::default()
        };
        assert!(permissions(&relative).is_err());
        let tmp = Permissions {
            read: vec![std::env::temp_dir().to_string_lossy().into_owned()],
            ..Permissions::default()
        };
        assert!(permissions(&tmp).is_ok());
    }

    #[test]
    fn schemas_come_as_objects_or_json_strings() {
        let object = serde_json::json!({"openapi": "3.0.0"});
        assert_eq!(
            schema(Some(object.clone())).ok(),
            Some(Some(object.clone()))
        );
        let text = serde_json::Value::String(object.to_string());
        assert_eq!(schema(Some(text)).ok(), Some(Some(object)));
        assert_eq!(schema(Some("".into())).ok(), Some(None));
        assert!(schema(Some("[1]".into())).is_err());
        assert!(schema(Some(serde_json::json!(3))).is_err());
    }
}
