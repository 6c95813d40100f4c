//! Health, status and metrics.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::http::ApiError;
use crate::kind::AppKind;

/// `{"status":"ok"}`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// Totals of services or functions.
#[derive(Serialize, ToSchema)]
pub struct Counts {
    /// All stored.
    pub total: usize,
    /// Enabled ones.
    pub enabled: usize,
}

/// `GET /status`.
#[derive(Serialize, ToSchema)]
pub struct Status {
    /// Always `ok`.
    pub status: &'static str,
    /// Kiln's version.
    pub version: &'static str,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// Services.
    pub services: Counts,
    /// Functions.
    pub functions: Counts,
    /// Requests routed since start.
    pub requests_total: u64,
    /// Instances alive (serving or idle).
    pub instances_active: usize,
    /// Deployed vs loaded apps, instances by state, artifact bytes on disk.
    pub occupancy: crate::deploy::Occupancy,
    /// With a shared PostgreSQL store: this node, the live nodes and what each serves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<crate::cluster::ClusterView>,
}

/// `GET /healthz` when the node should not get traffic.
#[derive(Serialize, ToSchema)]
pub struct Unready {
    /// Always `unavailable`.
    pub status: &'static str,
    /// Why: the database is unreachable, or this node is behind on a deploy.
    pub reason: String,
}

/// Liveness.
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: like `/health`, but 503 while a node of a cluster cannot reach the database or has
/// not applied the latest deploys, so that a load balancer drains it meanwhile.
pub async fn ready(State(app): State<Arc<App>>) -> Response {
    let cluster = app.platform.as_ref().and_then(|p| p.cluster.as_ref());
    match cluster.map(|c| c.health()) {
        Some(Err(reason)) => (
            http::StatusCode::SERVICE_UNAVAILABLE,
            Json(Unready {
                status: "unavailable",
                reason,
            }),
        )
            .into_response(),
        _ => Json(Health { status: "ok" }).into_response(),
    }
}

/// Status and counters.
pub async fn status(State(app): State<Arc<App>>) -> Result<Json<Status>, ApiError> {
    let apps = &app.platform()?.apps;
    let (services, enabled_services) = apps.counts(AppKind::Service).await?;
    let (functions, enabled_functions) = apps.counts(AppKind::Function).await?;
    let cluster = match &app.platform()?.cluster {
        Some(cluster) => Some(cluster.view().await?),
        None => None,
    };
    Ok(Json(Status {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: app.started.elapsed().as_secs(),
        services: Counts {
            total: services,
            enabled: enabled_services,
        },
        functions: Counts {
            total: functions,
            enabled: enabled_functions,
        },
        requests_total: app.requests_total.load(Ordering::Relaxed),
        instances_active: app.registry.live_instances(),
        occupancy: app.deployer.occupancy(),
        cluster,
    }))
}

/// Prometheus metrics.
pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    let text = app.registry.metrics().render(&app.deployer.occupancy());
    (
        [(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}
