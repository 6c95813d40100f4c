//! Checks on what the admin API is given, before anything is compiled or stored.

use std::path::{Path, PathBuf};

use super::AppsError;
use super::model::{LimitsSpec, Permissions};
use crate::runtime::caps::net_grant::NetGrant;

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

/// What grants must not reach: Kiln's own data (database, secret, compiled native code), the
/// user's Kiln cache (whose compiled engine a server copies and maps as native code), the
/// directory of the running binary, and the kernel's pseudo file systems.
pub struct Guard<'a> {
    /// Kiln's data dir, canonical.
    pub data_dir: &'a Path,
    /// The one directory inside it that may be granted, for reading: the app's own static
    /// assets (`{data_dir}/static/{name}`).
    pub own_static: Option<&'a Path>,
}

/// A directory no grant may be, contain or enter, and why.
struct Protected {
    dir: PathBuf,
    what: String,
    /// Only writing is refused (reading it reveals nothing secret).
    write_only: bool,
}

impl Guard<'_> {
    /// Every protected directory: the data dir, the user's Kiln cache (`$XDG_CACHE_HOME/kiln`,
    /// `~/.cache/kiln`: `kiln run`'s data dir, and where the shared engine is copied from) and
    /// the running binary's directory (writing there would replace Kiln itself).
    fn protected(&self) -> Vec<Protected> {
        let canonical = |dir: PathBuf| dir.canonicalize().unwrap_or(dir);
        let mut dirs = vec![Protected {
            dir: self.data_dir.to_path_buf(),
            what: format!("Kiln's data dir ({})", self.data_dir.display()),
            write_only: false,
        }];
        if let Some(cache) = crate::config::user_cache_dir() {
            let cache = canonical(cache);
            dirs.push(Protected {
                what: format!("Kiln's cache ({})", cache.display()),
                dir: cache,
                write_only: false,
            });
        }
        if let Some(bin) = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
        {
            let bin = canonical(bin);
            dirs.push(Protected {
                what: format!("the directory of Kiln's binary ({})", bin.display()),
                dir: bin,
                write_only: true,
            });
        }
        dirs
    }
}

/// Directories no grant may equal or enter.
const SYSTEM_DIRS: [&str; 3] = ["/proc", "/sys", "/dev"];

/// Checks grants and returns them canonicalised: `run` must be empty; directories must exist,
/// and neither be `/`, a system directory, nor touch Kiln's data dir; `env` names must not be
/// Kiln's own; `net` entries must be hosts, `*.domain`, `host:port` or IP literals; `kv`
/// entries must be store names; `services` entries app names whose bindings are not a store's.
pub fn permissions(p: &Permissions, guard: &Guard<'_>) -> Result<Permissions, AppsError> {
    if !p.run.is_empty() {
        return Err(AppsError::Invalid(format!(
            "permissions.run must be empty: WebAssembly guests cannot start processes (got {:?})",
            p.run
        )));
    }
    let dirs = |list: &[String], field: &str| -> Result<Vec<String>, AppsError> {
        list.iter()
            .map(|dir| directory(dir, field, guard))
            .collect()
    };
    for name in &p.env {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            return Err(AppsError::Invalid(format!(
                "permissions.env: '{name}' is not a variable name"
            )));
        }
        if name.to_ascii_uppercase().starts_with("KILN_") {
            return Err(AppsError::Invalid(format!(
                "permissions.env: '{name}' is refused: KILN_* variables are Kiln's own configuration"
            )));
        }
    }
    let net = p
        .net
        .iter()
        .map(|entry| net_grant(entry).map(|grant| grant.to_string()))
        .collect::<Result<_, _>>()?;
    let mut kv: Vec<String> = Vec::new();
    for store in &p.kv {
        if !crate::runtime::caps::kv::valid_store_name(store) {
            return Err(AppsError::Invalid(format!(
                "permissions.kv: '{store}' is not a store name (1-64 of a-z, 0-9, '_' and '-', \
                 starting with a letter or digit)"
            )));
        }
        if !kv.contains(store) {
            kv.push(store.clone());
        }
    }
    let services = services(&p.services, &kv)?;
    Ok(Permissions {
        read: dirs(&p.read, "read")?,
        write: dirs(&p.write, "write")?,
        env: p.env.clone(),
        net,
        run: Vec::new(),
        kv,
        services,
    })
}

/// The `services` grant, without repeats: app names, none of them `kv` (the key-value host)
/// and none bound to the same name in `env` as a granted store.
fn services(granted: &[String], stores: &[String]) -> Result<Vec<String>, AppsError> {
    use crate::runtime::caps::{kv, services};
    let mut names: Vec<String> = Vec::new();
    for service in granted {
        name(service).map_err(|_| {
            AppsError::Invalid(format!(
                "permissions.services: '{service}' is not an app name (1-63 of a-z, 0-9 and '-', \
                 starting with a letter or digit)"
            ))
        })?;
        if format!("{service}{}", services::DOMAIN) == kv::INTERNAL_HOST {
            return Err(AppsError::Invalid(format!(
                "permissions.services: '{service}' cannot be bound: {} is the key-value stores' host",
                kv::INTERNAL_HOST
            )));
        }
        let binding = services::binding_name(service);
        if let Some(store) = stores.iter().find(|s| kv::binding_name(s) == binding) {
            return Err(AppsError::Invalid(format!(
                "permissions.services: '{service}' and the store '{store}' would both be env.{binding}"
            )));
        }
        if !names.contains(service) {
            names.push(service.clone());
        }
    }
    Ok(names)
}

/// Checks the directory grants of a stored app again before it is served: what Kiln protects may
/// have moved since they were stored (another data dir, cache or binary; a row written by
/// another node or by hand). A directory that no longer exists is not opened, so it is let be.
pub fn stored_directories(p: &Permissions, guard: &Guard<'_>) -> Result<(), AppsError> {
    for (dirs, field) in [(&p.read, "read"), (&p.write, "write")] {
        for dir in dirs.iter().filter(|dir| Path::new(dir.as_str()).exists()) {
            directory(dir, field, guard)?;
        }
    }
    Ok(())
}

/// One directory grant, canonicalised (symbolic links resolved) and checked.
fn directory(dir: &str, field: &str, guard: &Guard<'_>) -> Result<String, AppsError> {
    let invalid =
        |rule: &str| AppsError::Invalid(format!("permissions.{field}: '{dir}' is refused: {rule}"));
    let path = Path::new(dir);
    if !path.is_absolute() {
        return Err(invalid("the path must be absolute"));
    }
    let canonical = path
        .canonicalize()
        .map_err(|_| invalid("no such directory"))?;
    if !canonical.is_dir() {
        return Err(invalid("not a directory"));
    }
    if canonical == Path::new("/") {
        return Err(invalid("granting the whole file system is not allowed"));
    }
    if let Some(system) = SYSTEM_DIRS
        .iter()
        .find(|system| canonical.starts_with(system))
    {
        return Err(invalid(&format!("{system} is never granted")));
    }
    let own = field == "read" && guard.own_static.is_some_and(|own| canonical == own);
    if own {
        return Ok(canonical.to_string_lossy().into_owned());
    }
    for protected in guard.protected() {
        if protected.write_only && field == "read" {
            continue;
        }
        if canonical.starts_with(&protected.dir) || protected.dir.starts_with(&canonical) {
            return Err(invalid(&format!(
                "it is, contains or is inside {}",
                protected.what
            )));
        }
    }
    Ok(canonical.to_string_lossy().into_owned())
}

/// One `net` entry, parsed: `host`, `*.domain`, `host:port`, or an IP literal (`[v6]:port` with
/// a port).
pub fn net_grant(entry: &str) -> Result<NetGrant, AppsError> {
    entry
        .parse()
        .map_err(|why| AppsError::Invalid(format!("permissions.net: '{entry}' is refused: {why}")))
}

/// The bounds of `limits`: memory 1..=`max_memory_mb`, timeout 1..=900000 ms, concurrency
/// 1..=1024.
pub fn limits(limits: &LimitsSpec, max_memory_mb: u64) -> Result<(), AppsError> {
    let check = |field: &str, value: Option<u64>, max: u64| match value {
        Some(v) if v < 1 || v > max => Err(AppsError::Invalid(format!(
            "limits.{field} must be from 1 to {max}, got {v}"
        ))),
        _ => Ok(()),
    };
    check("memory_mb", limits.memory_mb, max_memory_mb)?;
    check("timeout_ms", limits.timeout_ms, 900_000)?;
    check(
        "max_concurrency",
        limits.max_concurrency.map(u64::from),
        1024,
    )?;
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

    fn guard(data: &Path) -> Guard<'_> {
        Guard {
            data_dir: data,
            own_static: None,
        }
    }

    fn reading(dir: &str) -> Permissions {
        Permissions {
            read: vec![dir.into()],
            ..Permissions::default()
        }
    }

    #[test]
    fn directory_grants_are_canonical_and_never_reach_kiln_or_the_system() {
        let root = tempfile::tempdir().expect("tempdir");
        let data = root.path().join("data");
        let shared = root.path().join("shared");
        std::fs::create_dir_all(data.join("cache")).expect("dirs");
        std::fs::create_dir_all(&shared).expect("dirs");
        let data = data.canonicalize().expect("canonical");
        let guard = guard(&data);
        let ok = permissions(&reading(&format!("{}/../shared", data.display())), &guard)
            .expect("a plain directory is fine");
        assert_eq!(
            ok.read,
            vec![
                shared
                    .canonicalize()
                    .expect("c")
                    .to_string_lossy()
                    .into_owned()
            ]
        );
        for refused in [
            data.display().to_string(),
            format!("{}/cache", data.display()),
            root.path().display().to_string(),
            "/".into(),
            "/proc".into(),
            "/sys/kernel".into(),
            "/dev".into(),
            "relative/dir".into(),
            "/definitely/not/here".into(),
        ] {
            assert!(
                permissions(&reading(&refused), &guard).is_err(),
                "{refused}"
            );
        }
        #[cfg(unix)]
        {
            let link = root.path().join("sneaky");
            std::os::unix::fs::symlink(data.join("cache"), &link).expect("symlink");
            let error = permissions(&reading(&link.display().to_string()), &guard).err();
            assert!(
                matches!(&error, Some(AppsError::Invalid(m)) if m.contains("data dir")),
                "{error:?}"
            );
        }
        let run = Permissions {
            run: vec!["ls".into()],
            ..Permissions::default()
        };
        assert!(permissions(&run, &guard).is_err());
    }

    #[test]
    fn kiln_variables_and_malformed_hosts_are_refused() {
        let data = std::env::temp_dir();
        let guard = guard(&data);
        for env in ["KILN_JWT_SECRET", "kiln_data_dir", "", "A=B"] {
            let p = Permissions {
                env: vec![env.into()],
                ..Permissions::default()
            };
            assert!(permissions(&p, &guard).is_err(), "{env}");
        }
        // The grammar itself is tested with the net part; here, that a refusal names the field.
        let refused = net_grant("http://x.com")
            .expect_err("a URL is refused")
            .to_string();
        assert!(
            refused.starts_with("permissions.net: 'http://x.com' is refused"),
            "{refused}"
        );
        assert_eq!(
            net_grant(" API.example.com ")
                .expect("a host is granted")
                .to_string(),
            "api.example.com"
        );
    }

    #[test]
    fn limits_have_bounds() {
        let ok = LimitsSpec {
            memory_mb: Some(128),
            timeout_ms: Some(1),
            max_concurrency: Some(1024),
        };
        assert!(limits(&ok, 512).is_ok());
        for bad in [
            LimitsSpec {
                memory_mb: Some(0),
                ..LimitsSpec::default()
            },
            LimitsSpec {
                memory_mb: Some(1 << 44),
                ..LimitsSpec::default()
            },
            LimitsSpec {
                memory_mb: Some(513),
                ..LimitsSpec::default()
            },
            LimitsSpec {
                timeout_ms: Some(0),
                ..LimitsSpec::default()
            },
            LimitsSpec {
                timeout_ms: Some(900_001),
                ..LimitsSpec::default()
            },
            LimitsSpec {
                max_concurrency: Some(0),
                ..LimitsSpec::default()
            },
            LimitsSpec {
                max_concurrency: Some(1025),
                ..LimitsSpec::default()
            },
        ] {
            assert!(limits(&bad, 512).is_err(), "{bad:?}");
        }
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
