//! `cfg(kiln_test_swap)` when `KILN_TEST_NEEDS_SWAP` is set (CI sets it once it has enabled
//! swap): the test of an instance paged out to swap runs then, and is reported as ignored, with
//! its reason, otherwise.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(kiln_test_swap)");
    println!("cargo::rerun-if-env-changed=KILN_TEST_NEEDS_SWAP");
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("KILN_TEST_NEEDS_SWAP").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=kiln_test_swap");
    }
}
