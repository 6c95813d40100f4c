//! `file:` URLs as the URL Standard parses them today.
//!
//! The `url` crate keeps older rules for `file:` URLs: it drops the host in front of a Windows
//! drive letter (`file://host/C:/`) and collapses empty leading path segments (`file:////x`).
//! `URL` therefore parses and serialises `file:` URLs here, with the standard's file states, and
//! every other scheme with the `url` crate.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// The fragment percent-encode set.
const FRAGMENT: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'<').add(b'>').add(b'`');
/// The query percent-encode set.
const QUERY: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'<').add(b'>');
/// The special-query percent-encode set (`file:` is a special scheme).
const SPECIAL_QUERY: &AsciiSet = &QUERY.add(b'\'');
/// The path percent-encode set.
const PATH: &AsciiSet = &QUERY.add(b'?').add(b'`').add(b'{').add(b'}');

/// A parsed `file:` URL: a host (empty for none), path segments, query and fragment.
#[derive(Clone, Debug, PartialEq)]
pub struct FileUrl {
    host: String,
    path: Vec<String>,
    query: Option<String>,
    fragment: Option<String>,
}

/// The parser states a `file:` URL goes through.
#[derive(Clone, Copy, PartialEq)]
enum State {
    File,
    FileSlash,
    FileHost,
    PathStart,
    Path,
    Query,
    Fragment,
}

/// Removes leading and trailing C0 controls and spaces and every tab and newline, as the
/// parser does before it reads a URL.
pub fn preprocess(input: &str) -> String {
    input
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect()
}

/// The scheme (lowercased) `input` starts with, and the rest after its `:`; `None` without one.
pub fn split_scheme(input: &str) -> Option<(String, &str)> {
    let colon = input.find(':')?;
    let scheme = &input[..colon];
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then(|| (scheme.to_ascii_lowercase(), &input[colon + 1..]))
}

fn is_drive_letter(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 2 && b[0].is_ascii_alphabetic() && matches!(b[1], b':' | b'|')
}

fn is_normalized_drive_letter(s: &str) -> bool {
    is_drive_letter(s) && s.as_bytes()[1] == b':'
}

fn starts_with_drive_letter(rest: &[char]) -> bool {
    rest.len() >= 2
        && rest[0].is_ascii_alphabetic()
        && matches!(rest[1], ':' | '|')
        && (rest.len() == 2 || matches!(rest[2], '/' | '\\' | '?' | '#'))
}

fn is_single_dot(s: &str) -> bool {
    s == "." || s.eq_ignore_ascii_case("%2e")
}

fn is_double_dot(s: &str) -> bool {
    matches!(
        s.to_ascii_lowercase().as_str(),
        ".." | ".%2e" | "%2e." | "%2e%2e"
    )
}

fn encode(c: char, set: &'static AsciiSet, out: &mut String) {
    let mut utf8 = [0; 4];
    out.extend(utf8_percent_encode(c.encode_utf8(&mut utf8), set));
}

fn parse_host(input: &str) -> Result<String, String> {
    let host = url::Host::parse(input)
        .map_err(|e| e.to_string())?
        .to_string();
    Ok(if host == "localhost" {
        String::new()
    } else {
        host
    })
}

impl FileUrl {
    /// Parses what follows `file:` in `input`, or a scheme-less `input` against a `file:` base.
    pub fn parse(rest: &str, base: Option<&FileUrl>) -> Result<Self, String> {
        let mut url = FileUrl {
            host: String::new(),
            path: Vec::new(),
            query: None,
            fragment: None,
        };
        let chars: Vec<char> = rest.chars().collect();
        url.run(&chars, base, State::File, false)?;
        Ok(url)
    }

    /// Runs the standard's state machine from `state`; `only` is its "state override": the
    /// machine sets the one component it starts in and stops.
    fn run(
        &mut self,
        chars: &[char],
        base: Option<&FileUrl>,
        mut state: State,
        only: bool,
    ) -> Result<(), String> {
        let mut buffer = String::new();
        let mut i = 0;
        loop {
            let c = chars.get(i).copied();
            let slash = matches!(c, Some('/' | '\\'));
            match state {
                State::File => {
                    if slash {
                        state = State::FileSlash;
                    } else if let Some(base) = base {
                        self.host = base.host.clone();
                        self.path = base.path.clone();
                        self.query = base.query.clone();
                        match c {
                            Some('?') => {
                                self.query = Some(String::new());
                                state = State::Query;
                            }
                            Some('#') => {
                                self.fragment = Some(String::new());
                                state = State::Fragment;
                            }
                            Some(_) => {
                                self.query = None;
                                if starts_with_drive_letter(&chars[i..]) {
                                    self.path.clear();
                                } else {
                                    self.shorten();
                                }
                                state = State::Path;
                                continue;
                            }
                            None => {}
                        }
                    } else {
                        state = State::Path;
                        continue;
                    }
                }
                State::FileSlash => {
                    if slash {
                        state = State::FileHost;
                    } else {
                        if let Some(base) = base {
                            self.host = base.host.clone();
                            let drive = base.path.first().filter(|s| is_normalized_drive_letter(s));
                            if let Some(drive) =
                                drive.filter(|_| !starts_with_drive_letter(&chars[i..]))
                            {
                                self.path.push(drive.clone());
                            }
                        }
                        state = State::Path;
                        continue;
                    }
                }
                State::FileHost => {
                    if c.is_none() || slash || matches!(c, Some('?' | '#')) {
                        if !only && is_drive_letter(&buffer) {
                            // The drive letter stays in `buffer` and begins the path.
                            state = State::Path;
                            continue;
                        }
                        self.host = if buffer.is_empty() {
                            String::new()
                        } else {
                            parse_host(&buffer)?
                        };
                        if only {
                            return Ok(());
                        }
                        buffer.clear();
                        state = State::PathStart;
                        continue;
                    }
                    buffer.extend(c);
                }
                State::PathStart => {
                    state = State::Path;
                    if !slash {
                        continue;
                    }
                }
                State::Path => {
                    if c.is_none() || slash || (!only && matches!(c, Some('?' | '#'))) {
                        if is_double_dot(&buffer) {
                            self.shorten();
                            if !slash {
                                self.path.push(String::new());
                            }
                        } else if is_single_dot(&buffer) {
                            if !slash {
                                self.path.push(String::new());
                            }
                        } else {
                            if self.path.is_empty() && is_drive_letter(&buffer) {
                                buffer.replace_range(1..2, ":");
                            }
                            self.path.push(std::mem::take(&mut buffer));
                        }
                        buffer.clear();
                        match c {
                            Some('?') => {
                                self.query = Some(String::new());
                                state = State::Query;
                            }
                            Some('#') => {
                                self.fragment = Some(String::new());
                                state = State::Fragment;
                            }
                            _ => {}
                        }
                    } else if let Some(c) = c {
                        encode(c, PATH, &mut buffer);
                    }
                }
                State::Query => match c {
                    Some('#') if !only => {
                        self.fragment = Some(String::new());
                        state = State::Fragment;
                    }
                    Some(c) => encode(c, SPECIAL_QUERY, self.query.get_or_insert_default()),
                    None => {}
                },
                State::Fragment => {
                    if let Some(c) = c {
                        encode(c, FRAGMENT, self.fragment.get_or_insert_default());
                    }
                }
            }
            if c.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    /// Removes the last path segment, but never a lone drive letter.
    fn shorten(&mut self) {
        if self.path.len() == 1 && is_normalized_drive_letter(&self.path[0]) {
            return;
        }
        self.path.pop();
    }

    /// The serialised URL.
    pub fn href(&self) -> String {
        let mut href = format!("file://{}{}", self.host, self.pathname());
        if let Some(query) = &self.query {
            href.push('?');
            href.push_str(query);
        }
        if let Some(fragment) = &self.fragment {
            href.push('#');
            href.push_str(fragment);
        }
        href
    }

    /// The host (empty for none); a `file:` URL has no port.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The path, each segment after a `/`.
    pub fn pathname(&self) -> String {
        self.path.iter().map(|s| format!("/{s}")).collect()
    }

    /// The query without `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// `?` and the query, or empty.
    pub fn search(&self) -> String {
        match self.query.as_deref() {
            Some(q) if !q.is_empty() => format!("?{q}"),
            _ => String::new(),
        }
    }

    /// `#` and the fragment, or empty.
    pub fn hash(&self) -> String {
        match self.fragment.as_deref() {
            Some(f) if !f.is_empty() => format!("#{f}"),
            _ => String::new(),
        }
    }

    /// The `host`/`hostname` setter: an invalid host leaves the URL as it was.
    pub fn set_host(&mut self, value: &str) {
        let mut copy = self.clone();
        if copy
            .run(&setter_input(value), None, State::FileHost, true)
            .is_ok()
        {
            *self = copy;
        }
    }

    /// The `pathname` setter.
    pub fn set_pathname(&mut self, value: &str) {
        self.path.clear();
        // The path states cannot fail.
        let _ = self.run(&setter_input(value), None, State::PathStart, true);
    }

    /// Sets the query (already encoded, as `URLSearchParams` serialises it), or removes it.
    pub fn set_query(&mut self, query: Option<&str>) {
        self.query = query.map(str::to_string);
    }

    /// The `search` setter.
    pub fn set_search(&mut self, value: &str) {
        if value.is_empty() {
            self.query = None;
            return;
        }
        self.query = Some(String::new());
        let value = value.strip_prefix('?').unwrap_or(value);
        let _ = self.run(&setter_input(value), None, State::Query, true);
    }

    /// The `hash` setter.
    pub fn set_hash(&mut self, value: &str) {
        if value.is_empty() {
            self.fragment = None;
            return;
        }
        self.fragment = Some(String::new());
        let value = value.strip_prefix('#').unwrap_or(value);
        let _ = self.run(&setter_input(value), None, State::Fragment, true);
    }
}

/// A setter's value as the parser reads it: without tabs and newlines.
fn setter_input(value: &str) -> Vec<char> {
    value
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect()
}
