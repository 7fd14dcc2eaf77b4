//! Where each app password was used from: its last [`MAX_NETWORKS`] distinct networks, each
//! with its first and last time and the last User-Agent seen from it.
//!
//! A network is an IPv4 /24 or an IPv6 /64 ([`network_of`]; loopback addresses whole): the unit a household, an office
//! or a mobile operator hands out, so that a laptop whose address changes inside its network
//! is one line, while a password leaking to another network is a new one. On redb the list
//! lives inside the password's record (a JSON field, absent in older records = empty); on
//! PostgreSQL in the `networks` column (JSON text) of `app_passwords`. The gate writes it in
//! batches, at most once a minute per network and password ([`crate::auth`]).

use chrono::{DateTime, Utc};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::IpAddr;

use redb::ReadableTable;

use super::tables::APP_PASSWORDS;
use super::{AppPassword, AppPasswordId, Change, Result, Store, decode, encode};

/// Networks remembered per app password (the most recently used ones), as GitLab keeps the
/// last five addresses of a token.
pub const MAX_NETWORKS: usize = 5;
/// Longest User-Agent kept per network: enough to tell clients apart, bounded so that five of
/// them keep the record small.
pub const MAX_NETWORK_USER_AGENT: usize = 256;

/// One network an app password was used from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UsedNetwork {
    /// The client's network: its IPv4 /24 or IPv6 /64.
    pub network: IpNet,
    /// The first successful use from it (as far as the last five go).
    pub first_at: DateTime<Utc>,
    /// The last successful use from it, to the minute.
    pub last_at: DateTime<Utc>,
    /// The User-Agent of that last use (control characters removed, bounded).
    pub user_agent: String,
}

/// A successful use to record: what the gate queues for the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkUse {
    /// The app password used.
    pub id: AppPasswordId,
    /// From which network ([`network_of`] the client's address).
    pub network: IpNet,
    /// When.
    pub at: DateTime<Utc>,
    /// The request's User-Agent, already cleaned ([`clean_user_agent`]).
    pub user_agent: String,
}

/// A use the writer reports back: on a network new to its password, or on a known one from
/// which the password was last used with another User-Agent (the gate then tells whether that
/// is another kind of client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticedUse {
    /// The use.
    pub use_: NetworkUse,
    /// None for a new network; else the User-Agent last seen from that network before it.
    pub previous_user_agent: Option<String>,
}

/// The network an address counts in: IPv4 /24, IPv6 /64 (an IPv4-mapped IPv6 address is the
/// IPv4 one, as a dual-stack socket reports it). A loopback address is kept whole: no provider
/// hands out loopback addresses in blocks, and each one is a different local client (a proxy,
/// a tool on the server itself), so 127.0.0.1 and 127.0.0.2 are told apart.
pub fn network_of(addr: IpAddr) -> IpNet {
    let addr = addr.to_canonical();
    if addr.is_loopback() {
        return IpNet::from(addr);
    }
    match addr {
        IpAddr::V4(v4) => IpNet::V4(Ipv4Net::new_assert(v4, 24).trunc()),
        IpAddr::V6(v6) => IpNet::V6(Ipv6Net::new_assert(v6, 64).trunc()),
    }
}

/// A User-Agent as stored: control characters removed, at most `max` characters.
pub fn clean_user_agent(user_agent: Option<&str>, max: usize) -> String {
    user_agent.unwrap_or("").chars().filter(|c| !c.is_control()).take(max).collect()
}

/// Adds `use_` to `networks`, newest first, keeping [`MAX_NETWORKS`]; answers whether it is
/// worth reporting: `Some(None)` when its network was not in the list (a new network, as far as
/// the list remembers), `Some(Some(previous))` when it is the network's newest use and its
/// User-Agent differs from the `previous` one, None otherwise. A use older than the network's
/// last one changes nothing but, possibly, its first time.
pub fn merge(networks: &mut Vec<UsedNetwork>, use_: &NetworkUse) -> Option<Option<String>> {
    let noticed = match networks.iter_mut().find(|n| n.network == use_.network) {
        Some(known) => {
            known.first_at = known.first_at.min(use_.at);
            if use_.at >= known.last_at {
                known.last_at = use_.at;
                let previous = std::mem::replace(&mut known.user_agent, use_.user_agent.clone());
                (previous != use_.user_agent).then_some(Some(previous))
            } else {
                None
            }
        }
        None => {
            networks.push(UsedNetwork {
                network: use_.network,
                first_at: use_.at,
                last_at: use_.at,
                user_agent: use_.user_agent.clone(),
            });
            Some(None)
        }
    };
    networks.sort_by_key(|n| std::cmp::Reverse(n.last_at));
    networks.truncate(MAX_NETWORKS);
    noticed
}

impl Store {
    /// Writes a batch of uses into their passwords' network lists in one transaction (ids gone
    /// since are skipped); returns, in order, the uses whose network was new to its password and
    /// those that changed a known network's User-Agent ([`merge`]).
    pub async fn record_networks(&self, uses: Vec<NetworkUse>) -> Result<Vec<NoticedUse>> {
        if let Some(pg) = self.postgres() {
            return pg.record_networks(uses).await;
        }
        if uses.is_empty() {
            return Ok(Vec::new());
        }
        self.write(Change::Harmless, move |txn| {
            let mut passwords = txn.open_table(APP_PASSWORDS)?;
            let mut new = Vec::new();
            for use_ in uses {
                let found = passwords.get(use_.id.as_str())?.map(|v| decode(v.value()));
                let Some(mut record): Option<AppPassword> = found.transpose()? else {
                    continue;
                };
                if let Some(previous_user_agent) = merge(&mut record.networks, &use_) {
                    new.push(NoticedUse { use_, previous_user_agent });
                }
                passwords.insert(record.id.as_str(), encode(&record)?.as_slice())?;
            }
            Ok(new)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{TestStore, conformance};
    use crate::store::{NewAppPassword, Role, Scope, UserName};

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + minute * 60, 0).unwrap()
    }

    fn use_of(id: &AppPasswordId, addr: &str, minute: i64, ua: &str) -> NetworkUse {
        let network = network_of(addr.parse().unwrap());
        NetworkUse { id: id.clone(), network, at: at(minute), user_agent: ua.into() }
    }

    #[test]
    fn networks_are_ipv4_slash_24_and_ipv6_slash_64() {
        let of = |a: &str| network_of(a.parse().unwrap()).to_string();
        assert_eq!(of("10.1.2.3"), "10.1.2.0/24");
        assert_eq!(of("::ffff:10.1.2.3"), "10.1.2.0/24");
        assert_eq!(of("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!((of("127.0.0.2"), of("::1")), ("127.0.0.2/32".into(), "::1/128".into()));
        assert_eq!(clean_user_agent(Some("a\u{1b}b\ncd"), 3), "abc");
    }

    #[test]
    fn the_list_keeps_the_five_most_recent_networks_newest_first() {
        let id = AppPasswordId::parse("000000000a").unwrap();
        let mut list = Vec::new();
        for i in 0..7 {
            assert_eq!(
                merge(&mut list, &use_of(&id, &format!("10.0.{i}.1"), i, "curl/8")),
                Some(None)
            );
        }
        let changed = merge(&mut list, &use_of(&id, "10.0.3.200", 9, "rclone/1"));
        assert_eq!(changed, Some(Some("curl/8".into())), "a known network, another client");
        assert_eq!(merge(&mut list, &use_of(&id, "10.0.3.7", 10, "rclone/1")), None, "the same");
        let nets: Vec<String> = list.iter().map(|n| n.network.to_string()).collect();
        assert_eq!(
            nets,
            ["10.0.3.0/24", "10.0.6.0/24", "10.0.5.0/24", "10.0.4.0/24", "10.0.2.0/24"]
        );
        assert_eq!((list[0].first_at, list[0].last_at), (at(3), at(10)));
        assert_eq!(list[0].user_agent, "rclone/1");
        assert_eq!(merge(&mut list, &use_of(&id, "10.0.3.1", 8, "old/1")), None, "late use");
        assert_eq!((list[0].last_at, list[0].user_agent.as_str()), (at(10), "rclone/1"));
    }

    /// Uses from two networks read back through every listing, and only the first use from a
    /// network is reported new.
    async fn each_password_remembers_the_networks_it_was_used_from(t: TestStore) {
        let store = t.store.clone();
        let alice = UserName::parse("alice").unwrap();
        store.create_user(&alice, Role::User, "hash".into(), at(0)).await.unwrap();
        let id = AppPasswordId::parse("000000000a").unwrap();
        let new = NewAppPassword {
            id: id.clone(),
            owner: alice.clone(),
            name: "laptop".into(),
            secret_hash: "hash".into(),
            expires_at: None,
            scope: Scope::default(),
        };
        store.create_app_password(new, at(0)).await.unwrap();
        let gone = AppPasswordId::parse("000000000z").unwrap();
        let first =
            vec![use_of(&id, "127.0.0.1", 1, "WebDAVFS/3"), use_of(&gone, "10.0.0.1", 1, "x")];
        let reported = store.record_networks(first).await.unwrap();
        let first_use = use_of(&id, "127.0.0.1", 1, "WebDAVFS/3");
        assert_eq!(reported, [NoticedUse { use_: first_use, previous_user_agent: None }]);
        let again = vec![use_of(&id, "127.0.0.1", 3, "curl/8"), use_of(&id, "127.0.0.1", 2, "x")];
        let reported = store.record_networks(again).await.unwrap();
        let changed = NoticedUse {
            use_: use_of(&id, "127.0.0.1", 3, "curl/8"),
            previous_user_agent: Some("WebDAVFS/3".into()),
        };
        assert_eq!(reported, [changed], "127.0.0.1 was known, with another User-Agent");
        store.record_networks(vec![use_of(&id, "10.9.9.9", 4, "rclone/1")]).await.unwrap();
        let listed = store.app_passwords(Some(&alice)).await.unwrap();
        let nets = &listed[0].networks;
        assert_eq!(nets.len(), 2);
        assert_eq!(
            (nets[0].network.to_string().as_str(), nets[0].user_agent.as_str()),
            ("10.9.9.0/24", "rclone/1")
        );
        assert_eq!(
            (nets[1].first_at, nets[1].last_at, nets[1].user_agent.as_str()),
            (at(1), at(3), "curl/8")
        );
        let record = store.login_record(&id).await.unwrap().unwrap();
        assert_eq!(&record.password.networks, nets);
    }
    conformance!(each_password_remembers_the_networks_it_was_used_from);
}
