//! The OpenAPI 3.1 document of Kiln's own API.

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

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

/// Declares one documented method of the service route (served by the server's fast path, not by
/// the admin router): the request goes to the service's component, which sees the path below the
/// mount (`/` + rest, query kept) and `x-forwarded-prefix: /api/v2/{name}`. Services with
/// `jwt_check` need a bearer token signed with the admin secret.
macro_rules! service_route {
    ($($method:ident => $fn_name:ident, $operation:literal;)*) => {$(
        #[utoipa::path(operation_id = $operation, $method, path = "/api/v2/{name}/{rest}", tag = "services",
            params(("name" = String, Path, description = "service name"),
                ("rest" = String, Path, description = "path below the service (may be empty: /api/v2/{name})")),
            responses((status = 200, description = "whatever the service answers"), (status = 401, body = ErrorBody),
                (status = 404, body = ErrorBody), (status = 500, body = ErrorBody), (status = 503, body = ErrorBody),
                (status = 504, body = ErrorBody)))]
        #[allow(dead_code, reason = "documents a route served by the server's fast path")]
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
    params(("name" = String, Path, description = "function name")), request_body(content = Object, content_type = "application/json"),
    responses((status = 200, description = "the returned value (application/json) or the yields (text/event-stream)"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 500, body = ErrorBody, description = "the function threw (message and stack)"),
        (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
#[allow(
    dead_code,
    reason = "documents a route served by the server's fast path, not by this router"
)]
pub fn function_call() {}

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
        super::public::health,
        super::public::status,
        super::public::metrics,
        super::public::openapi,
        super::public::docs,
        super::public::service_docs,
        super::public::service_openapi,
        service_get,
        service_post,
        service_put,
        service_delete,
        service_patch,
        super::services::list,
        super::services::create,
        super::services::get,
        super::services::update,
        super::services::delete,
        super::services::put_component,
        super::services::versions,
        super::services::rollback,
        super::functions::list,
        super::functions::create,
        super::functions::get,
        super::functions::update,
        super::functions::delete,
        super::functions::put_component,
        super::functions::versions,
        super::functions::rollback,
        function_call,
        super::config::list,
        super::config::get,
        super::config::set,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    tags((name = "public"), (name = "services"), (name = "functions"), (name = "config"))
)]
pub struct ApiDoc;
