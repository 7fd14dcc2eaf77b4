//! Where each app password was used from: the networks a user sees beside its access method.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use crate::util::{TestServer, list_app_passwords};

/// A PROPFIND Depth 0 from `local` (a loopback address) with `user_agent`; its status.
fn mount_from(server: &TestServer, local: Ipv4Addr, user_agent: &str, password: &str) -> u16 {
    let client = reqwest::blocking::Client::builder()
        .local_address(IpAddr::V4(local))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let url = server.request("GET", "/dav/").build().expect("request").url().clone();
    let res = client
        .request(reqwest::Method::from_bytes(b"PROPFIND").expect("method"), url)
        .basic_auth("alice", Some(password))
        .header("Depth", "0")
        .header("User-Agent", user_agent)
        .send()
        .expect("PROPFIND");
    res.status().as_u16()
}

/// The listed networks of the only app password, once there are `n` of them (they are written
/// in the background, within a second or so).
fn networks_once(server: &TestServer, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let list = list_app_passwords(server.dir(), Some("alice"));
        let networks = list[0]["networks"].as_array().cloned().unwrap_or_default();
        if networks.len() >= n || Instant::now() > deadline {
            return networks;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_list_shows_each_network_a_password_was_used_from_newest_first() {
    let server = TestServer::start();
    server.add_user("alice");
    let password = server.app_password("alice", "laptop");
    let explorer = "Microsoft-WebDAV-MiniRedir/10.0.19041";
    for _ in 0..3 {
        assert_eq!(mount_from(&server, Ipv4Addr::new(127, 0, 0, 1), explorer, &password), 207);
    }
    let first = networks_once(&server, 1);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0]["network"], "127.0.0.1/32");
    assert_eq!(first[0]["client"], "Windows Explorer");
    assert_eq!(first[0]["user_agent"], explorer);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(mount_from(&server, Ipv4Addr::new(127, 0, 0, 2), "curl/8.7.1", &password), 207);
    let both = networks_once(&server, 2);
    assert_eq!(both.len(), 2, "{both:?}");
    assert_eq!((&both[0]["network"], &both[0]["client"]), (&"127.0.0.2/32".into(), &"curl".into()));
    assert_eq!(both[1]["network"], "127.0.0.1/32");
    let (first_at, last_at) = (both[0]["first_used_at"].as_str(), both[0]["last_used_at"].as_str());
    assert_eq!(first_at, last_at, "one use from 127.0.0.2");
    assert!(both[0]["last_used_at"].as_str() > both[1]["last_used_at"].as_str(), "{both:?}");
    let listed = list_app_passwords(server.dir(), Some("alice"));
    assert_eq!(listed[0]["access_method"], "Windows Explorer", "the first use's client stays");
}

#[test]
fn an_admin_sets_and_clears_where_a_users_security_emails_go() {
    let server = TestServer::start();
    server.add_user("alice");
    let out = crate::util::ok(&server.cli(&["user", "email", "alice", " alice@example.org "]));
    assert!(out.contains("alice@example.org"), "{out}");
    let refused = crate::util::refused(&server.cli(&["user", "email", "alice", "Eve <eve@x.org>"]));
    assert!(refused.contains("not an e-mail address"), "{refused}");
    let users: serde_json::Value =
        serde_json::from_str(&crate::util::ok(&server.cli(&["user", "list", "--json"]))).unwrap();
    let alice = users.as_array().unwrap().iter().find(|u| u["name"] == "alice").unwrap().clone();
    assert_eq!(
        (&alice["email"], &alice["mail_to"]),
        (&"alice@example.org".into(), &"alice@example.org".into())
    );
    let out = crate::util::ok(&server.cli(&["user", "email", "alice", "none"]));
    assert!(out.contains("no address"), "{out}");
}
