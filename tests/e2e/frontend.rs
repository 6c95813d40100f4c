//! Frontend hosting: NanoEdgeRT's example, the assets Kiln serves itself, and archives refused.

use std::io::Write as _;
use std::path::Path;

use reqwest::blocking::multipart::{Form, Part};

use crate::support::{Kiln, admin_token, call, client};

/// NanoEdgeRT's `server.js` for its frontend example, verbatim from its README.
const EXAMPLE_SERVER: &str = r#"export default async function handler(req) {
  const url = new URL(req.url);
  const staticDir = './static/my-app';
  
  let filePath = staticDir;
  if (url.pathname === "/" || url.pathname === "") {
    filePath += '/index.html';
  } else {
    filePath += url.pathname;
  }
  
  try {
    const file = await Deno.readFile(filePath);
    let contentType = "text/html";
    
    if (url.pathname.endsWith(".css")) {
      contentType = "text/css";
    } else if (url.pathname.endsWith(".js")) {
      contentType = "application/javascript";
    } else if (url.pathname.endsWith(".png")) {
      contentType = "image/png";
    }
    
    return new Response(file, {
      headers: { 'Content-Type': contentType }
    });
  } catch {
    return new Response('Not Found', { status: 404 });
  }
}"#;

/// A ZIP archive of `entries` (name, contents), deflated.
pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        writer.start_file(*name, options).unwrap();
        writer.write_all(data).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    // A stored (uncompressed) gzip member: a real `.gz` a browser decodes, without a compressor.
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    // Deflate stored block: final, type 0.
    out.push(1);
    let len = u16::try_from(data.len()).unwrap();
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn host(kiln: &Kiln, jwt: &str, name: &str, archive: Vec<u8>) -> (u16, serde_json::Value) {
    let form = Form::new()
        .part("server", Part::text(EXAMPLE_SERVER).file_name("server.js"))
        .part("static", Part::bytes(archive).file_name("static.zip"))
        .text("serviceName", name.to_string());
    call(
        client()
            .post(kiln.url("/admin-api/v2/host-frontend"))
            .bearer_auth(jwt)
            .multipart(form),
    )
}

const CSS: &[u8] = b"body { font-family: Arial, sans-serif; margin: 40px; }\nh1 { color: #333; }\n";

fn example_site(title: &str) -> Vec<u8> {
    let html = format!(
        "<!DOCTYPE html><html><head><title>{title}</title><link rel=\"stylesheet\" href=\"/css/style.css\"></head><body><h1>Welcome to My App!</h1></body></html>\n"
    );
    zip(&[
        ("index.html", html.as_bytes()),
        ("css/style.css", CSS),
        ("css/style.css.gz", &gzip(CSS)),
        ("js/app.js", b"console.log('App loaded!');\n"),
    ])
}

#[test]
fn nanoedgert_frontend_example_is_hosted_and_kiln_serves_its_assets() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let (status, body) = host(&kiln, &jwt, "my-app", example_site("My App"));
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"message": "Frontend hosted successfully", "serviceName": "my-app", "staticPath": "./static/my-app"})
    );
    let assets = data.path().join("static/my-app");
    assert!(assets.join("css/style.css").is_file());
    // The service exists, with a read grant on its assets.
    let (status, view) = call(
        client()
            .get(kiln.url("/admin-api/v2/services/my-app"))
            .bearer_auth(&jwt),
    );
    assert_eq!(status, 200);
    let granted = view["permissions"]["read"][0].as_str().unwrap().to_string();
    assert_eq!(
        Path::new(&granted),
        assets.canonicalize().unwrap(),
        "{view}"
    );

    // Served by Kiln: MIME types, index, ETag and 304, Range, precompressed siblings.
    let css = client()
        .get(kiln.url("/api/v2/my-app/dist/css/style.css"))
        .send()
        .unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    let etag = css.headers()["etag"].to_str().unwrap().to_string();
    assert!(
        css.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("must-revalidate")
    );
    assert_eq!(css.bytes().unwrap().as_ref(), CSS);
    let index = client()
        .get(kiln.url("/api/v2/my-app/dist/"))
        .send()
        .unwrap();
    assert_eq!(index.headers()["content-type"], "text/html; charset=utf-8");
    assert!(index.text().unwrap().contains("<title>My App</title>"));
    let js = client()
        .get(kiln.url("/api/v2/my-app/dist/js/app.js"))
        .send()
        .unwrap();
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    let again = client()
        .get(kiln.url("/api/v2/my-app/dist/css/style.css"))
        .header("if-none-match", &etag)
        .send()
        .unwrap();
    assert_eq!(again.status(), 304);
    let part = client()
        .get(kiln.url("/api/v2/my-app/dist/css/style.css"))
        .header("range", "bytes=0-3")
        .send()
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 0-3/{}", CSS.len())
    );
    assert_eq!(part.bytes().unwrap().as_ref(), b"body");
    let outside = client()
        .get(kiln.url("/api/v2/my-app/dist/css/style.css"))
        .header("range", "bytes=9999-")
        .send()
        .unwrap();
    assert_eq!(outside.status(), 416);
    let gz = client()
        .get(kiln.url("/api/v2/my-app/dist/css/style.css"))
        .header("accept-encoding", "gzip")
        .send()
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(gz.bytes().unwrap().as_ref(), gzip(CSS).as_slice());
    let missing = client()
        .get(kiln.url("/api/v2/my-app/dist/nothing.txt"))
        .send()
        .unwrap();
    assert_eq!(missing.status(), 404);
    let escape = client()
        .get(kiln.url("/api/v2/my-app/dist/..%2f..%2fkiln.db"))
        .send()
        .unwrap();
    assert_eq!(escape.status(), 404);

    // The example's own server reads `./static/my-app/...`: its working directory holds its
    // assets, read-only.
    let page = client().get(kiln.url("/api/v2/my-app/")).send().unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html");
    assert!(page.text().unwrap().contains("<title>My App</title>"));
    let css = client()
        .get(kiln.url("/api/v2/my-app/css/style.css"))
        .send()
        .unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css");
    assert_eq!(css.bytes().unwrap().as_ref(), CSS);
    let missing = client()
        .get(kiln.url("/api/v2/my-app/nothing.html"))
        .send()
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.text().unwrap(), "Not Found");

    // Hosting again replaces the assets: new files in, old ones gone.
    let replacement = zip(&[("index.html", b"<title>Second</title>")]);
    let (status, _) = host(&kiln, &jwt, "my-app", replacement);
    assert_eq!(status, 200);
    let index = client()
        .get(kiln.url("/api/v2/my-app/dist/"))
        .send()
        .unwrap();
    assert_eq!(index.text().unwrap(), "<title>Second</title>");
    assert_eq!(
        client()
            .get(kiln.url("/api/v2/my-app/dist/css/style.css"))
            .send()
            .unwrap()
            .status(),
        404
    );
    // Deleting the service removes its assets.
    let (status, _) = call(
        client()
            .delete(kiln.url("/admin-api/v2/services/my-app"))
            .bearer_auth(&jwt),
    );
    assert_eq!(status, 200);
    assert!(!assets.exists());
    assert_eq!(
        client()
            .get(kiln.url("/api/v2/my-app/dist/"))
            .send()
            .unwrap()
            .status(),
        404
    );
}

#[test]
fn hostile_archives_are_refused_and_change_nothing() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let (status, _) = host(&kiln, &jwt, "site", example_site("Kept"));
    assert_eq!(status, 201);
    let symlink = {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        writer.add_symlink("link", "/etc/passwd", options).unwrap();
        writer.finish().unwrap().into_inner()
    };
    let zeros = vec![0u8; 20 << 20];
    let many: Vec<(String, Vec<u8>)> = (0..10_001).map(|i| (format!("f{i}"), Vec::new())).collect();
    let many: Vec<(&str, &[u8])> = many
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "zip-slip",
            zip(&[("ok.txt", b"ok"), ("../evil.txt", b"x")]),
            400,
            "'..'",
        ),
        (
            "absolute path",
            zip(&[("/tmp/kiln-evil.txt", b"x")]),
            400,
            "absolute",
        ),
        ("symbolic link", symlink, 400, "symbolic link"),
        ("zip bomb", zip(&[("zeros.bin", &zeros)]), 413, "expands"),
        ("too many entries", zip(&many), 413, "entries"),
        (
            "duplicate names",
            zip(&[("a.txt", b"1"), ("./a.txt", b"2")]),
            400,
            "twice",
        ),
        ("not an archive", b"plain text".to_vec(), 400, "not a ZIP"),
    ];
    for (case, archive, want, message) in cases {
        let (status, body) = host(&kiln, &jwt, "site", archive);
        assert_eq!(status, want, "{case}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .contains(message),
            "{case}: {body}"
        );
        // The previous assets are still served, and nothing was left behind.
        let kept = client().get(kiln.url("/api/v2/site/dist/")).send().unwrap();
        assert!(
            kept.text().unwrap().contains("<title>Kept</title>"),
            "{case}"
        );
        let leftovers: Vec<_> = std::fs::read_dir(data.path().join("static"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(leftovers, ["site"], "{case}");
    }
    assert!(!data.path().join("evil.txt").exists());
    assert!(!data.path().join("static/evil.txt").exists());
    assert!(!Path::new("/tmp/kiln-evil.txt").exists());
    // A source error in the server module changes nothing either.
    let form = Form::new()
        .text("server", "export default {")
        .part(
            "static",
            Part::bytes(zip(&[("index.html", b"new")])).file_name("s.zip"),
        )
        .text("serviceName", "site");
    let (status, body) = call(
        client()
            .post(kiln.url("/admin-api/v2/host-frontend"))
            .bearer_auth(&jwt)
            .multipart(form),
    );
    assert_eq!(status, 400, "{body}");
    let kept = client().get(kiln.url("/api/v2/site/dist/")).send().unwrap();
    assert!(kept.text().unwrap().contains("<title>Kept</title>"));
}
