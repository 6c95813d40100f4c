//! Precompiled artifacts in Kiln's cache directory: written with their sha256 beside them
//! (`{path}.sha256`) and checked against it before their native code is ever mapped. A file is
//! hashed once per process (while its length and modification time stay the same).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Files whose hash matched, with the length and modification time they had then.
fn verified() -> &'static Mutex<HashMap<PathBuf, (u64, SystemTime)>> {
    static VERIFIED: OnceLock<Mutex<HashMap<PathBuf, (u64, SystemTime)>>> = OnceLock::new();
    VERIFIED.get_or_init(Mutex::default)
}

/// Where the recorded hash of an artifact is kept.
pub fn hash_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

fn stamp(path: &Path) -> Option<(u64, SystemTime)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// Writes `cwasm` at `path` with its hash beside it, both atomically.
pub fn write(path: &Path, cwasm: &[u8]) -> anyhow::Result<()> {
    crate::fsutil::write_atomic(path, cwasm)?;
    let digest = hex::encode(Sha256::digest(cwasm));
    crate::fsutil::write_atomic(&hash_path(path), digest.as_bytes())?;
    if let Some(stamp) = stamp(path) {
        verified()
            .lock()
            .expect("verified lock")
            .insert(path.to_path_buf(), stamp);
    }
    Ok(())
}

/// Whether `path` exists and matches the hash recorded when it was written.
pub fn verify(path: &Path) -> bool {
    let Some(stamp) = stamp(path) else {
        return false;
    };
    if verified().lock().expect("verified lock").get(path) == Some(&stamp) {
        return true;
    }
    let recorded = std::fs::read_to_string(hash_path(path)).ok();
    let actual = std::fs::read(path)
        .ok()
        .map(|bytes| hex::encode(Sha256::digest(&bytes)));
    if recorded.is_none() || recorded != actual {
        tracing::warn!(path = %path.display(), "ignoring a cached artifact whose hash does not match the one recorded");
        return false;
    }
    verified()
        .lock()
        .expect("verified lock")
        .insert(path.to_path_buf(), stamp);
    true
}

/// Loads a precompiled component from Kiln's cache, if present, matching its recorded hash, and
/// valid for this engine.
pub fn load(engine: &Engine, path: &Path) -> Option<Component> {
    if !verify(path) {
        return None;
    }
    #[expect(
        unsafe_code,
        reason = "the file is a precompiled artifact Kiln wrote to its own cache directory"
    )]
    // SAFETY: `path` lives in Kiln's cache directory, which no grant can reach, was written by
    // `write` with this engine configuration, and matches the hash recorded then; wasmtime
    // checks the version and configuration on load.
    let loaded = unsafe { Component::deserialize_file(engine, path) };
    match loaded {
        Ok(component) => Some(component),
        Err(error) => {
            tracing::warn!(path = %path.display(), error = %error, "ignoring an unusable cached artifact");
            None
        }
    }
}

/// The per-app artifacts in `dir` (named by their 64-hex-digit content address); the shared
/// engine's and files being written are not among them.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .and_then(|name| name.strip_suffix(".cwasm"))
                .is_some_and(|stem| stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .collect()
}

/// Bytes of every precompiled artifact in `dir`, the shared engine's included.
pub fn total_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "cwasm"))
        .filter_map(|entry| entry.metadata().ok())
        .map(|meta| meta.len())
        .sum()
}

/// Removes an artifact and its recorded hash; returns the bytes freed.
pub fn remove(path: &Path) -> u64 {
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    verified().lock().expect("verified lock").remove(path);
    let removed = std::fs::remove_file(path).is_ok();
    let _ = std::fs::remove_file(hash_path(path));
    if removed { size } else { 0 }
}
