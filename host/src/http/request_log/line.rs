//! The request line, in Kiln's own layout (documented in `docs/operations.md`):
//!
//! - **text**: `TIME  INFO kiln::request: request request_id=ID kind=K name=N version=V
//!   method=M path=P status=S bytes=B duration_us=D isolation=I complete=C`. A value that is
//!   printable ASCII without spaces, quotes or backslashes is written as is; any other is written
//!   as a JSON string (quoted, escaped), so a line is always one line and can be split on spaces.
//! - **json**: `{"timestamp":TIME,"level":"INFO","target":"kiln::request","fields":{"message":
//!   "request",…}}` with the same fields in the same order; `status`, `bytes`, `duration_us`
//!   are numbers, `complete` a boolean, the rest strings (`version` too: it is `-` when no app
//!   answered).
//! - **apache**: the combined log format, then the request id and the duration in seconds.
//!
//! TIME is RFC 3339 in UTC to the microsecond. Lines are written straight to the log's writer:
//! formatting the line through a generic event layer cost as much as a small guest's request.

use std::time::{Duration, SystemTime};

use super::{Served, Started};
use crate::logging::LogFormat;

/// A request's line, once its response is known.
pub(super) struct Line {
    pub(super) started: Started,
    pub(super) served: Option<Served>,
    pub(super) status: u16,
    pub(super) bytes: u64,
    /// The body's length when it was known up front (hyper stops reading there).
    pub(super) length: Option<u64>,
}

impl Line {
    /// Writes the line, if `kiln::request` is enabled at `info` (`RUST_LOG`).
    pub(super) fn emit(self, complete: bool) {
        let duration = self.started.at.elapsed();
        if let Some(served) = &self.served
            && let Some(log) = &served.log
        {
            let summary = self.summary(duration, complete);
            log.request(&self.started.id, &summary, self.status, duration);
        }
        if !tracing::enabled!(target: "kiln::request", tracing::Level::INFO) {
            return;
        }
        let now = SystemTime::now();
        match crate::logging::format() {
            LogFormat::Apache => {
                if let Some(line) = self.apache(duration) {
                    crate::logging::access(&line);
                }
            }
            LogFormat::Json => crate::logging::event(&self.fields(duration, complete).json(now)),
            LogFormat::Text => crate::logging::event(
                &self
                    .fields(duration, complete)
                    .text(now, crate::logging::coloured()),
            ),
        }
    }

    /// The line as the app's own log has it: `GET /api/v2/a/x 200 13 B 0.42 ms`, and `(cut
    /// short)` when the client went away before the body's end.
    fn summary(&self, duration: Duration, complete: bool) -> String {
        let s = &self.started;
        let cut = if complete { "" } else { " (cut short)" };
        format!(
            "{} {} {} {} B {:.2} ms{cut}",
            s.method,
            s.target,
            self.status,
            self.bytes,
            duration.as_secs_f64() * 1e3,
        )
    }

    fn fields(&self, duration: Duration, complete: bool) -> Fields<'_> {
        let s = &self.started;
        let (kind, name, version, isolation) = match &self.served {
            Some(served) => (
                served.kind.as_str(),
                &*served.name,
                Version::Number(served.version),
                served.isolation.as_str(),
            ),
            None => (s.route.as_str(), "-", Version::None, "-"),
        };
        Fields {
            request_id: &s.id,
            kind,
            name,
            version,
            method: s.method.as_str(),
            path: &s.target,
            status: self.status,
            bytes: self.bytes,
            duration_us: duration.as_micros() as u64,
            isolation,
            complete,
        }
    }

    /// The combined log format, then the request id and the duration in seconds (as nginx's
    /// `$request_id $request_time`).
    fn apache(&self, duration: Duration) -> Option<String> {
        let s = &self.started;
        let c = s.combined.as_ref()?;
        let time = c
            .wall
            .format(APACHE_TIME)
            .unwrap_or_else(|_| "-".to_string());
        let quoted = |value: &Option<String>| match value {
            Some(value) => escape(value),
            None => "-".to_string(),
        };
        let bytes = if self.bytes == 0 {
            "-".to_string()
        } else {
            self.bytes.to_string()
        };
        Some(format!(
            "{} - - [{time}] \"{} {} {:?}\" {} {bytes} \"{}\" \"{}\" {} {:.6}\n",
            c.client
                .map_or_else(|| "-".to_string(), |addr| addr.ip().to_string()),
            s.method,
            escape(&s.target),
            s.version,
            self.status,
            quoted(&c.referer),
            quoted(&c.user_agent),
            s.id,
            duration.as_secs_f64(),
        ))
    }
}

const APACHE_TIME: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
);

/// `value` with quotes, backslashes and control bytes escaped, as Apache writes them.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32 & 0xff)),
            c => out.push(c),
        }
    }
    out
}

/// The app version a line names: none when no app answered.
#[derive(Clone, Copy)]
enum Version {
    Number(u64),
    None,
}

/// A request line's fields, in their order on the line.
struct Fields<'a> {
    request_id: &'a str,
    kind: &'a str,
    name: &'a str,
    version: Version,
    method: &'a str,
    path: &'a str,
    status: u16,
    bytes: u64,
    duration_us: u64,
    isolation: &'a str,
    complete: bool,
}

/// A field's value.
enum Value<'a> {
    Text(&'a str),
    /// A text made of digits (the version), a string in JSON.
    Digits(u64),
    Number(u64),
    Bool(bool),
}

impl Fields<'_> {
    fn values(&self) -> [(&'static str, Value<'_>); 11] {
        let version = match self.version {
            Version::Number(n) => Value::Digits(n),
            Version::None => Value::Text("-"),
        };
        [
            ("request_id", Value::Text(self.request_id)),
            ("kind", Value::Text(self.kind)),
            ("name", Value::Text(self.name)),
            ("version", version),
            ("method", Value::Text(self.method)),
            ("path", Value::Text(self.path)),
            ("status", Value::Number(self.status.into())),
            ("bytes", Value::Number(self.bytes)),
            ("duration_us", Value::Number(self.duration_us)),
            ("isolation", Value::Text(self.isolation)),
            ("complete", Value::Bool(self.complete)),
        ]
    }

    /// The text line; `coloured` paints the level as a terminal shows it.
    fn text(&self, now: SystemTime, coloured: bool) -> String {
        let mut line = Out(String::with_capacity(256 + self.path.len()));
        line.time(now);
        line.put(if coloured {
            " \x1b[32m INFO\x1b[0m kiln::request: request"
        } else {
            "  INFO kiln::request: request"
        });
        for (name, value) in self.values() {
            line.put(" ");
            line.put(name);
            line.put("=");
            match value {
                Value::Text(text) if is_bare(text) => line.put(text),
                Value::Text(text) => line.string(text),
                Value::Digits(n) | Value::Number(n) => line.num(n),
                Value::Bool(b) => line.put(if b { "true" } else { "false" }),
            }
        }
        line.put("\n");
        line.0
    }

    /// The JSON line.
    fn json(&self, now: SystemTime) -> String {
        let mut line = Out(String::with_capacity(320 + self.path.len()));
        line.put("{\"timestamp\":\"");
        line.time(now);
        line.put("\",\"level\":\"INFO\",\"target\":\"kiln::request\",\"fields\":{\"message\":\"request\"");
        for (name, value) in self.values() {
            line.put(",\"");
            line.put(name);
            line.put("\":");
            match value {
                Value::Text(text) => line.string(text),
                Value::Digits(n) => {
                    line.put("\"");
                    line.num(n);
                    line.put("\"");
                }
                Value::Number(n) => line.num(n),
                Value::Bool(b) => line.put(if b { "true" } else { "false" }),
            }
        }
        line.put("}}\n");
        line.0
    }
}

/// Whether `text` reads the same unquoted: printable ASCII, no spaces, quotes or backslashes.
fn is_bare(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

/// A line being written.
struct Out(String);

impl Out {
    fn put(&mut self, text: &str) {
        self.0.push_str(text);
    }

    /// `text` as a JSON string.
    fn string(&mut self, text: &str) {
        if is_bare(text) {
            self.0.push('"');
            self.0.push_str(text);
            self.0.push('"');
        } else {
            // A `String` always serialises.
            self.0
                .push_str(&serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into()));
        }
    }

    fn num(&mut self, n: u64) {
        self.0.push_str(itoa::Buffer::new().format(n));
    }

    /// `n` in at least `width` digits.
    fn padded(&mut self, n: u32, width: usize) {
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(n);
        for _ in digits.len()..width {
            self.0.push('0');
        }
        self.0.push_str(digits);
    }

    /// RFC 3339 in UTC, to the microsecond.
    fn time(&mut self, now: SystemTime) {
        let at = time::OffsetDateTime::from(now);
        self.padded(at.year().max(0) as u32, 4);
        self.0.push('-');
        self.padded(u8::from(at.month()).into(), 2);
        self.0.push('-');
        self.padded(at.day().into(), 2);
        self.0.push('T');
        self.padded(at.hour().into(), 2);
        self.0.push(':');
        self.padded(at.minute().into(), 2);
        self.0.push(':');
        self.padded(at.second().into(), 2);
        self.0.push('.');
        self.padded(at.microsecond(), 6);
        self.0.push('Z');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served() -> Fields<'static> {
        Fields {
            request_id: "trace-42.a:b/c",
            kind: "service",
            name: "hello-app",
            version: Version::Number(12),
            method: "PATCH",
            path: "/api/v2/hello-app/x/y?q=1&r=%20a",
            status: 201,
            bytes: 13,
            duration_us: 457,
            isolation: "request",
            complete: true,
        }
    }

    #[test]
    fn text_lines_write_plain_values_bare_and_others_as_json_strings() {
        let at = std::time::UNIX_EPOCH + Duration::from_micros(1_700_000_000_012_345);
        assert_eq!(
            served().text(at, false),
            "2023-11-14T22:13:20.012345Z  INFO kiln::request: request request_id=trace-42.a:b/c \
             kind=service name=hello-app version=12 method=PATCH path=/api/v2/hello-app/x/y?q=1&r=%20a \
             status=201 bytes=13 duration_us=457 isolation=request complete=true\n"
        );
        let odd = Fields {
            path: "/a b\"\\\u{1b}[31m\u{e9}\n",
            ..served()
        };
        let line = odd.text(at, false);
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(
            line.contains(r#" path="/a b\"\\\u001b[31mé\n" status="#),
            "{line}"
        );
        assert!(served().text(at, true).contains("\x1b[32m INFO\x1b[0m"));
    }

    #[test]
    fn json_lines_parse_and_keep_every_value() {
        let at = SystemTime::now();
        for path in ["/plain", "/a b\"\\\u{1b}\u{e9}\n"] {
            let fields = Fields { path, ..served() };
            let line = fields.json(at);
            assert!(
                line.ends_with("}}\n") && line.lines().count() == 1,
                "{line}"
            );
            let parsed: serde_json::Value = serde_json::from_str(&line).expect("json");
            assert_eq!(parsed["target"], "kiln::request");
            assert_eq!(parsed["level"], "INFO");
            assert_eq!(parsed["fields"]["path"], path);
            assert_eq!(parsed["fields"]["version"], "12");
            assert_eq!(parsed["fields"]["status"], 201);
            assert_eq!(parsed["fields"]["complete"], true);
        }
        let unrouted = Fields {
            version: Version::None,
            ..served()
        };
        let parsed: serde_json::Value = serde_json::from_str(&unrouted.json(at)).expect("json");
        assert_eq!(parsed["fields"]["version"], "-");
    }

    #[test]
    fn apache_fields_escape_quotes_and_control_bytes() {
        assert_eq!(escape("a\"b\\c\n"), "a\\\"b\\\\c\\x0a");
    }
}
