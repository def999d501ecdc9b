//! Request bodies: content-type and content-encoding checks, size limits (applied after gzip
//! decompression, so a small compressed bomb cannot inflate past the limit), and JSON parsing
//! with field paths in the error messages.

use std::io::Read as _;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use futures::StreamExt as _;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Which media types an endpoint accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Json,
    Ndjson,
}

impl MediaType {
    fn accepts(self, essence: &str) -> bool {
        match self {
            MediaType::Json => essence == "application/json",
            MediaType::Ndjson => matches!(essence, "application/x-ndjson" | "application/ndjson" | "application/jsonl"),
        }
    }

    fn expected(self) -> &'static str {
        match self {
            MediaType::Json => "application/json",
            MediaType::Ndjson => "application/x-ndjson",
        }
    }
}

/// Checks `Content-Type` (parameters such as `charset` are ignored).
pub fn check_content_type(headers: &HeaderMap, media: MediaType) -> Result<(), ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media.accepts(&essence) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type must be {}, got {:?}",
            media.expected(),
            if ct.is_empty() { "none" } else { ct }
        )))
    }
}

/// Reads the whole body, decompressing gzip, and fails with 413 past `limit` bytes
/// (compressed or decompressed).
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let gzip = match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("").trim().to_ascii_lowercase())
    {
        None => false,
        Some(e) if e.is_empty() || e == "identity" => false,
        Some(e) if e == "gzip" || e == "x-gzip" => true,
        Some(other) => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "Content-Encoding {other:?} is not supported; use gzip or none"
            )));
        }
    };
    let too_large = || ApiError::PayloadTooLarge(format!("request body exceeds {limit} bytes"));
    if let Some(len) = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        && len > limit
    {
        return Err(too_large());
    }
    let mut raw = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::MalformedJson(format!("could not read the request body: {e}")))?;
        if raw.len() + chunk.len() > limit {
            return Err(too_large());
        }
        raw.extend_from_slice(&chunk);
    }
    if !gzip {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len() * 4);
    // Every member of a multi-member body (`cat a.gz b.gz`, streaming compressors) is
    // decoded; bytes after the last member that are not another member are an error, never
    // silently dropped.
    let mut decoder = flate2::read::MultiGzDecoder::new(raw.as_slice()).take(limit as u64 + 1);
    decoder.read_to_end(&mut out).map_err(|e| ApiError::MalformedJson(format!("body is not valid gzip: {e}")))?;
    if out.len() > limit {
        return Err(too_large());
    }
    Ok(out)
}

/// Parses one event, which must be a JSON object: serde's derived deserializers would also
/// take its fields as an array, in order (`["web", "hi"]`).
pub fn parse_event<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|&b| b != b'{') {
        return Err("an event must be a JSON object".to_owned());
    }
    parse_json(bytes)
}

/// Parses JSON, naming the failing field path (e.g. `[3].rating: invalid type`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." { inner.to_string() } else { format!("{path}: {inner}") }
    })?;
    de.end().map_err(|e| e.to_string())?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::io::Write as _;

    fn headers(ct: &str, enc: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).expect("header"));
        if let Some(e) = enc {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_str(e).expect("header"));
        }
        h
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).expect("gzip");
        enc.finish().expect("gzip")
    }

    #[test]
    fn content_types() {
        assert!(check_content_type(&headers("application/json; charset=utf-8", None), MediaType::Json).is_ok());
        assert!(check_content_type(&headers("text/plain", None), MediaType::Json).is_err());
        assert!(check_content_type(&headers("application/x-ndjson", None), MediaType::Ndjson).is_ok());
        assert!(check_content_type(&HeaderMap::new(), MediaType::Json).is_err());
    }

    #[tokio::test]
    async fn gzip_bodies_are_inflated_within_the_limit() {
        let data = b"{\"a\":1}".repeat(10);
        let out = read_body(&headers("application/json", Some("gzip")), Body::from(gzip(&data)), 1000).await;
        assert_eq!(out.expect("inflated"), data);
        // A small compressed body that inflates past the limit is refused.
        let bomb = gzip(&vec![b' '; 100_000]);
        assert!(bomb.len() < 1000);
        let err = read_body(&headers("application/json", Some("gzip")), Body::from(bomb), 1000).await;
        assert!(matches!(err, Err(ApiError::PayloadTooLarge(_))));
        let err = read_body(&headers("application/json", Some("br")), Body::from("x"), 1000).await;
        assert!(matches!(err, Err(ApiError::UnsupportedMediaType(_))));
        let err = read_body(&headers("application/json", Some("gzip")), Body::from("not gzip"), 1000).await;
        assert!(matches!(err, Err(ApiError::MalformedJson(_))));
    }

    #[tokio::test]
    async fn every_gzip_member_is_read_and_trailing_garbage_refused() {
        let gz = || headers("application/x-ndjson", Some("gzip"));
        let mut two = gzip(b"{\"a\":1}\n");
        two.extend(gzip(b"{\"b\":2}\n"));
        let out = read_body(&gz(), Body::from(two.clone()), 1000).await.expect("two members");
        assert_eq!(out, b"{\"a\":1}\n{\"b\":2}\n");
        for junk in [&b"junk"[..], b"\n", b"\x1f", b"\0\0\0\0"] {
            let mut body = gzip(b"{\"a\":1}");
            body.extend_from_slice(junk);
            let err = read_body(&gz(), Body::from(body), 1000).await;
            assert!(matches!(err, Err(ApiError::MalformedJson(_))), "{junk:?}: {err:?}");
        }
        // The limit holds across members.
        let mut many = Vec::new();
        for _ in 0..5 {
            many.extend(gzip(&[b' '; 300]));
        }
        let err = read_body(&gz(), Body::from(many), 1000).await;
        assert!(matches!(err, Err(ApiError::PayloadTooLarge(_))));
    }

    #[test]
    fn an_event_is_an_object() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct T {
            channel: String,
            text: String,
        }
        assert!(parse_event::<T>(br#" {"channel": "web", "text": "hi"}"#).is_ok());
        assert!(parse_json::<T>(br#"["web", "hi"]"#).is_ok(), "serde alone takes the array");
        assert_eq!(parse_event::<T>(br#" ["web", "hi"]"#).expect_err("array"), "an event must be a JSON object");
    }

    #[test]
    fn json_errors_name_the_path() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct T {
            items: Vec<u8>,
        }
        let err = parse_json::<T>(br#"{"items": [1, "x"]}"#).expect_err("bad item");
        assert!(err.starts_with("items[1]"), "{err}");
        assert!(parse_json::<T>(br#"{"items": []} trailing"#).is_err());
    }
}
