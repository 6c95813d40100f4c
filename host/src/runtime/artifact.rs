//! Precompiled artifacts in Kiln's cache directory: written with a MAC beside them
//! (`{path}.mac`, HMAC-SHA256 under the key of the directory they are in, `.artifact-key`, made
//! at random when the directory is first used) and checked against it before their native code
//! is ever mapped. A file planted with a matching plain hash, or copied from another cache, is
//! not taken. The directories holding keys are never grantable (see `apps::validate::Guard`).
//! A file is checked once per process (while its length and modification time stay the same).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::Engine;
use wasmtime::component::Component;

/// Files whose hash matched, with the length and modification time they had then.
fn verified() -> &'static Mutex<HashMap<PathBuf, (u64, SystemTime)>> {
    static VERIFIED: OnceLock<Mutex<HashMap<PathBuf, (u64, SystemTime)>>> = OnceLock::new();
    VERIFIED.get_or_init(Mutex::default)
}

/// Where the MAC of an artifact is kept.
pub fn hash_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".mac");
    PathBuf::from(name)
}

/// The name of a cache directory's key file.
const KEY_FILE: &str = ".artifact-key";

/// The key of the directory holding `path`: read, or made (random, mode 0600) the first time.
fn key(path: &Path) -> anyhow::Result<[u8; 32]> {
    static KEYS: OnceLock<Mutex<HashMap<PathBuf, [u8; 32]>>> = OnceLock::new();
    let dir = path
        .parent()
        .ok_or_else(|| anyhow::anyhow!("an artifact path has no directory"))?;
    let keys = KEYS.get_or_init(Mutex::default);
    if let Some(key) = keys.lock().expect("artifact keys").get(dir) {
        return Ok(*key);
    }
    let file = dir.join(KEY_FILE);
    let read = |file: &Path| -> Option<[u8; 32]> {
        let text = std::fs::read_to_string(file).ok()?;
        hex::decode(text.trim()).ok()?.try_into().ok()
    };
    let key = match read(&file) {
        Some(key) => key,
        None => {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            std::fs::create_dir_all(dir)?;
            let fresh: [u8; 32] = rand::random();
            // Created exclusively: of processes starting at once on one cache, one key wins.
            let created = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&file)
                .and_then(|mut out| {
                    out.write_all(hex::encode(fresh).as_bytes())?;
                    out.sync_data()
                });
            match created {
                Ok(()) => fresh,
                Err(_) => read(&file).ok_or_else(|| {
                    anyhow::anyhow!("the artifact key {} is unreadable", file.display())
                })?,
            }
        }
    };
    keys.lock()
        .expect("artifact keys")
        .insert(dir.to_path_buf(), key);
    Ok(key)
}

/// The hex MAC of `bytes` stored at `path`.
fn mac(path: &Path, bytes: &[u8]) -> anyhow::Result<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key(path)?)
        .map_err(|_| anyhow::anyhow!("a key of any length is accepted"))?;
    mac.update(bytes);
    Ok(hex::encode(mac.finalize().into_bytes()))
}

fn stamp(path: &Path) -> Option<(u64, SystemTime)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// Writes `cwasm` at `path` with its MAC beside it, both atomically.
pub fn write(path: &Path, cwasm: &[u8]) -> anyhow::Result<()> {
    let digest = mac(path, cwasm)?;
    crate::fsutil::write_atomic(path, cwasm)?;
    crate::fsutil::write_atomic(&hash_path(path), digest.as_bytes())?;
    if let Some(stamp) = stamp(path) {
        verified()
            .lock()
            .expect("verified lock")
            .insert(path.to_path_buf(), stamp);
    }
    Ok(())
}

/// Whether `path` exists and matches the MAC recorded when it was written.
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
        .and_then(|bytes| mac(path, &bytes).ok());
    if recorded.is_none() || actual.is_none() || recorded != actual {
        if recorded.is_some() {
            tracing::warn!(path = %path.display(), "ignoring a cached artifact whose MAC does not match its directory's key");
        }
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
    // SAFETY: `path` lives in a Kiln cache directory, which no grant can reach, was written by
    // `write` with this engine configuration, and matches the MAC recorded then; wasmtime
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
