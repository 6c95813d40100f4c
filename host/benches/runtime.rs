//! In-process figures for `just bench`: instantiate + handle per request for the JS hello app in
//! both isolation modes, and deploy → first successful response.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use kiln::app::App;
use kiln::config::{COMPILE_TIMEOUT, Config, Isolation, Limits};
use kiln::deploy::Deployer;
use kiln::kind::AppKind;
use kiln::runtime::{Registry, RunSpec, Tier};

const HELLO: &str = "export default { fetch() { return new Response('Hello, World!'); } };";

fn request() -> http::Request<Empty<Bytes>> {
    http::Request::builder()
        .uri("http://localhost/")
        .body(Empty::new())
        .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1e6
}

async fn serve_once(registry: &Registry, name: &str) -> bool {
    let Some(deployment) = registry.get(AppKind::Service, name) else {
        return false;
    };
    match deployment.handle(request()).await {
        Ok(response) => {
            let ok = response.status().is_success();
            let _ = response.into_body().collect().await;
            ok
        }
        Err(_) => false,
    }
}

async fn wait_for_snapshot(registry: &Registry, name: &str) -> Duration {
    let started = Instant::now();
    while registry.get(AppKind::Service, name).map(|d| d.tier) != Some(Tier::Snapshot) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    started.elapsed()
}

fn main() {
    let iterations: usize = std::env::var("KILN_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let data = tempfile::tempdir().unwrap();
        let config = Config {
            max_instances: 100,
            ..Config::one_shot(data.path().to_path_buf(), Duration::from_secs(30))
        };
        let started = Instant::now();
        let deployer: Arc<Deployer> = App::deployer(&config).unwrap();
        deployer.compiler().base().await.unwrap();
        println!("engine_build_ms {:.1}", started.elapsed().as_secs_f64() * 1e3);
        let registry = deployer.registry().clone();
        let deploy = |name: String, source: String, isolation: Isolation| {
            let deployer = deployer.clone();
            async move {
                let spec = RunSpec::new(isolation, Limits::default());
                let prepared = deployer
                    .prepare_js(AppKind::Service, &name, "index.js", &source, spec, COMPILE_TIMEOUT)
                    .await
                    .unwrap();
                deployer.activate(prepared, None);
            }
        };

        // Deploy → first successful response, for apps never seen before (no cache hit).
        let mut first_response = Vec::new();
        let mut snapshot_ready = Vec::new();
        for i in 0..5 {
            let name = format!("deploy-{i}");
            let source = format!("const n = {i}; export default {{ fetch() {{ return new Response('app ' + n + ' {}'); }} }};", started.elapsed().as_nanos());
            let t0 = Instant::now();
            deploy(name.clone(), source, Isolation::Request).await;
            while !serve_once(&registry, &name).await {}
            first_response.push(t0.elapsed());
            snapshot_ready.push(t0.elapsed() + wait_for_snapshot(&registry, &name).await);
        }
        first_response.sort();
        snapshot_ready.sort();
        println!("deploy_to_first_response_ms_p50 {:.2}", percentile(&first_response, 0.5) / 1e3);
        println!("deploy_to_snapshot_ms_p50 {:.1}", percentile(&snapshot_ready, 0.5) / 1e3);

        for (label, isolation) in [("request", Isolation::Request), ("reuse", Isolation::Reuse)] {
            let name = format!("hello-{label}");
            deploy(name.clone(), HELLO.to_string(), isolation).await;
            wait_for_snapshot(&registry, &name).await;
            for _ in 0..1000 {
                assert!(serve_once(&registry, &name).await);
            }
            let mut times = Vec::with_capacity(iterations);
            for _ in 0..iterations {
                let t0 = Instant::now();
                assert!(serve_once(&registry, &name).await);
                times.push(t0.elapsed());
            }
            times.sort();
            println!(
                "inprocess_{label}_us p50 {:.1} p99 {:.1} mean {:.1}",
                percentile(&times, 0.5),
                percentile(&times, 0.99),
                times.iter().sum::<Duration>().as_secs_f64() * 1e6 / times.len() as f64
            );
        }
    });
}
