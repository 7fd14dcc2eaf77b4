//! Which issuer URLs a provider may have: https (plain http only on loopback, for tests and a
//! provider on the same machine), and for Entra ID only a tenant's own issuer.

use openidconnect::url::{Host, Url};

/// Why an issuer URL was refused: one sentence for the admin who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuerError {
    /// Not a URL at all.
    #[error("the issuer '{0}' is not a URL")]
    NotAUrl(String),
    /// http (or another scheme) on a host that is not loopback: tokens would cross the network
    /// in the clear.
    #[error("the issuer '{0}' must use https (plain http only on a loopback address)")]
    NotHttps(String),
    /// A query or fragment: discovery appends to the path, and issuers have neither.
    #[error("the issuer '{0}' must not have a query or a fragment")]
    QueryOrFragment(String),
    /// Entra ID's multi-tenant issuers: their discovery document names `{tenantid}`, so no ID
    /// token ever matches it, and any tenant's accounts could sign in.
    #[error(
        "the issuer '{0}' is Entra ID's shared '/{1}' endpoint: use your tenant's issuer, \
         https://login.microsoftonline.com/<tenant-id>/v2.0"
    )]
    EntraShared(String, String),
}

/// Entra ID's hosts, whose first path segment names the tenant.
const ENTRA_HOSTS: [&str; 2] = ["login.microsoftonline.com", "login.microsoft.com"];

/// Checks `issuer` against the rules above; answers the URL.
pub fn check_issuer(issuer: &str) -> Result<Url, IssuerError> {
    let shown = crate::log_safe::escaped(issuer);
    let url = Url::parse(issuer.trim()).map_err(|_| IssuerError::NotAUrl(shown.clone()))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(IssuerError::QueryOrFragment(shown));
    }
    let loopback = match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => return Err(IssuerError::NotAUrl(shown)),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(IssuerError::NotHttps(shown)),
    }
    let entra =
        url.host_str().is_some_and(|h| ENTRA_HOSTS.iter().any(|e| h.eq_ignore_ascii_case(e)));
    if entra {
        let tenant =
            url.path_segments().and_then(|mut s| s.next()).unwrap_or("").to_ascii_lowercase();
        if ["common", "organizations", "consumers"].contains(&tenant.as_str()) {
            return Err(IssuerError::EntraShared(shown, tenant));
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_and_loopback_http_issuers_are_accepted() {
        for good in [
            "https://idp.example.com",
            "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
            "http://127.0.0.2:8080",
            "http://localhost:9000/realms/x",
            "http://[::1]:1234",
        ] {
            assert!(check_issuer(good).is_ok(), "{good} refused");
        }
    }

    #[test]
    fn plain_http_elsewhere_and_entra_shared_tenants_are_refused() {
        assert!(matches!(check_issuer("http://idp.example.com"), Err(IssuerError::NotHttps(_))));
        assert!(matches!(check_issuer("not a url"), Err(IssuerError::NotAUrl(_))));
        assert!(matches!(
            check_issuer("https://idp.example.com/?x=1"),
            Err(IssuerError::QueryOrFragment(_))
        ));
        for shared in ["common", "organizations", "consumers", "Common"] {
            let url = format!("https://login.microsoftonline.com/{shared}/v2.0");
            let e = check_issuer(&url).unwrap_err().to_string();
            assert!(e.contains("tenant's issuer"), "{e}");
            assert!(!e.contains('\n'));
        }
    }
}
