//! Frontend hosting: a service's static assets, uploaded as a ZIP archive beside its server code.
//! The archive is extracted into a fresh directory, checked entry by entry (no path leaving it, no
//! link, bounded counts, sizes and compression ratios), and swapped in for the previous assets
//! in one step only once the service's code has been compiled and stored.

use std::collections::HashSet;
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

use super::AppsError;

/// The most entries an archive may hold.
pub const MAX_ENTRIES: usize = 10_000;
/// The most bytes an archive may expand to.
pub const MAX_EXPANDED: u64 = 256 << 20;
/// The highest expansion ratio of an entry over 1 MiB (a zip bomb expands far more).
pub const MAX_RATIO: u64 = 100;

/// Where a service's assets live: `{data_dir}/static/{name}`.
pub fn static_dir(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("static").join(name)
}

/// Whether `dir` is some node's `{data_dir}/static/{name}`: a frontend's assets.
pub fn is_assets_dir(dir: &Path, name: &str) -> bool {
    dir.file_name().is_some_and(|f| f == name)
        && dir
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|f| f == "static")
}

/// Where the sha256 of the archive unpacked into `static/{name}` is noted (outside `static/`,
/// whose every entry is a service's assets).
fn marker(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("unpacked").join(format!("{name}.sha256"))
}

/// The sha256 of the archive whose files are in `static/{name}`, if noted.
pub fn unpacked_sha256(data_dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(marker(data_dir, name))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Notes that `static/{name}` holds the files of the archive with this sha256.
pub fn mark_unpacked(data_dir: &Path, name: &str, sha256: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir.join("unpacked"))?;
    crate::fsutil::write_atomic(&marker(data_dir, name), sha256.as_bytes())
}

/// Forgets what `static/{name}` held.
pub fn forget_unpacked(data_dir: &Path, name: &str) {
    let _ = std::fs::remove_file(marker(data_dir, name));
}

/// Refused with 413 rather than 400.
fn too_large(message: String) -> AppsError {
    AppsError::TooLarge(message)
}

fn invalid(message: String) -> AppsError {
    AppsError::Invalid(format!("static: {message}"))
}

/// Extracts `archive` into a new directory under `parent` and returns it; nothing is left behind
/// on error.
pub fn extract(archive: &[u8], parent: &Path) -> Result<tempfile::TempDir, AppsError> {
    std::fs::create_dir_all(parent).map_err(|e| AppsError::Internal(e.into()))?;
    let out = tempfile::Builder::new()
        .prefix(".upload-")
        .tempdir_in(parent)
        .map_err(|e| AppsError::Internal(e.into()))?;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive))
        .map_err(|e| invalid(format!("not a ZIP archive: {e}")))?;
    if zip.len() > MAX_ENTRIES {
        return Err(too_large(format!(
            "the archive has {} entries; at most {MAX_ENTRIES} are accepted",
            zip.len()
        )));
    }
    let mut seen = HashSet::new();
    let mut expanded = 0u64;
    for index in 0..zip.len() {
        let mut entry = zip
            .by_index(index)
            .map_err(|e| invalid(format!("entry {index}: {e}")))?;
        let name = entry.name().to_string();
        let relative = safe_path(&name)?;
        if entry.is_symlink() {
            return Err(invalid(format!(
                "'{name}' is a symbolic link; links are refused"
            )));
        }
        if !seen.insert(relative.clone()) {
            return Err(invalid(format!("'{name}' appears twice in the archive")));
        }
        let target = out.path().join(&relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| invalid(format!("'{name}': {e}")))?;
            continue;
        }
        let declared = entry.size();
        if declared > (1 << 20) && declared / entry.compressed_size().max(1) > MAX_RATIO {
            return Err(too_large(format!(
                "'{name}' expands {}x; at most {MAX_RATIO}x is accepted",
                declared / entry.compressed_size().max(1)
            )));
        }
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(|e| invalid(format!("'{name}': {e}")))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|e| invalid(format!("'{name}': {e}")))?;
        // The declared sizes may lie: what is written is counted as it is.
        let budget = MAX_EXPANDED - expanded;
        let written = std::io::copy(&mut (&mut entry).take(budget + 1), &mut file)
            .map_err(|e| invalid(format!("'{name}': {e}")))?;
        expanded += written;
        if written > budget {
            return Err(too_large(format!(
                "the archive expands to more than {} MiB",
                MAX_EXPANDED >> 20
            )));
        }
    }
    Ok(out)
}

/// An entry's name as a relative path that stays inside the extraction directory.
fn safe_path(name: &str) -> Result<PathBuf, AppsError> {
    let refuse = |why: &str| invalid(format!("'{name}' is refused: {why}"));
    if name.contains('\0') || name.contains('\\') {
        return Err(refuse("it contains a NUL or a backslash"));
    }
    let path = Path::new(name);
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(refuse("it contains '..'")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(refuse("it is an absolute path"));
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(refuse("it names no file"));
    }
    Ok(out)
}

/// Puts `fresh` in place of `dir` in one step (the previous assets, if any, are removed after):
/// readers see the old tree or the new one, never a mix or nothing.
pub fn swap_in(fresh: tempfile::TempDir, dir: &Path) -> anyhow::Result<()> {
    let fresh = fresh.keep();
    if dir.exists() {
        crate::fsutil::exchange(&fresh, dir)?;
        std::fs::remove_dir_all(&fresh)?;
    } else {
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(&fresh, dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_never_leave_the_directory() {
        assert_eq!(
            safe_path("css/./style.css").expect("ok"),
            Path::new("css/style.css")
        );
        for bad in ["../x", "a/../../x", "/etc/passwd", "a\\..\\b", "./", ""] {
            assert!(safe_path(bad).is_err(), "{bad}");
        }
    }
}
