//! The client address used for per-IP limits and session records, the same way in every
//! service: the peer address, or, behind a trusted proxy, the first `X-Forwarded-For` hop.

use std::net::SocketAddr;

use axum::http::HeaderMap;

/// The client address: the first non-empty `X-Forwarded-For` hop when `trust_forwarded_for`
/// (only behind a proxy that sets it), else the peer's IP.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trust_forwarded_for: bool) -> String {
    if trust_forwarded_for
        && let Some(first) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    {
        return first.to_owned();
    }
    peer.ip().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_forwarded_hop_counts_only_when_trusted() {
        let peer: SocketAddr = "10.0.0.7:5123".parse().expect("addr");
        let mut h = HeaderMap::new();
        assert_eq!(client_ip(peer, &h, true), "10.0.0.7");
        h.insert("x-forwarded-for", HeaderValue::from_static(" 203.0.113.9 , 10.0.0.1"));
        assert_eq!(client_ip(peer, &h, true), "203.0.113.9");
        assert_eq!(client_ip(peer, &h, false), "10.0.0.7", "a client cannot choose its address");
        h.insert("x-forwarded-for", HeaderValue::from_static(" , 10.0.0.1"));
        assert_eq!(client_ip(peer, &h, true), "10.0.0.7", "an empty first hop is ignored");
    }
}
