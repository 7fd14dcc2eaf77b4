//! [`NodeId`]: the name one davgate process goes by among several sharing a files root.
//!
//! Several nodes behind a load balancer can write into one shared files root. Each names its
//! upload temp files after itself, so that a node starting again removes only its own leftovers
//! (never another node's upload in flight), and each says who it is in its logs. The name is
//! short and made of characters that are safe in a file name and a log line.

use std::fmt;

/// Most characters a node id may have.
pub const NODE_ID_MAX: usize = 48;

/// The name of one node: 1 to [`NODE_ID_MAX`] ASCII letters, digits, `.`, `_`, `-` or `:`,
/// not starting with `.` or `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeId(String);

/// Why a node id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid node id '{shown}': use 1 to {NODE_ID_MAX} letters, digits, '.', '_', '-' or ':', \
     not starting with '.' or '-'"
)]
pub struct NodeIdError {
    /// The refused value, escaped for one log line and cut short.
    shown: String,
}

impl NodeId {
    /// Checks `raw` (see [`NodeId`] for the rule).
    pub fn parse(raw: &str) -> Result<Self, NodeIdError> {
        let safe = |c: char| c.is_ascii_alphanumeric() || "._-:".contains(c);
        let valid = !raw.is_empty()
            && raw.len() <= NODE_ID_MAX
            && raw.chars().all(safe)
            && !raw.starts_with(['.', '-']);
        if valid {
            Ok(Self(raw.to_string()))
        } else {
            let shown: String = raw.chars().take(NODE_ID_MAX + 1).collect();
            Err(NodeIdError { shown: shown.escape_default().to_string() })
        }
    }

    /// The default: this machine's host name and the port served, e.g. `web1:8080` (the host
    /// name cut to its first label and to what the rule allows; `node` if nothing is left).
    pub fn default_for(port: u16) -> Self {
        let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
        Self::from_host(&host, port)
    }

    fn from_host(host: &str, port: u16) -> Self {
        let suffix = format!(":{port}");
        let label = host.split('.').next().unwrap_or_default();
        let mut name: String = label
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "_-".contains(*c))
            .take(NODE_ID_MAX - suffix.len())
            .collect();
        let name_len = name.trim_start_matches('-').len();
        name = name.split_off(name.len() - name_len);
        if name.is_empty() {
            name = "node".to_string();
        }
        Self(name + &suffix)
    }

    /// The id as written in file names and logs.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for NodeId {
    type Err = NodeIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_safe_names_are_accepted() {
        for ok in ["web1", "web1:8080", "n_2", "a.b-c", "x"] {
            assert_eq!(NodeId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn unsafe_or_long_names_are_refused_with_one_clear_line() {
        let long = "a".repeat(NODE_ID_MAX + 1);
        for bad in ["", "web 1", "a/b", ".hidden", "-x", "nöde", "a\nb", long.as_str()] {
            let e = NodeId::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid node id") && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn the_default_is_the_host_name_and_port() {
        assert_eq!(NodeId::from_host("web1.example.org", 8080).as_str(), "web1:8080");
        assert_eq!(NodeId::from_host("", 80).as_str(), "node:80");
        assert_eq!(NodeId::from_host("--a b", 1).as_str(), "ab:1");
        let long = NodeId::from_host(&"h".repeat(100), 65535);
        assert!(NodeId::parse(long.as_str()).is_ok());
        assert!(NodeId::parse(NodeId::default_for(8080).as_str()).is_ok());
    }
}
