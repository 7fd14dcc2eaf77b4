//! The admin's use policy and revocation that ends access, as a user meets them on a real
//! server (in-process, on a `ManualClock` the test moves, set up through the real CLI over the
//! admin socket; on PostgreSQL too with `DAVGATE_TEST_STORE=postgres`).

use crate::util::*;
use reqwest::blocking::{Client, RequestBuilder};
use std::io::Read;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

/// A server in this process on a clock that moves only when the test says so.
struct Policed {
    server: InProcess,
    client: Client,
}

impl std::ops::Deref for Policed {
    type Target = InProcess;
    fn deref(&self) -> &InProcess {
        &self.server
    }
}

impl Policed {
    fn start() -> Self {
        let client = Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
        Self { server: InProcess::start(InProcess::same_store), client }
    }

    fn cli(&self, args: &[&str]) -> String {
        ok(&cli(self.data.path(), args))
    }

    fn refused(&self, args: &[&str]) -> String {
        refused(&cli(self.data.path(), args))
    }

    fn request(&self, user: &str, password: &str, method: &str, path: &str) -> RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let req = self.client.request(method, format!("{}{path}", self.base));
        req.basic_auth(user, Some(password))
    }

    /// PROPFIND Depth 0 on `/dav/`: the status a client sees when it mounts.
    fn probe(&self, user: &str, password: &str) -> u16 {
        status(self.request(user, password, "PROPFIND", "/dav/").header("Depth", "0").send())
    }

    fn status_of(&self, user: &str, id: &str) -> String {
        let out = self.cli(&["app-password", "list", user, "--all", "--json"]);
        let list: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        let mine = list.iter().find(|p| p["id"] == id).expect("listed");
        mine["status"].as_str().unwrap().to_string()
    }
}

#[test]
fn a_password_unused_for_the_idle_limit_stops_working_and_lists_as_expired_unused() {
    let s = Policed::start();
    s.cli(&["user", "add", "alice"]);
    s.cli(&["settings", "set", "app_credentials_idle_ttl", "2h"]);
    let (id, password) = create_app_password(s.data.path(), "alice", "laptop");
    assert_eq!(s.probe("alice", &password), 207);
    s.clock.advance(HOUR);
    assert_eq!(s.probe("alice", &password), 207, "used within the limit, from the cache");
    s.clock.advance(HOUR + HOUR / 2);
    assert_eq!(s.probe("alice", &password), 207, "1.5 h since the last use");
    s.clock.advance(3 * HOUR);
    assert_eq!(s.probe("alice", &password), 401, "3 h unused");
    assert_eq!(s.status_of("alice", &id), "expired_unused");
}

#[test]
fn a_password_never_used_within_the_activation_window_never_works() {
    let s = Policed::start();
    s.cli(&["user", "add", "alice"]);
    s.cli(&["settings", "set", "app_credentials_activation_window", "1h"]);
    let (used_id, used) = create_app_password(s.data.path(), "alice", "laptop");
    let (seen_id, seen) = create_app_password(s.data.path(), "alice", "seen on a screen");
    assert_eq!(s.probe("alice", &used), 207);
    s.clock.advance(2 * HOUR);
    assert_eq!(s.probe("alice", &used), 207, "used in time: the window no longer matters");
    assert_eq!(s.probe("alice", &seen), 401);
    assert_eq!(s.status_of("alice", &seen_id), "expired_never_used");
    assert_eq!(s.status_of("alice", &used_id), "active");
}

#[test]
fn a_lifetime_over_the_maximum_is_refused_with_the_maximum_named() {
    let s = Policed::start();
    s.cli(&["user", "add", "alice"]);
    s.cli(&["settings", "set", "app_credentials_ttl", "7d"]);
    s.cli(&["settings", "set", "app_credentials_max_ttl", "30d"]);
    let said = s.refused(&["app-password", "create", "alice", "laptop", "--expires", "60d"]);
    assert!(said.contains("30d") || said.contains("30 days"), "{said}");
    let said = s.refused(&["app-password", "create", "alice", "laptop", "--expires", "never"]);
    assert!(said.contains("30d") || said.contains("30 days"), "{said}");
    s.cli(&["app-password", "create", "alice", "laptop", "--expires", "7d"]);
}

#[test]
fn revoking_a_password_releases_its_locks_for_the_users_other_clients() {
    let s = Policed::start();
    s.cli(&["user", "add", "alice"]);
    let (laptop_id, laptop) = create_app_password(s.data.path(), "alice", "laptop");
    let (_, phone) = create_app_password(s.data.path(), "alice", "phone");
    assert_eq!(status(s.request("alice", &laptop, "PUT", "/dav/f.txt").body("v1").send()), 201);
    let lock = r#"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"#;
    let res = s.request("alice", &laptop, "LOCK", "/dav/f.txt").body(lock).send().unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let put = |body: &'static str| {
        status(s.request("alice", &phone, "PUT", "/dav/f.txt").body(body).send())
    };
    assert_eq!(put("v2"), 423, "locked by the laptop");
    s.cli(&["app-password", "revoke", "alice", &laptop_id]);
    assert_eq!(put("v2"), 204, "the revoked laptop's lock is gone");
    let res = s.request("alice", &phone, "LOCK", "/dav/f.txt").body(lock).send().unwrap();
    assert_eq!(res.status().as_u16(), 200, "and the phone can lock it");
}

#[test]
fn an_admin_password_reset_ends_every_app_password_of_the_user() {
    let s = Policed::start();
    s.cli(&["user", "add", "alice"]);
    let (_, laptop) = create_app_password(s.data.path(), "alice", "laptop");
    let (_, phone) = create_app_password(s.data.path(), "alice", "phone");
    assert_eq!(s.probe("alice", &laptop), 207);
    assert_eq!(s.probe("alice", &phone), 207);
    s.cli(&["user", "passwd", "alice"]);
    assert_eq!(s.probe("alice", &laptop), 401);
    assert_eq!(s.probe("alice", &phone), 401);
}

#[test]
fn disabling_a_user_refuses_their_passwords_and_enabling_lets_them_work_again() {
    let s = Policed::start();
    s.cli(&["user", "add", "alice"]);
    let (_, laptop) = create_app_password(s.data.path(), "alice", "laptop");
    assert_eq!(s.probe("alice", &laptop), 207);
    s.cli(&["user", "disable", "alice"]);
    assert_eq!(s.probe("alice", &laptop), 401);
    s.cli(&["user", "enable", "alice"]);
    assert_eq!(s.probe("alice", &laptop), 207);
}

#[test]
fn renaming_a_password_changes_its_name_only_and_refuses_a_live_duplicate() {
    let s = Policed::start();
    s.cli(&["user", "add", "alice"]);
    let (id, laptop) = create_app_password(s.data.path(), "alice", "laptop");
    create_app_password(s.data.path(), "alice", "phone");
    s.cli(&["app-password", "rename", "alice", &id, "office laptop"]);
    let said = s.refused(&["app-password", "rename", "alice", &id, "phone"]);
    assert!(said.contains("phone"), "{said}");
    let listed = list_app_passwords(s.data.path(), Some("alice"));
    assert!(listed.iter().any(|p| p["id"] == id && p["name"] == "office laptop"));
    assert_eq!(s.probe("alice", &laptop), 207, "still works");
}

/// 200 MiB in 1 MiB pieces; after half of it, the password is revoked (through the CLI).
struct SlowBody {
    sent: usize,
    revoke: Option<Box<dyn FnOnce() + Send>>,
}

const MIB: usize = 1 << 20;

impl Read for SlowBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.sent >= 200 * MIB {
            return Ok(0);
        }
        if self.sent >= 100 * MIB
            && let Some(revoke) = self.revoke.take()
        {
            revoke();
        }
        let n = buf.len().min(MIB).min(200 * MIB - self.sent);
        buf[..n].fill(b'x');
        self.sent += n;
        Ok(n)
    }
}

#[test]
fn a_revoke_during_an_upload_fails_it_and_keeps_the_old_content() {
    let s = Policed::start();
    s.cli(&["user", "add", "alice"]);
    let (id, laptop) = create_app_password(s.data.path(), "alice", "laptop");
    assert_eq!(status(s.request("alice", &laptop, "PUT", "/dav/big.bin").body("old").send()), 201);
    let data = s.data.path().to_path_buf();
    std::thread::scope(|scope| {
        let upload = scope.spawn(|| {
            let (data, id) = (data.clone(), id.clone());
            let revoke = Box::new(move || {
                ok(&cli(&data, &["app-password", "revoke", "alice", &id]));
            });
            let body = SlowBody { sent: 0, revoke: Some(revoke) };
            // No length: a chunked body, as a client streaming from a pipe sends it.
            let body = reqwest::blocking::Body::new(body);
            status(s.request("alice", &laptop, "PUT", "/dav/big.bin").body(body).send())
        });
        let code = upload.join().unwrap();
        assert!(code == 401 || code == 0, "the upload is refused, not stored: {code}");
    });
    let (_, phone) = create_app_password(s.data.path(), "alice", "phone");
    let res = s.request("alice", &phone, "GET", "/dav/big.bin").send().unwrap();
    assert_eq!(res.text().unwrap(), "old");
}
