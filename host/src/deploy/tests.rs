//! In process: two runtimes built side by side keep their own instances, counters and caches.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};

use crate::app::App;
use crate::config::{Config, Isolation, Limits, Tiering};
use crate::kind::AppKind;
use crate::metrics::Occupancy;
use crate::runtime::RunSpec;

const HELLO: &[u8] = include_bytes!("../../../components/hello-rust.wasm");

fn config(dir: &Path) -> Config {
    Config {
        max_instances: 8,
        ..Config::one_shot(dir.to_path_buf(), Duration::from_secs(30))
    }
}

async fn serve(deployer: &super::Deployer) {
    let deployment = deployer
        .registry()
        .get(AppKind::Service, "hello")
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
        let spec = RunSpec::new(Isolation::Request, Limits::default());
        let prepared = deployer
            .prepare_component(AppKind::Service, "hello", HELLO, spec)
            .await
            .expect("deployed");
        deployer.activate(prepared, None);
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
    let spec = RunSpec::new(Isolation::Reuse, Limits::default());
    let prepared = deployer
        .prepare_component(AppKind::Service, "hello", HELLO, spec)
        .await
        .expect("deployed");
    deployer.activate(prepared, None);
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
