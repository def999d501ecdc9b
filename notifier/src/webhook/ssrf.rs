//! Server-side request forgery guard: a webhook URL is typed in by a user, so the notifier
//! must not become a way to reach what sits behind the firewall (the cloud metadata service at
//! 169.254.169.254, Postgres on localhost, the private network). Targets whose addresses are
//! not public are refused unless `--allow-private-targets` says otherwise (local development
//! and the tests, whose receivers listen on loopback).
//!
//! Checked twice: [`TargetPolicy::check_url`] before a delivery (a clear, permanent refusal
//! recorded on the delivery), and by [`GuardedResolver`], the HTTP client's only resolver, at
//! connect time, so that a name that resolved to a public address for the check and to a
//! private one a moment later (DNS rebinding) still cannot be reached. URLs with an IP
//! literal never reach a resolver: `check_url` covers them. Redirects are not followed and
//! proxies from the environment are not used (see `sender`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use rtcx_service_kit::net::is_public_ip;

/// Why a target is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error("not an http(s) URL: {0}")]
    Scheme(String),
    #[error("the URL has no host")]
    NoHost,
    #[error("{0} resolves to no address")]
    Unresolved(String),
    #[error("{host} resolves only to non-public addresses ({addr}); set --allow-private-targets to allow them")]
    Private { host: String, addr: IpAddr },
}

/// Which addresses webhooks may target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Allow loopback, private, link-local and other non-public addresses.
    pub allow_private: bool,
}

impl TargetPolicy {
    /// Whether an address may be connected to.
    pub fn allows(self, ip: IpAddr) -> bool {
        self.allow_private || is_public_ip(ip)
    }

    /// Checks a URL: its scheme, and that its host (an IP literal, or every address a name
    /// resolves to, at least one) is allowed.
    pub async fn check_url(self, url: &reqwest::Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::Scheme(url.scheme().to_owned()));
        }
        let host = match url.host() {
            None => return Err(Refused::NoHost),
            Some(url::Host::Ipv4(v4)) => return self.check_ips(&v4.to_string(), [IpAddr::V4(v4)]),
            Some(url::Host::Ipv6(v6)) => return self.check_ips(&v6.to_string(), [IpAddr::V6(v6)]),
            Some(url::Host::Domain(d)) => d.to_owned(),
        };
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<IpAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| Refused::Unresolved(host.clone()))?
            .map(|a| a.ip())
            .collect();
        self.check_ips(&host, addrs)
    }

    /// Refuses when any address is not allowed: a name that mixes public and private
    /// addresses is as dangerous as a private one.
    fn check_ips(self, host: &str, addrs: impl IntoIterator<Item = IpAddr>) -> Result<(), Refused> {
        let mut any = false;
        for addr in addrs {
            any = true;
            if !self.allows(addr) {
                return Err(Refused::Private { host: host.to_owned(), addr });
            }
        }
        if any { Ok(()) } else { Err(Refused::Unresolved(host.to_owned())) }
    }
}

/// The HTTP client's resolver: resolves with the system resolver and keeps only allowed
/// addresses (none left: the connection fails).
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: TargetPolicy,
}

impl GuardedResolver {
    pub fn new(policy: TargetPolicy) -> Arc<Self> {
        Arc::new(Self { policy })
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = addrs.iter().find(|a| !policy.allows(a.ip())) {
                return Err(Box::new(Refused::Private { host, addr: bad.ip() }) as _);
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_are_checked_by_scheme_and_address() {
        let strict = TargetPolicy { allow_private: false };
        let url = |s: &str| reqwest::Url::parse(s).expect("url");
        assert!(matches!(strict.check_url(&url("http://127.0.0.1:9/x")).await, Err(Refused::Private { .. })));
        assert!(matches!(strict.check_url(&url("http://[::1]/x")).await, Err(Refused::Private { .. })));
        assert!(matches!(strict.check_url(&url("http://localhost/x")).await, Err(Refused::Private { .. })));
        assert!(matches!(strict.check_url(&url("http://169.254.169.254/latest")).await, Err(Refused::Private { .. })));
        assert!(matches!(strict.check_url(&url("ftp://example.com/x")).await, Err(Refused::Scheme(_))));
        assert_eq!(strict.check_url(&url("https://1.1.1.1/hook")).await, Ok(()));
        let open = TargetPolicy { allow_private: true };
        assert_eq!(open.check_url(&url("http://127.0.0.1:9/x")).await, Ok(()));
    }
}
