//! Frontend hosting: `POST /admin-api/v2/host-frontend` (a server module and a ZIP of static
//! assets), and the assets served by Kiln itself at `/api/v2/{name}/dist/*` — MIME types,
//! `ETag`/`If-None-Match`, `Cache-Control`, single `Range`s, and precompressed `.br`/`.gz`
//! siblings — without running the guest.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::{Json, http::HeaderMap};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::apps::frontend::static_dir;
use crate::http::ApiError;
use crate::http::extract::RawBody;
use crate::kind::AppKind;

/// `POST /admin-api/v2/host-frontend`'s answer.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Hosted {
    /// `Frontend hosted successfully`.
    pub message: String,
    /// The service serving it.
    pub service_name: String,
    /// Where its assets are, relative to the data dir.
    pub static_path: String,
}

/// Hosts a frontend from a multipart upload: `server` (the service's JavaScript), `static` (a
/// ZIP archive of its assets) and `serviceName`. 201 when the service is new, 200 when it is
/// replaced; a bad archive or module changes nothing.
pub async fn host(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<impl IntoResponse, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        ApiError::Validation("the body must be multipart/form-data with a boundary".into())
    })?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let (mut server, mut archive, mut name) = (None, None, None);
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::Validation(format!("the multipart body is malformed: {e}")))?
    {
        let field_name = field.name().unwrap_or_default().to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| ApiError::Validation(format!("field '{field_name}': {e}")))?;
        match field_name.as_str() {
            "server" => server = Some(bytes),
            "static" => archive = Some(bytes),
            "serviceName" => name = Some(bytes),
            other => {
                return Err(ApiError::Validation(format!(
                    "unknown field '{other}': expected server, static and serviceName"
                )));
            }
        }
    }
    let missing = |field: &str| ApiError::Validation(format!("the '{field}' field is missing"));
    let name = String::from_utf8(name.ok_or_else(|| missing("serviceName"))?.to_vec())
        .map_err(|_| ApiError::Validation("serviceName is not UTF-8".into()))?;
    let name = name.trim().to_string();
    let code = String::from_utf8(server.ok_or_else(|| missing("server"))?.to_vec())
        .map_err(|_| ApiError::Validation("server is not UTF-8 JavaScript".into()))?;
    let archive = archive.ok_or_else(|| missing("static"))?;
    let (created, _) = app
        .platform()?
        .apps
        .host_frontend(&name, code, archive)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(Hosted {
            message: "Frontend hosted successfully".into(),
            static_path: format!("./static/{name}"),
            service_name: name,
        }),
    ))
}

/// `GET|HEAD /api/v2/{name}/dist/*`: the file from the service's static assets when it has
/// some, else the request goes to the service like any other. Either way the request is first
/// [`admit`](super::services::admit)ted as one to the service is: its token, `enabled`.
pub async fn dist(State(app): State<Arc<App>>, request: Request) -> Result<Response, ApiError> {
    let path = request.uri().path().to_string();
    let below = path.strip_prefix("/api/v2/").unwrap_or_default();
    let (name, rest) = below.split_once("/dist").unwrap_or((below, ""));
    let root = static_dir(&app.config.data_dir, name);
    let exists = crate::apps::validate::name(name).is_ok() && root.is_dir();
    if !exists || !matches!(*request.method(), Method::GET | Method::HEAD) {
        return super::services::call(State(app), request).await;
    }
    super::services::admit(&app, AppKind::Service, name, request.headers()).await?;
    // (hyper sends no body in answer to HEAD.)
    let rest = rest.to_string();
    tokio::task::spawn_blocking(move || serve_file(&root, &rest, request.headers()))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
}

/// How much of a file is read at a time while it is sent: memory per download stays this
/// small, whatever the file's size and however slowly the client reads.
const CHUNK: usize = 64 << 10;

/// The file under `root` at the URL path `rest` (percent-decoded; `..` refused), with the
/// response headers a browser and a CDN expect; the body is read in chunks as it is sent.
fn serve_file(root: &Path, rest: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound(format!("no file /dist{rest}"));
    let relative = url_path(rest).ok_or_else(not_found)?;
    let mut file = root.join(&relative);
    if file.is_dir() {
        file = file.join("index.html");
    }
    if !file.is_file() {
        return Err(not_found());
    }
    let mime = mime_guess::from_path(&file).first_or_octet_stream();
    // A precompressed sibling, when the client takes it.
    let accepts = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (body_path, encoding) = [("br", ".br"), ("gzip", ".gz")]
        .iter()
        .find_map(|(coding, suffix)| {
            let sibling = PathBuf::from(format!("{}{suffix}", file.display()));
            (accepts_coding(accepts, coding) && sibling.is_file()).then_some((sibling, *coding))
        })
        .map_or((file.clone(), None), |(path, coding)| (path, Some(coding)));
    // Opened once: the length, the tag and the bytes sent are all this one file's, even if the
    // assets are replaced meanwhile.
    let mut opened = std::fs::File::open(&body_path).map_err(|e| ApiError::Internal(e.into()))?;
    let meta = opened
        .metadata()
        .map_err(|e| ApiError::Internal(e.into()))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let etag = format!(
        "\"{:x}-{modified:x}{}\"",
        meta.len(),
        encoding.map_or(String::new(), |c| format!("-{c}"))
    );
    let mut response = Response::new(Body::empty());
    let out = response.headers_mut();
    let set = |out: &mut HeaderMap, name: header::HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            out.insert(name, value);
        }
    };
    set(out, header::CONTENT_TYPE, mime.essence_str());
    if mime.type_() == mime_guess::mime::TEXT || mime.subtype() == mime_guess::mime::JAVASCRIPT {
        set(
            out,
            header::CONTENT_TYPE,
            &format!("{}; charset=utf-8", mime.essence_str()),
        );
    }
    set(out, header::ETAG, &etag);
    set(
        out,
        header::CACHE_CONTROL,
        "public, max-age=0, must-revalidate",
    );
    set(out, header::ACCEPT_RANGES, "bytes");
    set(out, header::VARY, "accept-encoding");
    if let Some(coding) = encoding {
        set(out, header::CONTENT_ENCODING, coding);
    }
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return Ok(response);
    }
    let total = meta.len();
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|r| parse_range(r, total));
    let (start, length) = match range {
        Some(Some((start, end))) => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            set(
                response.headers_mut(),
                header::CONTENT_RANGE,
                &format!("bytes {start}-{end}/{total}"),
            );
            (start, end - start + 1)
        }
        Some(None) => {
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            set(
                response.headers_mut(),
                header::CONTENT_RANGE,
                &format!("bytes */{total}"),
            );
            (0, 0)
        }
        None => (0, total),
    };
    set(
        response.headers_mut(),
        header::CONTENT_LENGTH,
        &length.to_string(),
    );
    if length > 0 {
        use std::io::Seek as _;
        opened
            .seek(std::io::SeekFrom::Start(start))
            .map_err(|e| ApiError::Internal(e.into()))?;
        *response.body_mut() = chunked(opened, length);
    }
    Ok(response)
}

/// `length` bytes of `file` from where it stands, read [`CHUNK`] at a time as the client takes
/// them. A file that turns out shorter fails the body (the client sees it cut, not complete).
fn chunked(file: std::fs::File, length: u64) -> Body {
    use tokio::io::AsyncReadExt as _;
    let state = (tokio::fs::File::from_std(file), length);
    let stream = futures_util::stream::unfold(state, |(mut file, left)| async move {
        if left == 0 {
            return None;
        }
        let mut buffer = vec![0; CHUNK.min(left as usize)];
        match file.read(&mut buffer).await {
            Ok(0) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file became shorter while it was sent",
                )),
                (file, 0),
            )),
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok(Bytes::from(buffer)), (file, left - n as u64)))
            }
            Err(error) => Some((Err(error), (file, 0))),
        }
    });
    Body::from_stream(stream)
}

/// Whether `accept_encoding` takes `coding` (not with `q=0`).
fn accepts_coding(accept_encoding: &str, coding: &str) -> bool {
    accept_encoding.split(',').any(|part| {
        let mut pieces = part.split(';');
        let name = pieces.next().unwrap_or_default().trim();
        let refused = pieces.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q == 0.0))
        });
        name.eq_ignore_ascii_case(coding) && !refused
    })
}

/// The URL path below `/dist` as a relative path: percent-decoded, only plain segments.
fn url_path(rest: &str) -> Option<PathBuf> {
    let decoded = percent_decode(rest.trim_start_matches('/'))?;
    let mut out = PathBuf::new();
    for component in Path::new(&decoded).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let text = String::from_utf8(out).ok()?;
    (!text.contains('\0') && !text.contains('\\')).then_some(text)
}

/// One `bytes=` range over `total` bytes as inclusive bounds; `None` if unsatisfiable. A
/// header Kiln does not take (several ranges, other units) is served whole, as if absent.
fn parse_range(header: &str, total: u64) -> Option<(u64, u64)> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || total == 0 {
        return if total == 0 {
            None
        } else {
            Some((0, total - 1))
        };
    }
    let (start, end) = spec.split_once('-')?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            if n == 0 {
                return None;
            }
            (total.saturating_sub(n), total - 1)
        }
        (start, "") => (start.parse().ok()?, total - 1),
        (start, end) => (start.parse().ok()?, end.parse::<u64>().ok()?.min(total - 1)),
    };
    (start <= end && start < total).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range("bytes=0-3", 10), Some((0, 3)));
        assert_eq!(parse_range("bytes=5-", 10), Some((5, 9)));
        assert_eq!(parse_range("bytes=-4", 10), Some((6, 9)));
        assert_eq!(parse_range("bytes=8-100", 10), Some((8, 9)));
        assert_eq!(parse_range("bytes=10-12", 10), None);
        assert_eq!(parse_range("bytes=4-2", 10), None);
    }

    #[test]
    fn dist_paths_stay_inside_the_assets() {
        assert_eq!(
            url_path("/css/a%20b.css"),
            Some(PathBuf::from("css/a b.css"))
        );
        assert_eq!(url_path("/"), Some(PathBuf::new()));
        for bad in ["/../x", "/a/%2e%2e/%2e%2e/x", "/%00", "/a%5c..%5cb", "/%zz"] {
            assert_eq!(url_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn accept_encoding_honours_q_zero() {
        assert!(accepts_coding("gzip, br", "br"));
        assert!(!accepts_coding("gzip, br;q=0", "br"));
        assert!(!accepts_coding("identity", "gzip"));
    }
}
