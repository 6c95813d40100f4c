//! What the admin API reads and writes: one shape for services and functions.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::Isolation;

/// What an app may touch (DESIGN §4). Empty lists grant nothing.
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
    /// Key-value stores the app may open (its own namespace): `["default"]` is `env.KV` in
    /// JavaScript and `open("default")` in `wasi:keyvalue`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kv: Vec<String>,
    /// Apps the app may call in the process: `["users"]` is `http://users.kiln.internal/` (the
    /// service) and `http://users.fn.kiln.internal/` (the function), and `env.USERS` in
    /// JavaScript.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
}

/// Resource limits of an app's instances.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Linear memory per instance, in MiB (default: config `default_memory_mb`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// Deadline per request, in milliseconds (default 30000; functions: config
    /// `function_execution_timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Requests served at once (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
}

/// The language of an app's source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// JavaScript.
    #[default]
    Js,
    /// TypeScript: types are stripped on upload.
    Ts,
}

impl Lang {
    /// The stored version format (`js` or `ts`).
    pub fn format(self) -> &'static str {
        match self {
            Lang::Js => "js",
            Lang::Ts => "ts",
        }
    }

    /// The language of a stored version format, if it is source.
    pub fn of_format(format: &str) -> Option<Lang> {
        match format {
            "js" => Some(Lang::Js),
            "ts" => Some(Lang::Ts),
            _ => None,
        }
    }

    /// The module file name an app's source compiles as (it appears in error messages).
    pub fn file(self, name: &str) -> String {
        format!("{name}.{}", self.format())
    }
}

/// A service or function as the admin API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppView {
    /// Unique name within its kind.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Whether it is served.
    pub enabled: bool,
    /// Whether callers need a token signed with the admin secret.
    pub jwt_check: bool,
    /// `js`, `ts` or `component`.
    pub kind: String,
    /// The active version.
    pub version: Option<i64>,
    /// sha256 of the active source or component.
    pub sha256: Option<String>,
    /// Granted capabilities.
    pub permissions: Permissions,
    /// The app's own OpenAPI document.
    #[schema(value_type = Option<Object>)]
    pub schema: Option<serde_json::Value>,
    /// Limits.
    pub limits: LimitsSpec,
    /// `reuse` or `request` (functions: always `request`).
    pub isolation: String,
    /// Cron expressions it is run on (5 fields, or 6 with seconds first), in UTC.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<String>,
    /// The isolation requests get now: `request` when the app's reused instances were seen to
    /// fail where fresh ones succeed (Kiln then serves it with a fresh instance per request).
    pub effective_isolation: String,
    /// What serves it now: `bytecode` (JS on the shared engine, just deployed), `snapshot` (JS
    /// pre-initialised per app) or `component` (uploaded); absent while it is not deployed.
    pub tier: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// The JavaScript or TypeScript source (single-app answers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// `POST /admin-api/v2/{services|functions}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    /// Unique name, `^[a-z0-9][a-z0-9-]{0,62}$`.
    pub name: String,
    /// JavaScript (or, with `lang: "ts"`, TypeScript) module source.
    pub code: String,
    /// The language of `code`: `js` (default) or `ts` (types are stripped on upload).
    #[schema(value_type = Option<String>)]
    pub lang: Option<Lang>,
    /// Free text.
    pub description: Option<String>,
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
    /// `reuse` (default for services) or `request` (functions: always).
    #[schema(value_type = Option<String>)]
    pub isolation: Option<Isolation>,
    /// Cron expressions to run it on (default: none). A function is called with
    /// `{"cron", "scheduledTime"}`; a JavaScript service's `scheduled(event, env, ctx)` runs.
    pub schedule: Option<Vec<String>>,
}

/// `PUT /admin-api/v2/{services|functions}/{name}` body: every field optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApp {
    /// Must equal the name in the path if given.
    pub name: Option<String>,
    /// New source: recompiled and swapped in as a new version.
    pub code: Option<String>,
    /// The language of `code` (default: the active version's).
    #[schema(value_type = Option<String>)]
    pub lang: Option<Lang>,
    /// Free text.
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
    /// Replaces the schedule (`[]` removes it).
    pub schedule: Option<Vec<String>>,
}

/// A field that is present (`Some`), possibly `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<serde_json::Value>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// One immutable version.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    /// 1, 2, ...
    pub version: i64,
    /// `js`, `ts` or `component`.
    pub kind: String,
    /// sha256 of the source or component.
    pub sha256: String,
    /// RFC 3339.
    pub created_at: String,
    /// Whether it is the one served.
    pub active: bool,
}

/// One scheduled run of an app (`GET …/{name}/runs`).
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    /// The expression whose tick it was.
    pub cron: String,
    /// The tick, RFC 3339 (UTC).
    pub scheduled_time: String,
    /// The node that ran it.
    pub node: String,
    /// The request id its log lines carry.
    pub request_id: String,
    /// RFC 3339.
    pub started_at: String,
    /// `running`, `ok`, `error`, or `skipped` (the previous run of the expression was still running on the node, or too many were).
    pub status: String,
    /// What the app answered, once it did.
    pub http_status: Option<i64>,
    /// How long it took, once it ended.
    pub duration_ms: Option<i64>,
    /// What went wrong, for `error`.
    pub error: Option<String>,
}

/// `{"runs": [...]}`, newest first (the last 100 are kept).
#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
    /// Newest first.
    pub runs: Vec<RunView>,
}

/// `POST …/rollback` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    /// The version to make active.
    pub version: i64,
}
