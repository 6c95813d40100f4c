//! The two kinds of app Kiln serves. Every layer shares this one type.

use std::fmt;

/// A service answers HTTP at `/api/v2/{name}/*`; a function is called with JSON at
/// `/functions/v2/{name}` and answers JSON or a stream of yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppKind {
    /// Handles HTTP requests (`fetch`, a default handler, `Deno.serve`, or any wasi-http component).
    Service,
    /// Called with JSON (`export default function(input)`; generators stream).
    Function,
}

impl AppKind {
    /// Both kinds.
    pub const ALL: [AppKind; 2] = [AppKind::Service, AppKind::Function];

    /// `service` or `function` (also the engine's name for it and the stored value).
    pub fn as_str(self) -> &'static str {
        match self {
            AppKind::Service => "service",
            AppKind::Function => "function",
        }
    }

    /// `services` or `functions`: the admin API's path segment and list key.
    pub fn plural(self) -> &'static str {
        match self {
            AppKind::Service => "services",
            AppKind::Function => "functions",
        }
    }

    /// The kind stored as `text`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "service" => Some(AppKind::Service),
            "function" => Some(AppKind::Function),
            _ => None,
        }
    }
}

impl fmt::Display for AppKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
