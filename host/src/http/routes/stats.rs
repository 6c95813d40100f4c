//! `GET /admin-api/v2/stats`: each app's requests on this node over the last minute (rate,
//! errors, latency percentiles, per second), from `crate::runtime::app_log`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::kind::AppKind;
use crate::runtime::app_log::{ActivityView, WINDOW_SECONDS};

/// One app's activity.
#[derive(Serialize, ToSchema)]
pub struct AppStats {
    /// `service` or `function`.
    #[schema(value_type = String)]
    pub kind: AppKind,
    /// Its name.
    pub name: String,
    /// Its requests.
    #[serde(flatten)]
    pub activity: ActivityView,
}

/// The node's activity: all apps' requests per second, and each app's.
#[derive(Serialize, ToSchema)]
pub struct Stats {
    /// The seconds `per_second` covers.
    pub window_seconds: usize,
    /// Requests to apps in each of the last seconds, oldest first.
    pub per_second: Vec<u32>,
    /// The apps that served a request since the node started, busiest first.
    pub apps: Vec<AppStats>,
}

/// The node's activity over the last minute.
pub async fn stats(State(app): State<Arc<App>>) -> Json<Stats> {
    let mut apps: Vec<AppStats> = app
        .deployer
        .logs()
        .activity()
        .into_iter()
        .map(|(kind, name, activity)| AppStats {
            kind,
            name,
            activity,
        })
        .collect();
    apps.sort_by(|a, b| {
        b.activity
            .rps
            .total_cmp(&a.activity.rps)
            .then_with(|| a.name.cmp(&b.name))
    });
    let mut per_second = vec![0u32; WINDOW_SECONDS];
    for app in &apps {
        for (sum, n) in per_second.iter_mut().zip(&app.activity.per_second) {
            *sum += n;
        }
    }
    Json(Stats {
        window_seconds: WINDOW_SECONDS,
        per_second,
        apps,
    })
}
