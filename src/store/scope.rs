//! What one app password may reach and do: chosen at creation and never changed afterwards
//! (a scoped token able to widen its own scope is a scope in name only), so a new scope is a new
//! password.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

use crate::log_safe::{escaped, is_invisible};

/// What an application may do with the files it reaches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Everything WebDAV offers: what every password could do before scopes existed.
    #[default]
    ReadWrite,
    /// GET, HEAD, OPTIONS and PROPFIND only (a photo frame, a viewer, a backup reader).
    ReadOnly,
    /// PUT of new files and MKCOL only: no reading back, no overwrite, no delete (a scanner).
    UploadOnly,
}

impl Access {
    /// Every access, in the order the pages offer them.
    pub const ALL: [Access; 3] = [Access::ReadWrite, Access::ReadOnly, Access::UploadOnly];

    /// The word listings, the API and the CLI use.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::ReadWrite => "read_write",
            Access::ReadOnly => "read_only",
            Access::UploadOnly => "upload_only",
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A folder of the home that a password is confined to, as `/Projects` or `/Photos/2026`:
/// absolute, no trailing slash, no empty, `.` or `..` segment, no backslash, no control or
/// invisible formatting characters. It is a plain path *inside* the home, resolved by the same
/// confinement as every request; the folder need not exist when the password is made.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScopeFolder(String);

/// Why a scope was refused at creation.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScopeError {
    /// The folder is not a clean path inside the home.
    #[error(
        "'{0}' is not a folder of the home: write it as /Projects or /Photos/2026 (no '..', no '.', \
         no empty part, no backslash)"
    )]
    Folder(String),
    /// An allowed network does not parse.
    #[error(
        "'{0}' is not a network: write addresses or networks like 10.0.0.0/8, 192.168.1.5, 2001:db8::/48"
    )]
    Network(String),
    /// More allowed networks than a login check should walk.
    #[error("at most {max} allowed networks per app password ({given} given)", max = Scope::MAX_NETWORKS)]
    TooManyNetworks {
        /// How many were given.
        given: usize,
    },
}

impl ScopeFolder {
    /// Longest folder path, in bytes.
    pub const MAX_LEN: usize = 1024;

    /// Validates `path` (surrounding white space and one trailing slash are dropped; `/` alone
    /// means the whole home, which is no folder scope: `None`).
    pub fn parse(path: &str) -> Result<Option<Self>, ScopeError> {
        let refused = || ScopeError::Folder(escaped(path));
        let trimmed = path.trim();
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        if trimmed.is_empty() {
            return Ok(None);
        }
        let Some(rest) = trimmed.strip_prefix('/') else {
            return Err(refused());
        };
        let clean_segment = |s: &str| !s.is_empty() && s != "." && s != "..";
        let ok = trimmed.len() <= Self::MAX_LEN
            && rest.split('/').all(clean_segment)
            && !trimmed.contains('\\')
            && !trimmed.chars().any(is_invisible);
        if ok { Ok(Some(Self(trimmed.to_string()))) } else { Err(refused()) }
    }

    /// The path as stored: `/Projects`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path's segments, outermost first (`["Projects"]`).
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0[1..].split('/')
    }
}

impl TryFrom<String> for ScopeFolder {
    type Error = ScopeError;
    fn try_from(s: String) -> Result<Self, ScopeError> {
        Self::parse(&s)?.ok_or(ScopeError::Folder(s))
    }
}

impl From<ScopeFolder> for String {
    fn from(f: ScopeFolder) -> String {
        f.0
    }
}

impl fmt::Display for ScopeFolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An app password's limits. The default is the unscoped password of before: the whole home,
/// read-write, from anywhere (so records written before scopes existed read back as that).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scope {
    /// What it may do.
    #[serde(default)]
    pub access: Access,
    /// The folder served as its `/dav/`; None: the whole home.
    #[serde(default)]
    pub folder: Option<ScopeFolder>,
    /// The networks it may be used from; empty: anywhere.
    #[serde(default)]
    pub allow_from: Vec<IpNet>,
}

impl Scope {
    /// Most networks one password may list.
    pub const MAX_NETWORKS: usize = 32;

    /// Parses a comma-separated network list (`10.0.0.0/8, 192.168.1.5, 2001:db8::/48`); a bare
    /// address is that one address.
    pub fn parse_networks(list: &str) -> Result<Vec<IpNet>, ScopeError> {
        let nets = list
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| {
                n.parse::<IpNet>()
                    .or_else(|_| n.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| ScopeError::Network(escaped(n)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if nets.len() > Self::MAX_NETWORKS {
            return Err(ScopeError::TooManyNetworks { given: nets.len() });
        }
        Ok(nets)
    }

    /// Whether a client at `addr` may use the password (IPv4-mapped IPv6 counts as IPv4).
    pub fn allows(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        self.allow_from.is_empty() || self.allow_from.iter().any(|net| net.contains(&addr))
    }

    /// True for the unscoped password: whole home, read-write, anywhere.
    pub fn is_unrestricted(&self) -> bool {
        self == &Scope::default()
    }

    /// The network list as one line (`10.0.0.0/8,2001:db8::/48`), empty when unrestricted.
    pub fn networks_text(&self) -> String {
        self.allow_from.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_clean_paths_inside_the_home() {
        let folder = |s: &str| ScopeFolder::parse(s).map(|f| f.map(String::from));
        assert_eq!(folder("/Projects").unwrap().as_deref(), Some("/Projects"));
        assert_eq!(folder(" /Photos/2026/ ").unwrap().as_deref(), Some("/Photos/2026"));
        assert_eq!(folder("/").unwrap(), None);
        assert_eq!(folder("").unwrap(), None);
        assert_eq!(folder("/Büro Ordner").unwrap().as_deref(), Some("/Büro Ordner"));
        for bad in ["Projects", "/a/../b", "/..", "/./a", "//a", "/a//b", "/a\\b", "/a\u{202e}b"] {
            assert!(folder(bad).is_err(), "{bad:?} accepted");
        }
        let e = ScopeFolder::parse("/a/../b").unwrap_err().to_string();
        assert!(e.contains("'/a/../b'") && e.contains("/Projects"), "{e}");
    }

    #[test]
    fn networks_parse_and_match() {
        let scope = Scope {
            allow_from: Scope::parse_networks("10.0.0.0/8, 192.168.1.5 ,2001:db8::/48").unwrap(),
            ..Scope::default()
        };
        assert!(scope.allows("10.1.2.3".parse().unwrap()));
        assert!(scope.allows("192.168.1.5".parse().unwrap()));
        assert!(scope.allows("::ffff:10.9.9.9".parse().unwrap()));
        assert!(scope.allows("2001:db8::1".parse().unwrap()));
        assert!(!scope.allows("192.168.1.6".parse().unwrap()));
        assert!(!scope.allows("127.0.0.1".parse().unwrap()));
        assert!(Scope::default().allows("203.0.113.9".parse().unwrap()));
        assert_eq!(Scope::parse_networks("10.1.2.3/8").unwrap()[0].to_string(), "10.0.0.0/8");
        assert!(Scope::parse_networks("10.0.0.0/33").is_err());
        assert!(Scope::parse_networks("example.com").is_err());
        assert!(Scope::parse_networks(&vec!["10.0.0.1"; 33].join(",")).is_err());
        assert_eq!(scope.networks_text(), "10.0.0.0/8,192.168.1.5/32,2001:db8::/48");
    }

    #[test]
    fn old_records_read_back_unscoped() {
        let scope: Scope = serde_json::from_str("{}").unwrap();
        assert!(scope.is_unrestricted());
        let json = serde_json::to_string(&Scope {
            access: Access::ReadOnly,
            folder: ScopeFolder::parse("/Projects").unwrap(),
            allow_from: vec![],
        })
        .unwrap();
        assert_eq!(json, r#"{"access":"read_only","folder":"/Projects","allow_from":[]}"#);
    }
}
