//! The web console: a static single-page application compiled into the binary and served
//! under [`PATH`] (docs/console.md). It talks to the same `/v1` API and live socket as any
//! other client; nothing here reads a database.
//!
//! Assets are answered gzipped to browsers that accept it (each compressed once), with a strong
//! `ETag` per representation (sha256 of the bytes) and `Cache-Control: no-cache`, so a browser
//! revalidates (304) and an upgraded binary is picked up at once. The
//! page's Content-Security-Policy allows only its own scripts, styles and connections: no
//! inline script, no third-party origin.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Where the console is served.
pub const PATH: &str = "/app/";

/// The console's policy: its own scripts, styles, images and API/WebSocket connections only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset { name: $name, content_type: $type, bytes: include_bytes!(concat!("../console/", $name)) }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the console (`query-api/console/`).
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("main.js", JS),
    asset!("api.js", JS),
    asset!("live.js", JS),
    asset!("dom.js", JS),
    asset!("format.js", JS),
    asset!("charts.js", JS),
    asset!("overview.js", JS),
    asset!("alerts.js", JS),
    asset!("topics.js", JS),
    asset!("topic.js", JS),
    asset!("feedback.js", JS),
    asset!("feed.js", JS),
    asset!("account.js", JS),
    asset!("vendor/uplot/uPlot.iife.min.js", JS),
    asset!("vendor/uplot/uPlot.min.css", "text/css; charset=utf-8"),
    asset!("vendor/uplot/LICENSE", "text/plain; charset=utf-8"),
];

/// One file as served: its validator, and a gzip copy when that is smaller.
struct Prepared {
    etag: HeaderValue,
    gzip: Option<(Vec<u8>, HeaderValue)>,
}

fn strong_etag(bytes: &[u8], suffix: &str) -> HeaderValue {
    let digest = Sha256::digest(bytes);
    let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
    HeaderValue::from_str(&format!("\"{tag}{suffix}\"")).expect("base64 is a valid header value")
}

fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).ok()?;
    enc.finish().ok()
}

/// Validators and compressed copies, computed once (a few milliseconds at the first request):
/// no compression work per request.
static PREPARED: LazyLock<Vec<Prepared>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| Prepared {
            etag: strong_etag(a.bytes, ""),
            gzip: gzip(a.bytes).filter(|z| z.len() * 10 < a.bytes.len() * 9).map(|z| (z, strong_etag(a.bytes, "-gz"))),
        })
        .collect()
});

/// Whether `Accept-Encoding` takes gzip (`gzip` or `*`, not with `q=0`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |part| {
            let mut it = part.split(';').map(str::trim);
            let coding = it.next().unwrap_or_default();
            let refused = it.any(|p| p.strip_prefix("q=").is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q <= 0.0)));
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        },
    )
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return crate::error::ApiError::NotFound("console file").into_response();
    };
    let asset = &ASSETS[i];
    let prepared = &PREPARED[i];
    let (body, etag, gzipped): (&'static [u8], &HeaderValue, bool) = match &prepared.gzip {
        Some((z, etag)) if accepts_gzip(headers) => (z.as_slice(), etag, true),
        _ => (asset.bytes, &prepared.etag, false),
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag.to_str().unwrap_or_default()));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type))], body).into_response()
    };
    let h = resp.headers_mut();
    if gzipped && !fresh {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(header::ETAG, etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    resp
}

/// A password-reset token as issued (`prt_` and URL-safe base64): nothing else reaches a
/// `Location` header.
fn plausible_token(t: &str) -> bool {
    (1..=200).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The links the notifier's mails and webhooks carry (`{RTCX_CONSOLE_URL}/alerts/<id>`,
/// `/feedback/<id>`, `/reset-password?token=…`) open the console's view of the same thing.
fn mail_links<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/alerts/{id}",
            get(|Path(id): Path<uuid::Uuid>| async move { Redirect::to(&format!("{PATH}#/alerts/{id}")) }),
        )
        .route(
            "/feedback/{id}",
            get(|Path(id): Path<uuid::Uuid>| async move { Redirect::to(&format!("{PATH}#/feedback/{id}")) }),
        )
        .route(
            "/reset-password",
            get(|Query(q): Query<std::collections::HashMap<String, String>>| async move {
                match q.get("token").filter(|t| plausible_token(t)) {
                    Some(t) => Redirect::to(&format!("{PATH}#/reset-password/{t}")).into_response(),
                    None => crate::error::ApiError::NotFound("reset token").into_response(),
                }
            }),
        )
}

/// `/` → `/app/`, `/app/` (the page), `/app/<file>` and the mail links.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .merge(mail_links())
        .route("/", get(|| async { Redirect::to(PATH) }))
        .route("/app", get(|| async { Redirect::to(PATH) }))
        .route("/app/", get(|headers: HeaderMap| async move { serve("index.html", &headers) }))
        .route(
            "/app/{*file}",
            get(|Path(file): Path<String>, headers: HeaderMap| async move { serve(&file, &headers) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_the_page_imports_is_embedded() {
        let names: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js") && !a.name.starts_with("vendor/")) {
            let text = std::str::from_utf8(a.bytes).expect("utf-8");
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let from = line.rsplit("from").next().unwrap_or_default();
                let file = from.trim().trim_end_matches(';').trim_matches(['"', '\'']).trim_start_matches("./");
                assert!(names.contains(&file), "{} imports {file}, which is not embedded", a.name);
            }
        }
    }

    #[test]
    fn gzip_is_chosen_only_when_accepted() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(v));
            accepts_gzip(&h)
        };
        assert!(with("gzip, deflate, br") && with("br;q=1.0, gzip;q=0.8") && with("*"));
        assert!(!with("br") && !with("gzip;q=0") && !with("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn compressed_copies_decompress_to_the_files() {
        use std::io::Read as _;
        for (a, p) in ASSETS.iter().zip(PREPARED.iter()) {
            if let Some((z, etag)) = &p.gzip {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(z.as_slice()).read_to_end(&mut out).expect("gunzip");
                assert_eq!(out, a.bytes, "{}", a.name);
                assert_ne!(etag, p.etag, "each representation has its own validator");
            }
        }
        let script = ASSETS.iter().position(|a| a.name == "vendor/uplot/uPlot.iife.min.js").expect("uPlot");
        assert!(PREPARED[script].gzip.is_some(), "scripts compress");
    }

    #[test]
    fn only_issued_token_shapes_are_redirected() {
        assert!(plausible_token("prt_Vb0nHk3LwZr7Tq9uAe1fGd2YpQm4s8Xc"));
        for bad in ["", "a b", "x\r\nSet-Cookie: a=b", "../x", "a#b", &"a".repeat(201)] {
            assert!(!plausible_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        let page = std::str::from_utf8(ASSETS[0].bytes).expect("utf-8");
        assert!(!page.contains("<script>") && !page.contains("<style") && !page.contains(" style="));
        assert!(!page.contains("onclick") && !page.contains("javascript:"));
        assert!(page.contains(r#"<script type="module" src="main.js">"#));
    }
}
