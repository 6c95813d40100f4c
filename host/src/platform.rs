//! The control plane: services stored in the database, deployed into the registry, with their
//! versions, and the live settings.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::compile::{AppKind, Compiler};
use crate::config::{Isolation, Limits};
use crate::deploy::{Deployer, Prepared};
use crate::error::ApiError;
use crate::registry::{Access, Registry, RunSpec};
use crate::runtime::Capabilities;
use crate::settings::{self, Settings};
use crate::store::{Family, NewVersion, ServiceRow, Store, VersionRow};

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
    /// The isolation requests get now: `request` when the service's reused instances were seen
    /// to fail where fresh ones succeed (Kiln then serves it with a fresh instance per request).
    pub effective_isolation: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// The JavaScript source (single-service answers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// A function as the admin API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FunctionView {
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Whether it can be called.
    pub enabled: bool,
    /// `js` or `component`.
    pub kind: String,
    /// The active version.
    pub version: Option<i64>,
    /// sha256 of the active source or component.
    pub sha256: Option<String>,
    /// Granted capabilities.
    pub permissions: Permissions,
    /// Limits (`timeout_ms` defaults to config `function_execution_timeout`).
    pub limits: LimitsSpec,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// The JavaScript source (single-function answers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// `POST /admin-api/v2/functions` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFunction {
    /// Unique name, `^[a-z0-9][a-z0-9-]{0,62}$`.
    pub name: String,
    /// JavaScript module whose default export is a function (or generator function).
    pub code: String,
    /// Free text.
    pub description: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
    /// Default: nothing granted.
    pub permissions: Option<Permissions>,
    /// Limits.
    pub limits: Option<LimitsSpec>,
}

/// `PUT /admin-api/v2/functions/{name}` body: every field optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFunction {
    /// Must equal the name in the path if given.
    pub name: Option<String>,
    /// New source: recompiled and swapped in as a new version.
    pub code: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Callable or not.
    pub enabled: Option<bool>,
    /// Replaces the permissions.
    pub permissions: Option<Permissions>,
    /// Replaces the limits.
    pub limits: Option<LimitsSpec>,
}

/// A stored service or function with its active version.
pub struct Stored {
    /// The row.
    pub row: ServiceRow,
    /// The active version (content included only when asked for).
    pub active: Option<VersionRow>,
    /// The isolation its deployment serves with now, if deployed.
    pub serving: Option<Isolation>,
}

impl Stored {
    /// The admin view of a service.
    pub fn service_view(self) -> ServiceView {
        let Stored {
            row,
            active,
            serving,
        } = self;
        let isolation = row.isolation.unwrap_or_else(|| "reuse".into());
        ServiceView {
            effective_isolation: serving.map_or_else(|| isolation.clone(), isolation_name),
            kind: active.as_ref().map_or("js".into(), |v| v.kind.clone()),
            sha256: active.as_ref().map(|v| v.sha256.clone()),
            code: active.and_then(|v| v.code),
            name: row.name,
            enabled: row.enabled,
            jwt_check: row.jwt_check,
            version: row.active_version,
            permissions: parse_json(&row.permissions),
            schema: row
                .schema
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok()),
            limits: parse_json(&row.limits),
            isolation,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }

    /// The admin view of a function.
    pub fn function_view(self) -> FunctionView {
        let Stored { row, active, .. } = self;
        FunctionView {
            kind: active.as_ref().map_or("js".into(), |v| v.kind.clone()),
            sha256: active.as_ref().map(|v| v.sha256.clone()),
            code: active.and_then(|v| v.code),
            name: row.name,
            description: row.description,
            enabled: row.enabled,
            version: row.active_version,
            permissions: parse_json(&row.permissions),
            limits: parse_json(&row.limits),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A create request, whatever the family.
pub struct AppSpec {
    name: String,
    code: String,
    description: String,
    enabled: bool,
    jwt_check: bool,
    permissions: Permissions,
    schema: Option<serde_json::Value>,
    limits: LimitsSpec,
    isolation: Option<Isolation>,
}

impl From<CreateService> for AppSpec {
    fn from(b: CreateService) -> Self {
        Self {
            name: b.name,
            code: b.code,
            description: String::new(),
            enabled: b.enabled.unwrap_or(true),
            jwt_check: b.jwt_check.unwrap_or(false),
            permissions: b.permissions.unwrap_or_default(),
            schema: b.schema,
            limits: b.limits.unwrap_or_default(),
            isolation: b.isolation,
        }
    }
}

impl From<CreateFunction> for AppSpec {
    fn from(b: CreateFunction) -> Self {
        Self {
            name: b.name,
            code: b.code,
            description: b.description.unwrap_or_default(),
            enabled: b.enabled.unwrap_or(true),
            jwt_check: false,
            permissions: b.permissions.unwrap_or_default(),
            schema: None,
            limits: b.limits.unwrap_or_default(),
            isolation: None,
        }
    }
}

impl From<UpdateFunction> for UpdateService {
    fn from(b: UpdateFunction) -> Self {
        UpdateService {
            name: b.name,
            code: b.code,
            description: b.description,
            enabled: b.enabled,
            jwt_check: None,
            permissions: b.permissions,
            schema: None,
            limits: b.limits,
            isolation: None,
        }
    }
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
    /// Free text (functions only).
    #[serde(skip)]
    pub description: Option<String>,
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

fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<serde_json::Value>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// Checks a service or function name.
pub fn validate_name(name: &str) -> Result<(), ApiError> {
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
        Err(ApiError::Validation(format!(
            "invalid name '{name}': names match ^[a-z0-9][a-z0-9-]{{0,62}}$"
        )))
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
            return Err(ApiError::Validation(format!(
                "permission path '{dir}' is not an existing absolute directory"
            )));
        }
    }
    Ok(())
}

fn parse_schema(schema: Option<serde_json::Value>) -> Result<Option<serde_json::Value>, ApiError> {
    match schema {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(serde_json::Value::String(text)) => {
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(value @ serde_json::Value::Object(_)) => Ok(Some(value)),
                Ok(_) => Err(ApiError::Validation("schema must be a JSON object".into())),
                Err(e) => Err(ApiError::Validation(format!(
                    "schema is not valid JSON: {e}"
                ))),
            }
        }
        Some(value @ serde_json::Value::Object(_)) => Ok(Some(value)),
        Some(_) => Err(ApiError::Validation(
            "schema must be a JSON object or a JSON string".into(),
        )),
    }
}

fn parse_json<T: serde::de::DeserializeOwned + Default>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_default()
}

/// Kiln's control plane.
pub struct Platform {
    /// The database.
    pub store: Store,
    services: Deployer,
    functions: Deployer,
    /// Services being served.
    pub registry: Arc<Registry>,
    /// Functions being served.
    pub function_registry: Arc<Registry>,
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

const HELLO_FUNCTION: &str = r#"// Seeded by Kiln on first start: POST /functions/v2/hello with {"name": "Alice"}
export default function (input) {
  return { message: `Hello, ${input.name || "World"}!` };
}
"#;

impl Platform {
    /// Opens the platform over an existing store: settings (secret from `KILN_JWT_SECRET` or the
    /// store, generated on first start), seeds on first start, then every stored app deployed.
    pub async fn open(
        store: Store,
        compiler: Arc<Compiler>,
        env_secret: Option<String>,
    ) -> anyhow::Result<Arc<Self>> {
        let mut values = store.config().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let first_start = !values.contains_key("jwt_secret");
        if first_start {
            let secret = env_secret.clone().unwrap_or_else(settings::random_secret);
            store
                .set_config("jwt_secret", &secret)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            values.insert("jwt_secret".into(), secret);
            if env_secret.is_none() {
                tracing::info!(
                    "first start: generated a random JWT secret (mint admin tokens with `kiln token`)"
                );
            }
        }
        let mut parsed = Settings::from_map(&values);
        if let Some(secret) = &env_secret {
            parsed.jwt_secret = secret.clone();
        }
        let registry = Arc::new(Registry::new());
        let function_registry = Arc::new(Registry::with_counter(registry.live_counter()));
        let platform = Arc::new(Self {
            store,
            services: Deployer::new(compiler.clone(), registry.clone()),
            functions: Deployer::new(compiler, function_registry.clone()),
            registry,
            function_registry,
            settings: ArcSwap::from_pointee(parsed),
            secret_from_env: env_secret.is_some(),
            started: Instant::now(),
            requests_total: AtomicU64::new(0),
        });
        if first_start {
            // Seeds are stored like any app; they are compiled by `restore_all`, as after a restart.
            for (family, name, code) in [
                (Family::Services, "hello", HELLO_SERVICE),
                (Family::Services, "calculator", CALCULATOR_SERVICE),
                (Family::Functions, "hello", HELLO_FUNCTION),
            ] {
                let now = crate::store::now();
                let row = ServiceRow {
                    name: name.into(),
                    description: if family == Family::Functions {
                        "Seeded greeting function".into()
                    } else {
                        String::new()
                    },
                    enabled: true,
                    jwt_check: false,
                    permissions: "{}".into(),
                    schema: None,
                    limits: "{}".into(),
                    isolation: None,
                    active_version: None,
                    created_at: now.clone(),
                    updated_at: now,
                };
                let version = NewVersion {
                    kind: "js",
                    sha256: sha256_hex(code.as_bytes()),
                    artifact: platform
                        .deployer(family)
                        .compiler()
                        .key(code, Self::app_kind(family)),
                    code: Some(code.to_string()),
                    component: None,
                };
                platform
                    .store
                    .save_service(family, &row, true, Some(version))
                    .await
                    .map_err(|e| anyhow::anyhow!("seeding {} '{name}': {e}", family.noun()))?;
            }
        }
        for family in [Family::Services, Family::Functions] {
            let rows = platform
                .store
                .services(family)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            for row in rows.iter().filter(|r| r.active_version.is_some()) {
                platform.registry_of(family).mark_pending(&row.name);
            }
        }
        Ok(platform)
    }

    /// Deploys every stored app (their names are pending meanwhile: requests for them wait).
    /// Runs after the server listens, so that compiling never delays `/health`.
    pub async fn restore_all(&self) {
        let started = Instant::now();
        self.restore(Family::Services).await;
        self.restore(Family::Functions).await;
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "every stored service and function is deployed"
        );
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

    fn deployer(&self, family: Family) -> &Deployer {
        match family {
            Family::Services => &self.services,
            Family::Functions => &self.functions,
        }
    }

    /// The registry of a family.
    pub fn registry_of(&self, family: Family) -> &Arc<Registry> {
        self.deployer(family).registry()
    }

    async fn restore(&self, family: Family) {
        let rows = match self.store.services(family).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::error!(error = %error, "listing {}s failed", family.noun());
                return;
            }
        };
        for row in rows {
            let Some(active) = row.active_version else {
                continue;
            };
            let version = match self.store.version(family, &row.name, active).await {
                Ok(Some(version)) => version,
                _ => {
                    tracing::error!(name = %row.name, active, "the active version of a {} is missing", family.noun());
                    self.registry_of(family).settle(&row.name);
                    continue;
                }
            };
            match self.prepare(family, &row, &version).await {
                Ok(prepared) => {
                    if let Err(error) = self.deployer(family).activate(prepared, Some(access(&row))) {
                        tracing::error!(name = %row.name, error = %error, "restoring failed");
                    }
                }
                Err(error) => {
                    tracing::error!(name = %row.name, error = %error, "restoring failed");
                }
            }
            self.registry_of(family).settle(&row.name);
        }
    }

    fn spec(&self, family: Family, row: &ServiceRow) -> RunSpec {
        let settings = self.settings();
        let limits: LimitsSpec = parse_json(&row.limits);
        let permissions: Permissions = parse_json(&row.permissions);
        let isolation = match (family, row.isolation.as_deref()) {
            (Family::Functions, _) | (_, Some("request")) => Isolation::Request,
            _ => Isolation::Reuse,
        };
        let default_timeout = match family {
            Family::Services => 30_000,
            Family::Functions => settings.function_execution_timeout_ms,
        };
        let capabilities = Capabilities {
            env: permissions
                .env
                .iter()
                .filter_map(|k| std::env::var(k).ok().map(|v| (k.clone(), v)))
                .collect(),
            read: permissions.read.iter().map(Into::into).collect(),
            write: permissions.write.iter().map(Into::into).collect(),
            net: Arc::from(permissions.net.clone()),
            console: crate::runtime::Console::Log,
        };
        RunSpec {
            isolation,
            limits: Limits {
                memory_bytes: (limits.memory_mb.unwrap_or(settings.default_memory_mb) as usize)
                    << 20,
                timeout: Duration::from_millis(limits.timeout_ms.unwrap_or(default_timeout)),
                ..Limits::default()
            },
            max_concurrency: limits.max_concurrency.unwrap_or(64) as usize,
            capabilities: Arc::new(capabilities),
        }
    }

    fn app_kind(family: Family) -> AppKind {
        match family {
            Family::Services => AppKind::Service,
            Family::Functions => AppKind::Function,
        }
    }

    async fn prepare(
        &self,
        family: Family,
        row: &ServiceRow,
        version: &VersionRow,
    ) -> Result<Prepared, ApiError> {
        let spec = self.spec(family, row);
        let deployer = self.deployer(family);
        let kind = Self::app_kind(family);
        match (version.kind.as_str(), &version.code, &version.component) {
            ("js", Some(code), _) => {
                deployer
                    .prepare_js(&row.name, &format!("{}.js", row.name), code, kind, spec)
                    .await
            }
            ("component", _, Some(wasm)) => deployer.prepare_component(&row.name, wasm, kind, spec),
            _ => Err(ApiError::Internal(anyhow::anyhow!(
                "version {} of '{}' has no content",
                version.version,
                row.name
            ))),
        }
    }

    async fn stored(
        &self,
        family: Family,
        row: ServiceRow,
        with_content: bool,
    ) -> Result<Stored, ApiError> {
        let active = match row.active_version {
            Some(v) if with_content => self.store.version(family, &row.name, v).await?,
            Some(v) => self
                .store
                .versions(family, &row.name)
                .await?
                .into_iter()
                .find(|r| r.version == v),
            None => None,
        };
        let serving = self
            .registry_of(family)
            .get(&row.name)
            .map(|d| d.effective_isolation());
        Ok(Stored {
            row,
            active,
            serving,
        })
    }

    /// Every service or function, without code.
    pub async fn list(&self, family: Family) -> Result<Vec<Stored>, ApiError> {
        let mut all = Vec::new();
        for row in self.store.services(family).await? {
            all.push(self.stored(family, row, false).await?);
        }
        Ok(all)
    }

    /// One service or function, with code.
    pub async fn get(&self, family: Family, name: &str) -> Result<Stored, ApiError> {
        let row = self.row(family, name).await?;
        self.stored(family, row, true).await
    }

    async fn row(&self, family: Family, name: &str) -> Result<ServiceRow, ApiError> {
        self.store
            .service(family, name)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("{} '{name}' not found", family.noun())))
    }

    /// Creates from JavaScript: compiled, stored with its first version, then served.
    pub async fn create(&self, family: Family, spec: AppSpec) -> Result<Stored, ApiError> {
        validate_name(&spec.name)?;
        validate_permissions(&spec.permissions)?;
        let schema = parse_schema(spec.schema)?;
        if self.store.service(family, &spec.name).await?.is_some() {
            return Err(ApiError::Conflict(format!(
                "{} '{}' already exists",
                family.noun(),
                spec.name
            )));
        }
        let now = crate::store::now();
        let row = ServiceRow {
            name: spec.name.clone(),
            description: spec.description,
            enabled: spec.enabled,
            jwt_check: spec.jwt_check,
            permissions: serde_json::to_string(&spec.permissions).unwrap_or_default(),
            schema: schema.map(|s| s.to_string()),
            limits: serde_json::to_string(&spec.limits).unwrap_or_default(),
            isolation: spec.isolation.map(isolation_name),
            active_version: None,
            created_at: now.clone(),
            updated_at: now,
        };
        let file = format!("{}.js", row.name);
        let prepared = self
            .deployer(family)
            .prepare_js(
                &row.name,
                &file,
                &spec.code,
                Self::app_kind(family),
                self.spec(family, &row),
            )
            .await?;
        let version = js_version(&spec.code, &prepared);
        self.store
            .save_service(family, &row, true, Some(version))
            .await?;
        self.deployer(family).activate(prepared, Some(access(&row)))?;
        self.get(family, &row.name).await
    }

    /// Applies a partial update; new code becomes a new version, swapped in atomically.
    pub async fn update(
        &self,
        family: Family,
        name: &str,
        body: UpdateService,
    ) -> Result<Stored, ApiError> {
        if let Some(other) = &body.name
            && other != name
        {
            return Err(ApiError::Validation(format!(
                "the body's name '{other}' differs from '{name}'; renaming is not supported"
            )));
        }
        let mut row = self.row(family, name).await?;
        let spec_before = (
            row.permissions.clone(),
            row.limits.clone(),
            row.isolation.clone(),
        );
        if let Some(description) = body.description {
            row.description = description;
        }
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
        let spec_changed = spec_before
            != (
                row.permissions.clone(),
                row.limits.clone(),
                row.isolation.clone(),
            );

        let active = match row.active_version {
            Some(v) => self.store.version(family, name, v).await?,
            None => None,
        };
        let new_code = body.code.filter(|code| {
            active
                .as_ref()
                .is_none_or(|a| a.code.as_deref() != Some(code.as_str()))
        });
        let (prepared, version) = if let Some(code) = new_code {
            let prepared = self
                .deployer(family)
                .prepare_js(
                    name,
                    &format!("{name}.js"),
                    &code,
                    Self::app_kind(family),
                    self.spec(family, &row),
                )
                .await?;
            let version = js_version(&code, &prepared);
            (Some(prepared), Some(version))
        } else if spec_changed {
            match &active {
                Some(active) => (Some(self.prepare(family, &row, active).await?), None),
                None => (None, None),
            }
        } else {
            (None, None)
        };
        self.store
            .save_service(family, &row, false, version)
            .await?;
        match prepared {
            Some(prepared) => self
                .deployer(family)
                .activate(prepared, Some(access(&row)))?,
            None => self.registry_of(family).set_access(name, access(&row)),
        }
        self.get(family, name).await
    }

    /// Creates or replaces with a prebuilt component. Returns whether it was created.
    pub async fn put_component(
        &self,
        family: Family,
        name: &str,
        wasm: Vec<u8>,
    ) -> Result<(bool, Stored), ApiError> {
        validate_name(name)?;
        let existing = self.store.service(family, name).await?;
        let create = existing.is_none();
        let now = crate::store::now();
        let mut row = existing.unwrap_or_else(|| ServiceRow {
            name: name.to_string(),
            description: String::new(),
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
        let prepared = self.deployer(family).prepare_component(
            name,
            &wasm,
            Self::app_kind(family),
            self.spec(family, &row),
        )?;
        let version = NewVersion {
            kind: "component",
            sha256: sha256_hex(&wasm),
            artifact: prepared.artifact.clone(),
            code: None,
            component: Some(wasm),
        };
        self.store
            .save_service(family, &row, create, Some(version))
            .await?;
        self.deployer(family).activate(prepared, Some(access(&row)))?;
        Ok((create, self.get(family, name).await?))
    }

    /// Deletes: it stops being served at once.
    pub async fn delete(&self, family: Family, name: &str) -> Result<(), ApiError> {
        if !self.store.delete_service(family, name).await? {
            return Err(ApiError::NotFound(format!(
                "{} '{name}' not found",
                family.noun()
            )));
        }
        self.registry_of(family).remove(name);
        Ok(())
    }

    /// The versions.
    pub async fn versions(&self, family: Family, name: &str) -> Result<Vec<VersionView>, ApiError> {
        let row = self.row(family, name).await?;
        Ok(self
            .store
            .versions(family, name)
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
    pub async fn rollback(
        &self,
        family: Family,
        name: &str,
        version: i64,
    ) -> Result<Stored, ApiError> {
        let row = self.row(family, name).await?;
        let target = self
            .store
            .version(family, name, version)
            .await?
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "{} '{name}' has no version {version}",
                    family.noun()
                ))
            })?;
        let prepared = self.prepare(family, &row, &target).await?;
        self.store.set_active_version(family, name, version).await?;
        self.deployer(family).activate(prepared, Some(access(&row)))?;
        self.get(family, name).await
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
            values
                .entry(key.to_string())
                .or_insert_with(|| default.to_string());
        }
        values.insert("jwt_secret".into(), settings::MASKED.into());
        Ok(values)
    }
}

fn js_version(code: &str, prepared: &Prepared) -> NewVersion {
    NewVersion {
        kind: "js",
        sha256: sha256_hex(code.as_bytes()),
        artifact: prepared.artifact.clone(),
        code: Some(code.to_string()),
        component: None,
    }
}

/// Who may call a stored app.
fn access(row: &ServiceRow) -> Access {
    Access {
        enabled: row.enabled,
        jwt_check: row.jwt_check,
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
