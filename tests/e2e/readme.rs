//! The README's quick start, run exactly as written: in a fresh working directory holding only a
//! copy of `examples/`, with no `KILN_*` variables, no `--data-dir` and the documented port. The
//! commands and their documented answers are read from README.md, so the two cannot drift apart.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{kiln_bin, repo};

/// The fenced `sh` blocks of the README's "Quick start" section, line by line.
fn quick_start_lines() -> Vec<String> {
    section_lines("Quick start")
}

/// Both tests serve on the documented port, 8000: one at a time.
static PORT_8000: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The fenced `sh` blocks of the README's section `title`, line by line.
fn section_lines(title: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with(title))
        .unwrap_or_else(|| panic!("README.md has a '## {title}' section"));
    let mut lines = Vec::new();
    let mut in_block = false;
    for line in section.lines() {
        if line.starts_with("```") {
            in_block = !in_block;
        } else if in_block {
            lines.push(line.to_string());
        }
    }
    lines
}

/// Each command line starting with `prefix`, with the `# ...` lines right after it (its
/// documented output), comments after the command removed.
fn commands(prefix: &str) -> Vec<(String, Vec<String>)> {
    let lines = quick_start_lines();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with(prefix) {
            continue;
        }
        let command = match line.find("  #") {
            Some(at) => line[..at].trim_end().to_string(),
            None => line.trim_end().to_string(),
        };
        let output = lines[i + 1..]
            .iter()
            .take_while(|l| l.starts_with("# "))
            .map(|l| l[2..].to_string())
            .collect();
        found.push((command, output));
    }
    found
}

/// A fresh working directory with a copy of `examples/`.
fn newcomer_dir() -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("examples"), &work.path().join("examples"));
    work
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `bash -c LINE` in `dir`, with `kiln` on the PATH, no `KILN_*` variables and `HOME` inside
/// `dir` (so the user cache directory is the test's own).
fn shell(dir: &Path, line: &str) -> Command {
    let bin_dir = Path::new(kiln_bin()).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(line)
        .current_dir(dir)
        .env("PATH", path)
        .env("HOME", dir.join("home"))
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_CONFIG_HOME");
    for (name, _) in std::env::vars() {
        if name.starts_with("KILN_") {
            command.env_remove(name);
        }
    }
    command
}

/// Kills the quick-start server when the test ends, whatever happens.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_quick_start_serves_the_documented_answer_from_a_fresh_directory() {
    // `just serve` is the README's first command; it must run `kiln serve` as the README says.
    let justfile = std::fs::read_to_string(repo().join("justfile")).unwrap();
    let lines = quick_start_lines();
    let just = lines
        .iter()
        .find(|l| l.starts_with("just serve"))
        .expect("the quick start begins with `just serve`");
    let serve = just
        .split('#')
        .nth(1)
        .and_then(|comment| comment.find("kiln serve").map(|at| &comment[at..]))
        .expect("the `just serve` line says which `kiln serve` it runs")
        .trim()
        .trim_end_matches('`');
    let args = serve.strip_prefix("kiln serve").unwrap().trim();
    assert!(
        justfile.contains("serve APP=\"examples/hello\"")
            && justfile.contains("-- serve --app {{APP}}")
            && args == "--app examples/hello",
        "`just serve` and the README's `{serve}` must agree"
    );
    let curl = commands("curl ");
    assert_eq!(curl.len(), 1, "the quick start documents one `curl`");
    let (curl, answer) = &curl[0];
    assert_eq!(answer.len(), 1, "the curl line is followed by its answer");

    let _port = PORT_8000
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let work = newcomer_dir();
    let mut server = shell(work.path(), &format!("exec {serve}"));
    let server = KillOnDrop(
        server
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let got = loop {
        let output = shell(work.path(), &format!("{curl} -sS --fail-with-body"))
            .output()
            .unwrap();
        if output.status.success() {
            break String::from_utf8(output.stdout).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the quick start never answered: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(got.trim(), answer[0]);
    assert!(
        work.path().join("kiln-data/cache").is_dir(),
        "the default data dir is ./kiln-data"
    );
    drop(server);
}

#[test]
fn kiln_compile_and_kiln_run_work_as_documented_from_a_fresh_directory() {
    let work = newcomer_dir();
    let compile = commands("kiln compile");
    assert_eq!(compile.len(), 1, "the quick start documents `kiln compile`");
    let output = shell(work.path(), &compile[0].0).output().unwrap();
    assert!(
        output.status.success(),
        "{}: {}",
        compile[0].0,
        String::from_utf8_lossy(&output.stderr)
    );
    let written = compile[0]
        .0
        .split_whitespace()
        .skip_while(|w| *w != "-o")
        .nth(1)
        .expect("kiln compile ... -o FILE");
    let wasm = std::fs::read(work.path().join(written)).unwrap();
    assert_eq!(&wasm[..4], b"\0asm", "a WebAssembly component is written");

    let run = commands("kiln run");
    assert_eq!(run.len(), 1, "the quick start documents `kiln run`");
    let (line, expected) = &run[0];
    assert!(!expected.is_empty(), "`kiln run` is followed by its output");
    let output = shell(work.path(), line).output().unwrap();
    assert!(
        output.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().collect::<Vec<_>>(), *expected);
    assert!(
        work.path().join("home/.cache/kiln/cache").is_dir(),
        "without --data-dir, the cache is in the user's cache directory"
    );
}

#[test]
fn the_five_minute_tour_deploys_logs_and_rolls_back_as_written() {
    let lines = section_lines("A five-minute tour");
    let serve = lines
        .first()
        .filter(|l| l.starts_with("kiln serve"))
        .expect("the tour starts the platform with `kiln serve`");
    let serve = serve.split("  #").next().unwrap().trim();
    let _port = PORT_8000
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let work = tempfile::tempdir().unwrap();
    let server = KillOnDrop(
        shell(work.path(), &format!("exec {serve}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    while shell(work.path(), "curl -sf http://127.0.0.1:8000/health")
        .output()
        .is_ok_and(|out| !out.status.success())
    {
        assert!(Instant::now() < deadline, "`{serve}` never answered");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Each command in turn, as a user types them; the documented answers must be what it prints.
    let mut ran = 0;
    for (i, line) in lines.iter().enumerate().skip(1) {
        if line.starts_with("# ") || line.trim().is_empty() {
            continue;
        }
        let command = line.split("  #").next().unwrap().trim();
        let command = if command.starts_with("curl ") {
            format!("{command} -sS --fail-with-body")
        } else {
            command.to_string()
        };
        let output = shell(work.path(), &command).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{command}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let documented: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| l.starts_with("# "))
            .map(|l| &l[2..])
            .collect();
        if !documented.is_empty() {
            assert_eq!(
                stdout.trim().lines().collect::<Vec<_>>(),
                documented,
                "{command}"
            );
        }
        if command.starts_with("kiln logs") {
            assert!(stdout.contains("GET /api/v2/greeter/ 200"), "{stdout}");
        }
        ran += 1;
    }
    assert!(ran >= 8, "the tour has its commands");
    drop(server);
}
