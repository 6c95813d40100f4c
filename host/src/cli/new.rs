//! `kiln new`: a ready app folder from one of the templates under `host/templates/`, its name
//! written where the files say `{{name}}` (and, as a Cargo package name, `{{package}}`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

/// A template's files: (path in the folder, contents).
type Files = &'static [(&'static str, &'static str)];

/// The templates `kiln new --template` offers.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Template {
    /// A JavaScript service (`export default { fetch }`) with a `kiln.json`.
    Hello,
    /// A Hono app: `npm install && npm run build` bundles it with esbuild.
    Hono,
    /// A function (JSON in, JSON out) with a named method.
    Function,
    /// A function that streams its yields as Server-Sent Events.
    Stream,
    /// A wasi-http component in Rust: `cargo build --target wasm32-wasip2` makes `app.wasm`.
    Rust,
}

macro_rules! files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../templates/", $path)))),*]
    };
}

impl Template {
    fn files(self) -> Files {
        match self {
            Template::Hello => files!("hello/index.js", "hello/kiln.json", "hello/README.md"),
            Template::Hono => files!(
                "hono/src/index.js",
                "hono/package.json",
                "hono/kiln.json",
                "hono/README.md",
                "hono/.gitignore",
            ),
            Template::Function => files!("function/index.js", "function/README.md"),
            Template::Stream => files!("stream/index.js", "stream/README.md"),
            Template::Rust => files!(
                "rust/Cargo.toml",
                "rust/src/lib.rs",
                "rust/kiln.json",
                "rust/README.md",
                "rust/.gitignore",
            ),
        }
    }

    /// What to do next, printed after the folder is written.
    fn next_steps(self, dir: &Path) -> String {
        let dir = dir.display();
        match self {
            Template::Hello => format!("kiln serve --app {dir}"),
            Template::Hono => {
                format!("cd {dir} && npm install && npm run build && kiln serve --app .")
            }
            Template::Function => format!("kiln run {dir}/index.js --input '{{\"name\":\"Ada\"}}'"),
            Template::Stream => format!("kiln run {dir}/index.js --input '{{\"from\":3}}'"),
            Template::Rust => format!(
                "cd {dir} && cargo build --release --target wasm32-wasip2 && cp target/wasm32-wasip2/release/app.wasm app.wasm && kiln serve --app ."
            ),
        }
    }
}

/// Writes the folder `dir` (named `name`, which must be a valid app name) from `template`;
/// refuses a folder that exists and is not empty.
pub(super) fn new(name: &str, template: Template, dir: &Path) -> anyhow::Result<ExitCode> {
    crate::apps::validate::name(name).map_err(|e| anyhow::anyhow!("{e}"))?;
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        anyhow::bail!(
            "{} exists and is not empty: nothing was written",
            dir.display()
        );
    }
    for (path, contents) in template.files() {
        let relative = path.split_once('/').map_or(*path, |(_, rest)| rest);
        let target = dir.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let contents = contents
            .replace("{{name}}", name)
            .replace("{{package}}", &package_name(name));
        std::fs::write(&target, contents)
            .with_context(|| format!("writing {}", target.display()))?;
        println!("  wrote {}", target.display());
    }
    println!("next: {}", template.next_steps(dir));
    Ok(ExitCode::SUCCESS)
}

/// `name` as a Cargo package name, which cannot start with a digit.
fn package_name(name: &str) -> String {
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("app-{name}")
    } else {
        name.to_string()
    }
}
