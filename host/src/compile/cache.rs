//! On-disk caches: content-addressed compiled artifacts, and the store behind Cranelift's
//! incremental compilation cache.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest, Sha256};

/// Hex sha256 of the given parts, separated so that `("ab","c")` and `("a","bc")` differ.
pub fn digest(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// Writes `bytes` to `path` atomically (temporary file + rename), so that a crash never leaves
/// a truncated artifact behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().context("artifact path has no parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("artifact"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// Cranelift's incremental cache, one file per entry under a directory.
#[derive(Debug)]
pub struct DiskCacheStore {
    dir: PathBuf,
}

impl DiskCacheStore {
    /// Opens (creating) the directory.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, key: &[u8]) -> PathBuf {
        self.dir.join(digest(&[key]))
    }
}

impl wasmtime::CacheStore for DiskCacheStore {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        std::fs::read(self.path(key)).ok().map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        write_atomic(&self.path(key), &value).is_ok()
    }
}
