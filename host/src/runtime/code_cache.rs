//! The store behind Cranelift's incremental compilation cache: one file per entry, written
//! atomically.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest, Sha256};

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
        self.dir.join(hex::encode(Sha256::digest(key)))
    }
}

impl wasmtime::CacheStore for DiskCacheStore {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        std::fs::read(self.path(key)).ok().map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        crate::fsutil::write_atomic(&self.path(key), &value).is_ok()
    }
}
