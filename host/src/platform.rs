//! The control plane: services stored in the database, deployed into the registry, with their
//! versions, and the live settings.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::{Isolation, Limits};
use crate::deploy::{Deployer, Prepared};
use crate::error::ApiError;
use crate::registry::{Registry, RunSpec};
use crate::runtime::Capabilities;
use crate::settings::{self, Settings};
use crate::store::{NewVersion, ServiceRow, Store, VersionRow};

/// What a service may touch (DESIGN §4). Empty lists grant nothing.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// Directories readable by the guest.
    #[serde(default)]
    pub read: Vec<String>,
    /// Directories readable and writable by the guest.
    #[serde(default)]
    pub write: Vec<String>,
    /// Environment variables passed with the host's values.
    #[serde(default)]
    pub env: Vec<String>,
    /// Hosts outgoing HTTP may reach.
    #[serde(default)]
    pub net: Vec<String>,
    /// Must be empty: WebAssembly guests cannot start processes.
    #[serde(default)]
    pub run: Vec<String>,
}

/// Resource limits of a service's instances.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Linear memory per instance, in MiB (default: config `default_memory_mb`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// Deadline per request, in milliseconds (default 30000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Requests served at once (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
}

/// A service as the admin API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceView {
    /// Unique name.
    pub name: String,
    /// Whether it is served.
    pub enabled: bool,
    /// Whether callers need a token signed with the admin secret.
    pub jwt_check: bool,
    /// `js` or `component`.
    pub kind: String,
    /// The active version.
    pub version: Option<i64>,
    /// sha256 of the active source or component.
    pub sha256: Option<String>,
    /// Granted capabilities.
    pub permissions: Permissions,
    /// The service's own OpenAPI document.
    #[schema(value_type = Option<Object>)]
    pub schema: Option<serde_json::Value>,
    /// Limits.
    pub limits: LimitsSpec,
    /// `reuse` or `request`.
    pub isolation: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// The JavaScript source (single-service answers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// One immutable version.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    /// 1, 2, ...
    pub version: i64,
    /// `js` or `component`.
    pub kind: String,
    /// sha256 of the source or component.
    pub sha256: String,
    /// RFC 3339.
    pub created_at: String,
    /// Whether it is the one served.
    pub active: bool,
}

/// `POST /admin-api/v2/services` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateService {
    /// Unique name, `^[a-z0-9][a-z0-9-]{0,62}$`.
    pub name: String,
    /// JavaScript module source.
    pub code: String,
    /// Default true.
    pub enabled: Option<bool>,
    /// Default false.
    pub jwt_check: Option<bool>,
    /// Default: nothing granted.
    pub permissions: Option<Permissions>,
    /// OpenAPI document, as an object or a JSON string.
    #[schema(value_type = Option<Object>)]
    pub schema: Option<serde_json::Value>,
    /// Limits.
    pub limits: Option<LimitsSpec>,
    /// `reuse` (default) or `request`.
    #[schema(value_type = Option<String>)]
    pub isolation: Option<Isolation>,
}

/// `PUT /admin-api/v2/services/{name}` body: every field optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateService {
    /// Must equal the name in the path if given.
    pub name: Option<String>,
    /// New source: recompiled and swapped in as a new version.
    pub code: Option<String>,
    /// Served or not.
    pub enabled: Option<bool>,
    /// Whether callers need a token.
    pub jwt_check: Option<bool>,
    /// Replaces the permissions.
    pub permissions: Option<Permissions>,
    /// Replaces the schema (`null` removes it).
    #[schema(value_type = Option<Object>)]
    #[serde(default, deserialize_with = "present")]
    pub schema: Option<Option<serde_json::Value>>,
    /// Replaces the limits.
    pub limits: Option<LimitsSpec>,
    /// Isolation mode.
    #[schema(value_type = Option<String>)]
    pub isolation: Option<Isolation>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<serde_json::Value>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// Checks a service or function name.
pub fn validate_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::Validation(format!("invalid name '{name}': names match ^[a-z0-9][a-z0-9-]{{0,62}}$")))
    }
}

fn validate_permissions(p: &Permissions) -> Result<(), ApiError> {
    if !p.run.is_empty() {
        return Err(ApiError::Validation(format!(
            "permissions.run must be empty: WebAssembly guests cannot start processes (got {:?})",
            p.run
        )));
    }
    for dir in p.read.iter().chain(&p.write) {
        let path = std::path::Path::new(dir);
        if !path.is_absolute() || !path.is_dir() {
            return Err(ApiError::Validation(format!("permission path '{dir}' is not an existing absolute directory")));
        }
    }
    Ok(())
}

fn parse_schema(schema: Option<serde_json::Value>) -> Result<Option<serde_json::Value>, ApiError> {
    match schema {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(serde_json::Value::String(text)) => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(value @ serde_json::Value::Object(_)) => Ok(Some(value)),
            Ok(_) => Err(ApiError::Validation("schema must be a JSON object".into())),
            Err(e) => Err(ApiError::Validation(format!("schema is not valid JSON: {e}"))),
        },
        Some(value @ serde_json::Value::Object(_)) => Ok(Some(value)),
        Some(_) => Err(ApiError::Validation("schema must be a JSON object or a JSON string".into())),
    }
}

fn parse_json<T: serde::de::DeserializeOwned + Default>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_default()
}

/// Kiln's control plane.
pub struct Platform {
    /// The database.
    pub store: Store,
    /// Deploys into the registry.
    pub deployer: Deployer,
    /// What is served.
    pub registry: Arc<Registry>,
    settings: ArcSwap<Settings>,
    secret_from_env: bool,
    /// Process start.
    pub started: Instant,
    /// Requests routed since start.
    pub requests_total: AtomicU64,
}

const HELLO_SERVICE: &str = r#"// Seeded by Kiln on first start: GET /api/v2/hello?name=World
Deno.serve((req) => {
  const url = new URL(req.url);
  const name = url.searchParams.get("name") || "World";
  return new Response(JSON.stringify({
    message: `Hello, ${name}!`,
    service: "hello",
    timestamp: new Date().toISOString(),
  }), { headers: { "Content-Type": "application/json" } });
});
"#;

const CALCULATOR_SERVICE: &str = r#"// Seeded by Kiln on first start: GET /api/v2/calculator?a=2&b=3&op=add
const ops = {
  add: (a, b) => a + b,
  subtract: (a, b) => a - b,
  multiply: (a, b) => a * b,
  divide: (a, b) => (b === 0 ? null : a / b),
};

function bad(message) {
  return Response.json({ error: "ValidationError", message }, { status: 400 });
}

Deno.serve(async (req) => {
  const url = new URL(req.url);
  let input = Object.fromEntries(url.searchParams);
  if (req.method === "POST") {
    try { input = await req.json(); } catch { return bad("the body must be JSON: {\"a\":2,\"b\":3,\"op\":\"add\"}"); }
  }
  const a = Number(input.a), b = Number(input.b), op = input.op || "add";
  if (input.a === undefined || input.b === undefined || Number.isNaN(a) || Number.isNaN(b)) {
    return bad("a and b must be numbers, e.g. ?a=2&b=3&op=add");
  }
  if (!(op in ops)) return bad(`unknown op '${op}': use add, subtract, multiply or divide`);
  const result = ops[op](a, b);
  if (result === null) return bad("division by zero");
  return Response.json({ a, b, op, result });
});
"#;

impl Platform {
    /// Opens the platform over an existing store: settings (secret from `KILN_JWT_SECRET` or the
    /// store, generated on first start), seeds on first start, then every stored service deployed.
    pub async fn open(store: Store, deployer: Deployer, env_secret: Option<String>) -> anyhow::Result<Arc<Self>> {
        let mut values = store.config().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let first_start = !values.contains_key("jwt_secret");
        if first_start {
            let secret = env_secret.clone().unwrap_or_else(settings::random_secret);
            store.set_config("jwt_secret", &secret).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            values.insert("jwt_secret".into(), secret);
            if env_secret.is_none() {
                tracing::info!("first start: generated a random JWT secret (mint admin tokens with `kiln token`)");
            }
        }
        let mut parsed = Settings::from_map(&values);
        if let Some(secret) = &env_secret {
            parsed.jwt_secret = secret.clone();
        }
        let registry = deployer.registry().clone();
        let platform = Arc::new(Self {
            store,
            deployer,
            registry,
            settings: ArcSwap::from_pointee(parsed),
            secret_from_env: env_secret.is_some(),
            started: Instant::now(),
            requests_total: AtomicU64::new(0),
        });
        if first_start {
            for (name, code) in [("hello", HELLO_SERVICE), ("calculator", CALCULATOR_SERVICE)] {
                let body = CreateService {
                    name: name.into(),
                    code: code.into(),
                    enabled: None,
                    jwt_check: None,
                    permissions: None,
                    schema: None,
                    limits: None,
                    isolation: None,
                };
                platform.create_service(body).await.map_err(|e| anyhow::anyhow!("seeding '{name}': {e}"))?;
            }
        } else {
            platform.restore().await;
        }
        Ok(platform)
    }

    /// The current settings.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.load_full()
    }

    /// Whether the secret is pinned by `KILN_JWT_SECRET`.
    pub fn secret_from_env(&self) -> bool {
        self.secret_from_env
    }

    /// Counts a routed request.
    pub fn count_request(&self) {
        self.requests_total.fetch_add(1, Ordering::Relaxed);
    }

    async fn restore(&self) {
        let services = match self.store.services().await {
            Ok(services) => services,
            Err(error) => {
                tracing::error!(error = %error, "listing services failed");
                return;
            }
        };
        for row in services {
            let Some(active) = row.active_version else { continue };
            let version = match self.store.version(&row.name, active).await {
                Ok(Some(version)) => version,
                _ => {
                    tracing::error!(service = %row.name, active, "the active version is missing");
                    continue;
                }
            };
            match self.prepare(&row, &version).await {
                Ok(prepared) => {
                    if let Err(error) = self.deployer.activate(prepared) {
                        tracing::error!(service = %row.name, error = %error, "restoring failed");
                    }
                    self.registry.set_access(&row.name, row.enabled, row.jwt_check);
                }
                Err(error) => tracing::error!(service = %row.name, error = %error, "restoring failed"),
            }
        }
    }

    fn spec(&self, row: &ServiceRow) -> RunSpec {
        let settings = self.settings();
        let limits: LimitsSpec = parse_json(&row.limits);
        let permissions: Permissions = parse_json(&row.permissions);
        let isolation = match row.isolation.as_deref() {
            Some("request") => Isolation::Request,
            _ => Isolation::Reuse,
        };
        let capabilities = Capabilities {
            env: permissions.env.iter().filter_map(|k| std::env::var(k).ok().map(|v| (k.clone(), v))).collect(),
            read: permissions.read.iter().map(Into::into).collect(),
            write: permissions.write.iter().map(Into::into).collect(),
        };
        RunSpec {
            isolation,
            limits: Limits {
                memory_bytes: (limits.memory_mb.unwrap_or(settings.default_memory_mb) as usize) << 20,
                timeout: Duration::from_millis(limits.timeout_ms.unwrap_or(30_000)),
                ..Limits::default()
            },
            max_concurrency: limits.max_concurrency.unwrap_or(64) as usize,
            capabilities: Arc::new(capabilities),
        }
    }

    async fn prepare(&self, row: &ServiceRow, version: &VersionRow) -> Result<Prepared, ApiError> {
        let spec = self.spec(row);
        match (version.kind.as_str(), &version.code, &version.component) {
            ("js", Some(code), _) => self.deployer.prepare_js(&row.name, &format!("{}.js", row.name), code, spec).await,
            ("component", _, Some(wasm)) => self.deployer.prepare_component(&row.name, wasm, spec),
            _ => Err(ApiError::Internal(anyhow::anyhow!("version {} of '{}' has no content", version.version, row.name))),
        }
    }

    /// The view of a stored service.
    pub async fn view(&self, row: &ServiceRow, with_code: bool) -> Result<ServiceView, ApiError> {
        let active = match row.active_version {
            Some(v) => self.store.version(&row.name, v).await?,
            None => None,
        };
        Ok(ServiceView {
            name: row.name.clone(),
            enabled: row.enabled,
            jwt_check: row.jwt_check,
            kind: active.as_ref().map_or("js".into(), |v| v.kind.clone()),
            version: row.active_version,
            sha256: active.as_ref().map(|v| v.sha256.clone()),
            permissions: parse_json(&row.permissions),
            schema: row.schema.as_deref().and_then(|s| serde_json::from_str(s).ok()),
            limits: parse_json(&row.limits),
            isolation: row.isolation.clone().unwrap_or_else(|| "reuse".into()),
            created_at: row.created_at.clone(),
            updated_at: row.updated_at.clone(),
            code: if with_code { active.and_then(|v| v.code) } else { None },
        })
    }

    /// Every service, without code.
    pub async fn list_services(&self) -> Result<Vec<ServiceView>, ApiError> {
        let mut views = Vec::new();
        for row in self.store.services().await? {
            views.push(self.view(&row, false).await?);
        }
        Ok(views)
    }

    /// One service, with code.
    pub async fn get_service(&self, name: &str) -> Result<ServiceView, ApiError> {
        let row = self.row(name).await?;
        self.view(&row, true).await
    }

    async fn row(&self, name: &str) -> Result<ServiceRow, ApiError> {
        self.store.service(name).await?.ok_or_else(|| ApiError::NotFound(format!("service '{name}' not found")))
    }

    /// Creates a service from JavaScript: compiled, stored with its first version, then served.
    pub async fn create_service(&self, body: CreateService) -> Result<ServiceView, ApiError> {
        validate_name(&body.name)?;
        let permissions = body.permissions.unwrap_or_default();
        validate_permissions(&permissions)?;
        let schema = parse_schema(body.schema)?;
        if self.store.service(&body.name).await?.is_some() {
            return Err(ApiError::Conflict(format!("service '{}' already exists", body.name)));
        }
        let now = crate::store::now();
        let row = ServiceRow {
            name: body.name.clone(),
            enabled: body.enabled.unwrap_or(true),
            jwt_check: body.jwt_check.unwrap_or(false),
            permissions: serde_json::to_string(&permissions).unwrap_or_default(),
            schema: schema.map(|s| s.to_string()),
            limits: serde_json::to_string(&body.limits.unwrap_or_default()).unwrap_or_default(),
            isolation: body.isolation.map(isolation_name),
            active_version: None,
            created_at: now.clone(),
            updated_at: now,
        };
        let prepared = self.deployer.prepare_js(&row.name, &format!("{}.js", row.name), &body.code, self.spec(&row)).await?;
        let version = NewVersion {
            kind: "js",
            sha256: sha256_hex(body.code.as_bytes()),
            artifact: prepared.artifact.clone(),
            code: Some(body.code),
            component: None,
        };
        self.store.save_service(&row, true, Some(version)).await?;
        self.deployer.activate(prepared)?;
        self.registry.set_access(&row.name, row.enabled, row.jwt_check);
        self.get_service(&row.name).await
    }

    /// Applies a partial update; new code becomes a new version, swapped in atomically.
    pub async fn update_service(&self, name: &str, body: UpdateService) -> Result<ServiceView, ApiError> {
        if let Some(other) = &body.name {
            if other != name {
                return Err(ApiError::Validation(format!("the body's name '{other}' differs from '{name}'; services cannot be renamed")));
            }
        }
        let mut row = self.row(name).await?;
        let spec_before = (row.permissions.clone(), row.limits.clone(), row.isolation.clone());
        if let Some(enabled) = body.enabled {
            row.enabled = enabled;
        }
        if let Some(jwt_check) = body.jwt_check {
            row.jwt_check = jwt_check;
        }
        if let Some(permissions) = &body.permissions {
            validate_permissions(permissions)?;
            row.permissions = serde_json::to_string(permissions).unwrap_or_default();
        }
        if let Some(schema) = body.schema {
            row.schema = parse_schema(schema)?.map(|s| s.to_string());
        }
        if let Some(limits) = &body.limits {
            row.limits = serde_json::to_string(limits).unwrap_or_default();
        }
        if let Some(isolation) = body.isolation {
            row.isolation = Some(isolation_name(isolation));
        }
        row.updated_at = crate::store::now();
        let spec_changed = spec_before != (row.permissions.clone(), row.limits.clone(), row.isolation.clone());

        let active = match row.active_version {
            Some(v) => self.store.version(name, v).await?,
            None => None,
        };
        let code_changed = match (&body.code, &active) {
            (Some(code), Some(active)) => active.code.as_deref() != Some(code.as_str()),
            (Some(_), None) => true,
            (None, _) => false,
        };
        let (prepared, version) = if code_changed {
            let code = body.code.clone().unwrap_or_default();
            let prepared = self.deployer.prepare_js(name, &format!("{name}.js"), &code, self.spec(&row)).await?;
            let version = NewVersion {
                kind: "js",
                sha256: sha256_hex(code.as_bytes()),
                artifact: prepared.artifact.clone(),
                code: Some(code),
                component: None,
            };
            (Some(prepared), Some(version))
        } else if spec_changed {
            match &active {
                Some(active) => (Some(self.prepare(&row, active).await?), None),
                None => (None, None),
            }
        } else {
            (None, None)
        };
        self.store.save_service(&row, false, version).await?;
        if let Some(prepared) = prepared {
            self.deployer.activate(prepared)?;
        }
        self.registry.set_access(name, row.enabled, row.jwt_check);
        self.get_service(name).await
    }

    /// Creates or replaces a service with a prebuilt component. Returns whether it was created.
    pub async fn put_component(&self, name: &str, wasm: Vec<u8>) -> Result<(bool, ServiceView), ApiError> {
        validate_name(name)?;
        let existing = self.store.service(name).await?;
        let create = existing.is_none();
        let now = crate::store::now();
        let mut row = existing.unwrap_or_else(|| ServiceRow {
            name: name.to_string(),
            enabled: true,
            jwt_check: false,
            permissions: "{}".into(),
            schema: None,
            limits: "{}".into(),
            isolation: None,
            active_version: None,
            created_at: now.clone(),
            updated_at: now.clone(),
        });
        row.updated_at = now;
        let prepared = self.deployer.prepare_component(name, &wasm, self.spec(&row))?;
        let version = NewVersion {
            kind: "component",
            sha256: sha256_hex(&wasm),
            artifact: prepared.artifact.clone(),
            code: None,
            component: Some(wasm),
        };
        self.store.save_service(&row, create, Some(version)).await?;
        self.deployer.activate(prepared)?;
        self.registry.set_access(name, row.enabled, row.jwt_check);
        Ok((create, self.get_service(name).await?))
    }

    /// Deletes a service: it stops being served at once.
    pub async fn delete_service(&self, name: &str) -> Result<(), ApiError> {
        if !self.store.delete_service(name).await? {
            return Err(ApiError::NotFound(format!("service '{name}' not found")));
        }
        self.registry.remove(name);
        Ok(())
    }

    /// The versions of a service.
    pub async fn versions(&self, name: &str) -> Result<Vec<VersionView>, ApiError> {
        let row = self.row(name).await?;
        Ok(self
            .store
            .versions(name)
            .await?
            .into_iter()
            .map(|v| VersionView {
                active: Some(v.version) == row.active_version,
                version: v.version,
                kind: v.kind,
                sha256: v.sha256,
                created_at: v.created_at,
            })
            .collect())
    }

    /// Makes an earlier version active again, from its cached artifact.
    pub async fn rollback(&self, name: &str, version: i64) -> Result<ServiceView, ApiError> {
        let row = self.row(name).await?;
        let target = self
            .store
            .version(name, version)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("service '{name}' has no version {version}")))?;
        let prepared = self.prepare(&row, &target).await?;
        self.store.set_active_version(name, version).await?;
        self.deployer.activate(prepared)?;
        self.registry.set_access(name, row.enabled, row.jwt_check);
        self.get_service(name).await
    }

    /// Sets a config key (validated); the new value applies at once where it can.
    pub async fn set_config(&self, key: &str, value: &str) -> Result<(), ApiError> {
        settings::validate(key, value)?;
        self.store.set_config(key, value).await?;
        let mut values = self.store.config().await?;
        if self.secret_from_env {
            values.insert("jwt_secret".into(), self.settings().jwt_secret.clone());
        }
        if key == "jwt_secret" {
            values.insert("jwt_secret".into(), value.to_string());
        }
        self.settings.store(Arc::new(Settings::from_map(&values)));
        Ok(())
    }

    /// All config values, `jwt_secret` masked.
    pub async fn config(&self) -> Result<std::collections::BTreeMap<String, String>, ApiError> {
        let mut values = self.store.config().await?;
        for (key, default) in settings::KEYS {
            values.entry(key.to_string()).or_insert_with(|| default.to_string());
        }
        values.insert("jwt_secret".into(), settings::MASKED.into());
        Ok(values)
    }
}

fn isolation_name(isolation: Isolation) -> String {
    match isolation {
        Isolation::Reuse => "reuse".into(),
        Isolation::Request => "request".into(),
    }
}

/// Hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
