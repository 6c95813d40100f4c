//! The OpenAPI 3.1 document of Kiln's own API. Routes whose handlers serve both app kinds are
//! documented once per kind by a macro, so that the document shows the concrete paths.

#![allow(
    dead_code,
    reason = "the functions here only carry OpenAPI annotations; the handlers live in routes/"
)]

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::admin::{Message, VersionList};
use super::config::{ConfigEntry, ConfigList, ConfigValue};
use super::public::{Health, Status, Unready};
use crate::apps::model::{AppView, CreateApp, Rollback, RunList, UpdateApp};

/// Every error: `{"error": kind, "message": ...}`, plus `line`/`column` for source errors and
/// `retryable` for execution errors.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// ValidationError, Unauthorized, NotFound, Conflict, PayloadTooLarge, ExecutionError, ResourceError, TimeoutError...
    pub error: String,
    /// For a human.
    pub message: String,
    /// Source errors: 1-based line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Source errors: 1-based column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// Execution errors: whether retrying may succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
}

/// `{"services": [...]}`.
#[derive(Serialize, ToSchema)]
pub struct ServiceList {
    /// Summaries, without code.
    pub services: Vec<AppView>,
}

/// `{"functions": [...]}`.
#[derive(Serialize, ToSchema)]
pub struct FunctionList {
    /// Summaries, without code.
    pub functions: Vec<AppView>,
}

/// Documents the admin routes of one app kind.
macro_rules! admin_docs {
    ($mod:ident, $tag:literal, $list:ty,
     [$base:literal, $one:literal, $component:literal, $versions:literal, $rollback:literal, $runs:literal],
     [$list_id:literal, $create_id:literal, $get_id:literal, $update_id:literal, $delete_id:literal,
      $component_id:literal, $versions_id:literal, $rollback_id:literal, $runs_id:literal]) => {
        mod $mod {
            use super::*;

            /// Lists them, without code.
            #[utoipa::path(operation_id = $list_id, get, path = $base, tag = $tag, security(("bearer" = [])),
                responses((status = 200, body = $list), (status = 401, body = ErrorBody)))]
            pub fn list() {}

            /// Creates one from JavaScript.
            #[utoipa::path(operation_id = $create_id, post, path = $base, tag = $tag, security(("bearer" = [])), request_body = CreateApp,
                responses((status = 201, body = AppView), (status = 400, body = ErrorBody, description = "invalid input or a source error with line and column"),
                    (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
            pub fn create() {}

            /// One, with its code.
            #[utoipa::path(operation_id = $get_id, get, path = $one, tag = $tag, security(("bearer" = [])),
                params(("name" = String, Path)), responses((status = 200, body = AppView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
            pub fn get() {}

            /// Updates one; new code is compiled and swapped in as a new version.
            #[utoipa::path(operation_id = $update_id, put, path = $one, tag = $tag, security(("bearer" = [])), request_body = UpdateApp,
                params(("name" = String, Path)),
                responses((status = 200, body = AppView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
            pub fn update() {}

            /// Deletes one; it stops being served at once.
            #[utoipa::path(operation_id = $delete_id, delete, path = $one, tag = $tag, security(("bearer" = [])),
                params(("name" = String, Path)), responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
            pub fn delete() {}

            /// Creates or replaces one with a prebuilt component (the raw `.wasm` body).
            #[utoipa::path(operation_id = $component_id, put, path = $component, tag = $tag, security(("bearer" = [])),
                params(("name" = String, Path)), request_body(content = Vec<u8>, content_type = "application/wasm"),
                responses((status = 201, body = AppView, description = "created"), (status = 200, body = AppView, description = "replaced"),
                    (status = 400, body = ErrorBody, description = "not a component, wrong exports or unknown imports"), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody)))]
            pub fn put_component() {}

            /// Its immutable versions.
            #[utoipa::path(operation_id = $versions_id, get, path = $versions, tag = $tag, security(("bearer" = [])),
                params(("name" = String, Path)), responses((status = 200, body = VersionList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
            pub fn versions() {}

            /// Makes an earlier version active again, without recompiling.
            #[utoipa::path(operation_id = $rollback_id, post, path = $rollback, tag = $tag, security(("bearer" = [])), request_body = Rollback,
                params(("name" = String, Path)), responses((status = 200, body = AppView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
            pub fn rollback() {}

            /// Its recorded scheduled runs (the last 100), newest first: which tick, which node,
            /// the request id its log lines carry, and how it ended.
            #[utoipa::path(operation_id = $runs_id, get, path = $runs, tag = $tag, security(("bearer" = [])),
                params(("name" = String, Path)), responses((status = 200, body = RunList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
            pub fn runs() {}
        }
    };
}

admin_docs!(
    services,
    "services",
    ServiceList,
    [
        "/admin-api/v2/services",
        "/admin-api/v2/services/{name}",
        "/admin-api/v2/services/{name}/component",
        "/admin-api/v2/services/{name}/versions",
        "/admin-api/v2/services/{name}/rollback",
        "/admin-api/v2/services/{name}/runs"
    ],
    [
        "listServices",
        "createService",
        "getService",
        "updateService",
        "deleteService",
        "putServiceComponent",
        "listServiceVersions",
        "rollbackService",
        "listServiceRuns"
    ]
);
admin_docs!(
    functions,
    "functions",
    FunctionList,
    [
        "/admin-api/v2/functions",
        "/admin-api/v2/functions/{name}",
        "/admin-api/v2/functions/{name}/component",
        "/admin-api/v2/functions/{name}/versions",
        "/admin-api/v2/functions/{name}/rollback",
        "/admin-api/v2/functions/{name}/runs"
    ],
    [
        "listFunctions",
        "createFunction",
        "getFunction",
        "updateFunction",
        "deleteFunction",
        "putFunctionComponent",
        "listFunctionVersions",
        "rollbackFunction",
        "listFunctionRuns"
    ]
);

/// One key of a listing.
#[derive(Serialize, ToSchema)]
pub struct KvKey {
    /// The key.
    pub name: String,
    /// Seconds since the epoch after which it is gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<i64>,
    /// The metadata given with `put`.
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

/// A page of keys, in bytewise order.
#[derive(Serialize, ToSchema)]
pub struct KvListing {
    /// Up to `limit` keys.
    pub keys: Vec<KvKey>,
    /// Whether this is the last page.
    pub list_complete: bool,
    /// Where the next page starts (`?cursor=`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Documents the key-value routes of one app kind: operators see every store of the app (granted
/// or not), in the shape the JavaScript engine uses.
macro_rules! kv_docs {
    ($mod:ident, $tag:literal, $store:literal, $key:literal,
     [$list_id:literal, $get_id:literal, $put_id:literal, $delete_id:literal, $increment_id:literal]) => {
        mod $mod {
            use super::*;

            /// Lists the keys of one of the app's stores.
            #[utoipa::path(operation_id = $list_id, get, path = $store, tag = $tag, security(("bearer" = [])),
                params(("name" = String, Path), ("store" = String, Path),
                    ("prefix" = Option<String>, Query, description = "only keys starting with this"),
                    ("limit" = Option<u32>, Query, description = "1 to 1000 (default 1000)"),
                    ("cursor" = Option<String>, Query, description = "the `cursor` of the previous page")),
                responses((status = 200, body = KvListing), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
            pub fn list() {}

            /// Reads a value: the raw bytes, with `etag` (quoted hex sha256), `kiln-kv-metadata`
            /// (percent-encoded JSON) and `kiln-kv-expiration` (seconds since the epoch).
            #[utoipa::path(operation_id = $get_id, get, path = $key, tag = $tag, security(("bearer" = [])),
                params(("name" = String, Path), ("store" = String, Path), ("key" = String, Path, description = "percent-encoded")),
                responses((status = 200, description = "the value", content_type = "application/octet-stream"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
            pub fn get() {}

            /// Writes a value (the raw body). Headers: `kiln-kv-metadata` (percent-encoded JSON, at
            /// most 1 KiB), `kiln-kv-expiration` or `kiln-kv-expiration-ttl` (seconds), `if-match`
            /// (an etag) or `if-none-match: *` for a compare-and-swap.
            #[utoipa::path(operation_id = $put_id, put, path = $key, tag = $tag, security(("bearer" = [])),
                params(("name" = String, Path), ("store" = String, Path), ("key" = String, Path, description = "percent-encoded, at most 512 bytes")),
                request_body(content = Vec<u8>, content_type = "application/octet-stream"),
                responses((status = 204, description = "written"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
                    (status = 412, description = "the condition did not hold"), (status = 413, body = ErrorBody, description = "a key, value (25 MiB) or metadata over its limit"),
                    (status = 507, body = ErrorBody, description = "the app's quota (config kv_quota_mb) is full")))]
            pub fn put() {}

            /// Deletes a key.
            #[utoipa::path(operation_id = $delete_id, delete, path = $key, tag = $tag, security(("bearer" = [])),
                params(("name" = String, Path), ("store" = String, Path), ("key" = String, Path)),
                responses((status = 204, description = "deleted (or there was none)"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
            pub fn delete() {}

            /// Adds `increment` to the decimal integer stored under the key (0 when none), atomically.
            #[utoipa::path(operation_id = $increment_id, post, path = $key, tag = $tag, security(("bearer" = [])),
                params(("name" = String, Path), ("store" = String, Path), ("key" = String, Path), ("increment" = i64, Query)),
                responses((status = 200, description = "the new number", content_type = "text/plain"), (status = 401, body = ErrorBody),
                    (status = 409, body = ErrorBody, description = "the value is not a decimal integer")))]
            pub fn increment() {}
        }
    };
}

kv_docs!(
    service_kv,
    "services",
    "/admin-api/v2/services/{name}/kv/{store}",
    "/admin-api/v2/services/{name}/kv/{store}/{key}",
    [
        "listServiceKeys",
        "getServiceKey",
        "putServiceKey",
        "deleteServiceKey",
        "incrementServiceKey"
    ]
);
kv_docs!(
    function_kv,
    "functions",
    "/admin-api/v2/functions/{name}/kv/{store}",
    "/admin-api/v2/functions/{name}/kv/{store}/{key}",
    [
        "listFunctionKeys",
        "getFunctionKey",
        "putFunctionKey",
        "deleteFunctionKey",
        "incrementFunctionKey"
    ]
);

/// Documents the variable routes of one app kind (secrets are write-only: shown as `********`).
macro_rules! vars_docs {
    ($mod:ident, $tag:literal, $list:literal, $one:literal,
     [$list_id:literal, $get_id:literal, $put_id:literal, $delete_id:literal]) => {
        mod $mod {
            use super::*;
            use crate::apps::vars::{SetVar, VarView, VarsView};

            /// Lists the app's variables; a secret's value is `********`.
            #[utoipa::path(operation_id = $list_id, get, path = $list, tag = $tag, security(("bearer" = [])),
                params(("name" = String, Path)),
                responses((status = 200, body = VarsView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
            pub fn list() {}

            /// One variable; a secret's value is `********`.
            #[utoipa::path(operation_id = $get_id, get, path = $one, tag = $tag, security(("bearer" = [])),
                params(("name" = String, Path), ("key" = String, Path)),
                responses((status = 200, body = VarView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
            pub fn get() {}

            /// Sets a variable (a secret is stored encrypted and never shown again). The version
            /// served is redeployed with it on every node: new requests see the new value, requests
            /// in flight finish with the old one. Variables are not versioned: a rollback keeps them.
            #[utoipa::path(operation_id = $put_id, put, path = $one, tag = $tag, security(("bearer" = [])),
                params(("name" = String, Path), ("key" = String, Path, description = "a letter or `_`, then letters, digits and `_` (at most 128); not `KILN_*`")),
                request_body = SetVar,
                responses((status = 200, body = VarView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
                    (status = 409, body = ErrorBody, description = "a secret, on a node without a secrets key"),
                    (status = 413, body = ErrorBody, description = "a value over 32 KiB, or more than 100 variables")))]
            pub fn put() {}

            /// Deletes a variable.
            #[utoipa::path(operation_id = $delete_id, delete, path = $one, tag = $tag, security(("bearer" = [])),
                params(("name" = String, Path), ("key" = String, Path)),
                responses((status = 204, description = "deleted"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
            pub fn delete() {}
        }
    };
}

vars_docs!(
    service_vars,
    "services",
    "/admin-api/v2/services/{name}/vars",
    "/admin-api/v2/services/{name}/vars/{key}",
    [
        "listServiceVars",
        "getServiceVar",
        "setServiceVar",
        "deleteServiceVar"
    ]
);
vars_docs!(
    function_vars,
    "functions",
    "/admin-api/v2/functions/{name}/vars",
    "/admin-api/v2/functions/{name}/vars/{key}",
    [
        "listFunctionVars",
        "getFunctionVar",
        "setFunctionVar",
        "deleteFunctionVar"
    ]
);

/// Documents the log route of one app kind.
macro_rules! logs_docs {
    ($mod:ident, $tag:literal, $path:literal, $id:literal) => {
        mod $mod {
            use super::*;
            use crate::http::routes::logs::{LogList, LogsQuery};

            /// The app's last log lines on this node (its request lines and its console output,
            /// with request ids), oldest first. With `follow=true`, a `text/event-stream`: the
            /// last lines, then each new one as `data: <line>`; `event: missed` with
            /// `{"missed": N}` when the reader fell behind and lines were dropped for it. In a
            /// cluster, each node answers with its own lines.
            #[utoipa::path(operation_id = $id, get, path = $path, tag = $tag, security(("bearer" = [])),
                params(("name" = String, Path), LogsQuery),
                responses((status = 200, body = LogList, description = "the lines, or with `follow` an event stream"),
                    (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
                    (status = 503, body = ErrorBody, description = "the node serves 64 followers already")))]
            pub fn logs() {}
        }
    };
}

logs_docs!(
    service_logs,
    "services",
    "/admin-api/v2/services/{name}/logs",
    "serviceLogs"
);
logs_docs!(
    function_logs,
    "functions",
    "/admin-api/v2/functions/{name}/logs",
    "functionLogs"
);

/// Documents one method of the service route: the request goes to the service's component, which
/// sees the path below the mount (`/` + rest, query kept) and `x-forwarded-prefix:
/// /api/v2/{name}`. Services with `jwt_check` need a bearer token signed with the admin secret.
macro_rules! service_route {
    ($($method:ident => $fn_name:ident, $operation:literal;)*) => {$(
        #[utoipa::path(operation_id = $operation, $method, path = "/api/v2/{name}/{rest}", tag = "services",
            params(("name" = String, Path, description = "service name, `name@latest`, or `name@{version}` for a stored version (needs an `invoke` or `admin` token)"),
                ("rest" = String, Path, description = "path below the service (may be empty: /api/v2/{name})")),
            responses((status = 200, description = "whatever the service answers"), (status = 401, body = ErrorBody),
                (status = 404, body = ErrorBody), (status = 500, body = ErrorBody), (status = 503, body = ErrorBody),
                (status = 504, body = ErrorBody)))]
        #[doc = concat!("Calls a service (", $operation, ").")]
        pub fn $fn_name() {}
    )*};
}

service_route! {
    get => service_get, "callServiceGet";
    post => service_post, "callServicePost";
    put => service_put, "callServicePut";
    delete => service_delete, "callServiceDelete";
    patch => service_patch, "callServicePatch";
}

/// Calls a function with a JSON body (empty = `{}`). A value answers `application/json`; a
/// generator answers `text/event-stream`: `data: <json>` per yield, then `data: [DONE]<return value>`;
/// an error after the stream started is sent as `event: error`.
#[utoipa::path(operation_id = "callFunction", post, path = "/functions/v2/{name}", tag = "functions",
    params(("name" = String, Path, description = "function name, `name@latest`, or `name@{version}` for a stored version (needs an `invoke` or `admin` token)")), request_body(content = Object, content_type = "application/json"),
    responses((status = 200, description = "the returned value (application/json) or the yields (text/event-stream)"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 500, body = ErrorBody, description = "the function threw (message and stack)"),
        (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub fn function_call() {}

/// Calls one of a function's named methods (its module's `export function name(input)`): JSON in,
/// a value or an event stream out, as `callFunction`. `default` is the default export.
#[utoipa::path(operation_id = "callFunctionMethod", post, path = "/functions/v2/{name}/{method}", tag = "functions",
    params(("name" = String, Path, description = "function name, `name@latest`, or `name@{version}` for a stored version (needs an `invoke` or `admin` token)"),
        ("method" = String, Path, description = "the method, as `describeFunction` lists it")),
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, description = "the returned value (application/json) or the yields (text/event-stream)"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody, description = "no such function, version or method (the message lists the methods)"),
        (status = 500, body = ErrorBody, description = "the function threw (message and stack)"),
        (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub fn function_method_call() {}

/// What a function offers: its methods, and whether each streams (declared `function*`).
/// Admitted as a call is (`jwt_check`, `enabled`).
#[utoipa::path(operation_id = "describeFunction", get, path = "/functions/v2/{name}", tag = "functions",
    params(("name" = String, Path, description = "function name, `name@latest`, or `name@{version}` (needs an `invoke` or `admin` token)")),
    responses((status = 200, body = super::functions::Described), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub fn function_describe() {}

/// Liveness.
#[utoipa::path(operation_id = "health", get, path = "/health", tag = "public", responses((status = 200, body = Health, description = "the server is up")))]
pub fn health() {}

/// Readiness: 503 while a node of a cluster cannot reach its database or is behind on a deploy.
#[utoipa::path(operation_id = "ready", get, path = "/healthz", tag = "public", responses((status = 200, body = Health, description = "ready for traffic"),
    (status = 503, body = Unready, description = "the database is unreachable, or this node has not applied the latest deploys")))]
pub fn ready() {}

/// Status and counters.
#[utoipa::path(operation_id = "status", get, path = "/status", tag = "public", responses((status = 200, body = Status)))]
pub fn status() {}

/// Prometheus metrics: requests by route kind and status class, a latency histogram,
/// instantiations, compile cache hits and misses, errors by kind.
#[utoipa::path(operation_id = "metrics", get, path = "/metrics", tag = "public",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub fn metrics() {}

/// This document.
#[utoipa::path(operation_id = "openapi", get, path = "/openapi.json", tag = "public", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub fn openapi() {}

/// Swagger UI for Kiln's API.
#[utoipa::path(operation_id = "docs", get, path = "/docs", tag = "public", responses((status = 200, description = "Swagger UI (HTML)")))]
pub fn docs() {}

/// Swagger UI for a service's own schema.
#[utoipa::path(operation_id = "serviceDocs", get, path = "/api/docs/{service}", tag = "public", params(("service" = String, Path)),
    responses((status = 200, description = "Swagger UI (HTML)"), (status = 404, body = ErrorBody)))]
pub fn service_docs() {}

/// A service's schema with `servers` pointing at its mount.
#[utoipa::path(operation_id = "serviceOpenapi", get, path = "/api/docs/openapi/{service}", tag = "public", params(("service" = String, Path)),
    responses((status = 200, description = "the service's OpenAPI document"), (status = 404, body = ErrorBody)))]
pub fn service_openapi() {}

/// Each app's requests on this node over the last minute, busiest first: requests and 5xx
/// errors since start, requests per second, p50/p99 latency (as the upper bound of a bucket:
/// 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000 ms; `null` past 1 s or without
/// requests) and requests in each of the last 60 seconds; and all apps' requests per second.
#[utoipa::path(operation_id = "stats", get, path = "/admin-api/v2/stats", tag = "config", security(("bearer" = [])),
    responses((status = 200, body = super::stats::Stats), (status = 401, body = ErrorBody)))]
pub fn stats() {}

/// Lists the configuration.
#[utoipa::path(operation_id = "listConfig", get, path = "/admin-api/v2/config", tag = "config", security(("bearer" = [])),
    responses((status = 200, body = ConfigList), (status = 401, body = ErrorBody)))]
pub fn config_list() {}

/// Reads one config key.
#[utoipa::path(operation_id = "getConfigValue", get, path = "/admin-api/v2/config/{key}", tag = "config", security(("bearer" = [])),
    params(("key" = String, Path, description = "config key")),
    responses((status = 200, body = ConfigEntry), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody, description = "unknown key")))]
pub fn config_get() {}

/// Sets one config key; values are validated and unknown keys refused.
#[utoipa::path(operation_id = "setConfigValue", put, path = "/admin-api/v2/config/{key}", tag = "config", security(("bearer" = [])),
    params(("key" = String, Path, description = "config key")), request_body = ConfigValue,
    responses((status = 200, body = ConfigEntry), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub fn config_set() {}

/// Hosts a frontend: `server` (the service's JavaScript), `static` (a ZIP of its assets) and
/// `serviceName`, as multipart/form-data. The service gets a read grant on its assets, which Kiln
/// also serves itself at `/api/v2/{name}/dist/*`.
#[utoipa::path(operation_id = "hostFrontend", post, path = "/admin-api/v2/host-frontend", tag = "services", security(("bearer" = [])),
    request_body(content = String, content_type = "multipart/form-data"),
    responses((status = 201, body = super::frontend::Hosted, description = "service created"),
        (status = 200, body = super::frontend::Hosted, description = "service and assets replaced"),
        (status = 400, body = ErrorBody, description = "a missing field, a source error, or an archive refused (a path leaving it, a link, a duplicate)"),
        (status = 401, body = ErrorBody), (status = 413, body = ErrorBody, description = "the upload, the archive's entries or its expansion are too large")))]
pub fn host_frontend() {}

/// A file of a hosted frontend's assets, served by Kiln (ETag, Range, precompressed siblings).
#[utoipa::path(operation_id = "frontendAsset", get, path = "/api/v2/{name}/dist/{file}", tag = "services",
    params(("name" = String, Path), ("file" = String, Path, description = "the path inside the archive")),
    responses((status = 200, description = "the file"), (status = 206, description = "a range of it"), (status = 304, description = "not modified"),
        (status = 404, body = ErrorBody), (status = 416, description = "range not satisfiable")))]
pub fn frontend_asset() {}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Kiln's API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Kiln", description = "Serverless JavaScript and WebAssembly components: admin API, services and health."),
    paths(
        health, ready, status, metrics, openapi, docs, service_docs, service_openapi,
        service_get, service_post, service_put, service_delete, service_patch,
        services::list, services::create, services::get, services::update, services::delete,
        services::put_component, services::versions, services::rollback, services::runs,
        functions::list, functions::create, functions::get, functions::update, functions::delete,
        functions::put_component, functions::versions, functions::rollback, functions::runs,
        service_kv::list, service_kv::get, service_kv::put, service_kv::delete, service_kv::increment,
        function_kv::list, function_kv::get, function_kv::put, function_kv::delete, function_kv::increment,
        service_vars::list, service_vars::get, service_vars::put, service_vars::delete,
        function_vars::list, function_vars::get, function_vars::put, function_vars::delete,
        service_logs::logs, function_logs::logs,
        function_call, function_method_call, function_describe,
        config_list, config_get, config_set, host_frontend, frontend_asset, stats,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    tags((name = "public"), (name = "services"), (name = "functions"), (name = "config"))
)]
pub struct ApiDoc;
