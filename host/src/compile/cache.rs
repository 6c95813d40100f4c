//! Content addresses of compiled artifacts.

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

/// A hex digest of everything that makes precompiled code loadable by `engine` (wasmtime's
/// version and the engine's configuration), so that cache keys change when they do.
pub fn engine_fingerprint(engine: &wasmtime::Engine) -> String {
    use std::hash::Hash as _;
    let mut hasher = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(hasher.0.finalize())
}

/// A `std::hash::Hasher` feeding sha256, for hashes that must be stable across processes.
struct ShaHasher(Sha256);

impl std::hash::Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
