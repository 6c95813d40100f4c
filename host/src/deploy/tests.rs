//! In process: two runtimes built side by side keep their own instances, counters and caches;
//! the idle budget keeps the instances of the apps called most.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};

use crate::app::App;
use crate::config::{Config, Isolation, Limits, Tiering};
use crate::kind::AppKind;
use crate::metrics::Occupancy;
use crate::runtime::RunSpec;
use crate::runtime::pool::IdleBudget;

const HELLO: &[u8] = include_bytes!("../../../components/hello-rust.wasm");

fn config(dir: &Path) -> Config {
    Config {
        max_instances: 8,
        ..Config::one_shot(dir.to_path_buf(), Duration::from_secs(30))
    }
}

async fn serve(deployer: &super::Deployer) {
    serve_app(deployer, "hello").await;
}

async fn serve_app(deployer: &super::Deployer, name: &str) {
    let deployment = deployer
        .registry()
        .get(AppKind::Service, name)
        .expect("deployed");
    let request = http::Request::builder()
        .uri("http://localhost/")
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = deployment.handle(request).await.expect("served");
    assert!(response.status().is_success());
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert!(!body.is_empty());
}

fn metric(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        .to_string()
}

#[tokio::test]
async fn two_runtimes_in_one_process_count_their_own_instances_and_compiles() {
    let (one_dir, other_dir) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let one = App::deployer(&config(one_dir.path())).expect("runtime");
    let other = App::deployer(&config(other_dir.path())).expect("runtime");
    for deployer in [&one, &other] {
        deploy_hello(deployer, "hello", Isolation::Request).await;
    }

    for _ in 0..3 {
        serve(&one).await;
    }

    let (one, other) = (
        one.registry().metrics().render(&Occupancy::default()),
        other.registry().metrics().render(&Occupancy::default()),
    );
    assert_eq!(metric(&one, "kiln_instantiations_total"), "3");
    assert_eq!(metric(&other, "kiln_instantiations_total"), "0");
    for text in [&one, &other] {
        assert_eq!(metric(text, "kiln_compile_cache_misses_total"), "1");
        assert_eq!(metric(text, "kiln_compile_cache_hits_total"), "0");
    }
}

#[tokio::test]
async fn idle_code_leaves_memory_at_a_tick_and_is_mapped_again_by_the_next_request() {
    let dir = tempfile::tempdir().expect("dir");
    let config = Config {
        tiering: Tiering {
            idle_timeout: Duration::ZERO,
            ..Tiering::default()
        },
        ..config(dir.path())
    };
    let deployer = App::deployer(&config).expect("runtime");
    deploy_hello(&deployer, "hello", Isolation::Reuse).await;
    serve(&deployer).await;
    let deployment = || {
        deployer
            .registry()
            .get(AppKind::Service, "hello")
            .expect("deployed")
    };
    assert!(deployment().is_loaded());

    deployer.tick(1).await;
    assert!(!deployment().is_loaded(), "idle code was not unloaded");
    serve(&deployer).await;
    assert!(deployment().is_loaded());

    let text = deployer.registry().metrics().render(&Occupancy::default());
    assert_eq!(metric(&text, "kiln_unloads_total"), "1");
    assert_eq!(metric(&text, "kiln_code_loads_total"), "1");
}

async fn deploy_hello(deployer: &super::Deployer, name: &str, isolation: Isolation) {
    let spec = RunSpec::new(isolation, Limits::default());
    let prepared = deployer
        .prepare_component(AppKind::Service, name, HELLO, spec)
        .await
        .expect("deployed");
    deployer.activate(prepared, None);
}

fn idle_of(deployer: &super::Deployer, name: &str) -> usize {
    deployer
        .registry()
        .get(AppKind::Service, name)
        .expect("deployed")
        .idle_instances()
}

#[tokio::test]
async fn a_hot_app_keeps_its_instance_under_a_tail_of_cold_ones() {
    let dir = tempfile::tempdir().expect("dir");
    let config = Config {
        tiering: Tiering {
            max_idle_instances: 2,
            ..Tiering::default()
        },
        ..config(dir.path())
    };
    let deployer = App::deployer(&config).expect("runtime");
    for name in ["hot", "cold-0", "cold-1", "cold-2"] {
        deploy_hello(&deployer, name, Isolation::Reuse).await;
    }
    for _ in 0..5 {
        serve_app(&deployer, "hot").await;
    }
    deployer.registry().sweep(Duration::from_secs(60));
    // The budget holds two: the first cold app fits, the second finds it full.
    serve_app(&deployer, "cold-0").await;
    serve_app(&deployer, "cold-1").await;
    assert_eq!(
        (idle_of(&deployer, "cold-0"), idle_of(&deployer, "cold-1")),
        (1, 0)
    );
    deployer.registry().sweep(Duration::from_secs(60));
    // Full: a new cold app is no hotter than the coldest one keeping an instance.
    serve_app(&deployer, "cold-2").await;
    assert_eq!(idle_of(&deployer, "cold-2"), 0);
    assert_eq!(
        idle_of(&deployer, "hot"),
        1,
        "the hot app lost its instance"
    );
    let instances = deployer.registry().instances();
    assert!(instances.idle() <= 2, "{} idle", instances.idle());

    // The hot app is served warm; evicted apps still answer.
    serve_app(&deployer, "hot").await;
    serve_app(&deployer, "cold-1").await;
    let text = deployer.registry().metrics().render(&Occupancy::default());
    assert_eq!(metric(&text, "kiln_warm_hits_total"), "5");
    assert_eq!(metric(&text, "kiln_instantiations_total"), "5");
    assert_eq!(metric(&text, "kiln_idle_evictions_total"), "3");

    // A smaller budget: the tick takes the coldest app's instance, not the hot one's.
    instances.set_budget(IdleBudget {
        bytes: usize::MAX,
        instances: 1,
    });
    deployer.registry().sweep(Duration::from_secs(60));
    assert_eq!(idle_of(&deployer, "hot"), 1);
    assert_eq!(instances.idle(), 1);
    // Idle past the timeout: gone, whatever the heat.
    deployer.registry().sweep(Duration::ZERO);
    assert_eq!(instances.idle(), 0);
}

#[tokio::test]
async fn a_request_finding_every_slot_taken_by_idle_instances_evicts_one_and_is_served() {
    let dir = tempfile::tempdir().expect("dir");
    let deployer = App::deployer(&config(dir.path())).expect("runtime");
    // Idle instances allowed to fill all 8 slots of this runtime.
    deployer
        .registry()
        .instances()
        .set_budget(IdleBudget::UNBOUNDED);
    let names: Vec<String> = (0..9).map(|i| format!("app-{i}")).collect();
    for name in &names {
        deploy_hello(&deployer, name, Isolation::Reuse).await;
    }
    for name in &names[..8] {
        serve_app(&deployer, name).await;
    }
    assert_eq!(deployer.registry().instances().idle(), 8);
    serve_app(&deployer, &names[8]).await;
    assert_eq!(deployer.registry().instances().idle(), 8);
    let text = deployer.registry().metrics().render(&Occupancy::default());
    assert_eq!(metric(&text, "kiln_idle_evictions_total"), "1");
}

#[tokio::test]
async fn renewing_shared_code_releases_its_slots_and_retires_instances_of_the_old_copy() {
    let dir = tempfile::tempdir().expect("dir");
    let deployer = App::deployer(&config(dir.path())).expect("runtime");
    let (compiler, registry) = (&deployer.compiler, deployer.registry());
    let path = dir.path().join("shared.cwasm");
    let cwasm = compiler
        .engine()
        .precompile_component(HELLO)
        .expect("precompiled");
    crate::runtime::artifact::write(&path, &cwasm).expect("written");
    let shared = std::sync::Arc::new(
        crate::runtime::SharedCode::load(&path, compiler.engine(), compiler.linker())
            .expect("loaded"),
    );
    let parts = crate::runtime::Parts {
        name: "shared".into(),
        code: crate::runtime::Code::Shared(shared.clone()),
        tier: crate::runtime::Tier::Component,
        artifact: String::new(),
        stdin: None,
        js: None,
    };
    let spec = RunSpec::new(Isolation::Reuse, Limits::default());
    let deployment = std::sync::Arc::new(crate::runtime::Deployment::new(
        parts,
        compiler.engine(),
        &spec,
        registry.instances().clone(),
    ));
    let unused = || {
        let pool = compiler
            .engine()
            .pooling_allocator_metrics()
            .expect("pooling");
        pool.unused_memory_bytes_resident()
    };
    let call = |deployment: std::sync::Arc<crate::runtime::Deployment>| async move {
        let request = http::Request::builder()
            .uri("http://localhost/")
            .body(Empty::<Bytes>::new())
            .expect("request");
        let response = deployment.handle(request).await.expect("served");
        assert!(response.status().is_success());
        response.into_body().collect().await.expect("body");
        // The instance is returned (or dropped) when the guest's call ends, after the body.
        let pool = registry.instances().clone();
        for _ in 0..500 {
            if pool.live() == pool.idle() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };

    // Two at once: two instances, kept idle; dropped, their slots stay resident.
    futures_util::future::join(call(deployment.clone()), call(deployment.clone())).await;
    assert_eq!(deployment.idle_instances(), 2);
    let before = unused();
    deployment.unload();
    assert!(unused() > before, "freed slots keep pages resident");

    // One instance of the old copy is alive when the code is renewed: it serves its request,
    // then goes instead of back to the pool.
    call(deployment.clone()).await;
    assert_eq!(deployment.idle_instances(), 1);
    shared.renew().expect("renewed");
    call(deployment.clone()).await;
    assert_eq!(
        deployment.idle_instances(),
        0,
        "an instance of the old copy is not kept"
    );
    // With its last instance gone, the old copy's slots were released.
    let released = unused();
    call(deployment.clone()).await;
    assert_eq!(deployment.idle_instances(), 1, "new instances are kept");
    assert!(
        released < before + (64 << 10),
        "the old copy's slots still hold {released} bytes (before: {before})"
    );
}
