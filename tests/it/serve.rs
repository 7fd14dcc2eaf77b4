//! `davgate serve`: first start, routing, OPTIONS on the root, Depth: infinity, TLS, shutdown.

use crate::util::*;
use std::process::Command;

#[test]
fn the_first_start_creates_an_admin_and_shows_its_password_once() {
    let mut server = TestServer::start();
    assert!(server.banner.contains("created the admin account"), "{}", server.banner);
    let password = server
        .banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .expect("password line")
        .to_string();
    assert!(
        server.banner.contains("app-password create admin"),
        "tells how to create an app password"
    );
    // The admin's own password does not open WebDAV.
    assert_eq!(status(server.as_user("admin", &password, "PROPFIND", "/dav/").send()), 401);
    assert_eq!(server.terminate().map(|s| s.success()), Some(true), "SIGTERM stops it cleanly");
    assert!(!server.dir().join("admin.sock").exists(), "the admin socket is removed on exit");
    let data = std::mem::replace(&mut server.data, tempfile::tempdir().unwrap());
    drop(server);
    let again = TestServer::start_with(data, &[]);
    assert!(!again.banner.contains("created the admin account"), "{}", again.banner);
    assert!(!again.banner.contains(&password));
}

#[test]
fn windows_can_probe_the_server_root_and_routing_uses_whole_segments() {
    let server = TestServer::start();
    let res = server.request("OPTIONS", "/").send().unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["dav"], "1, 2");
    assert_eq!(res.headers()["ms-author-via"], "DAV");
    assert!(res.headers()["allow"].to_str().unwrap().contains("PROPFIND"));
    assert_eq!(status(server.request("GET", "/davx").send()), 404);
    assert_eq!(status(server.request("PROPFIND", "/davx/").send()), 404);
    assert_eq!(status(server.request("PROPFIND", "/dav").send()), 401);
    assert_eq!(status(server.request("GET", "/").send()), 200);
}

#[test]
fn depth_infinity_follows_the_setting_never_a_header() {
    let server = TestServer::start();
    server.add_user("alice");
    let pw = server.app_password("alice", "laptop");
    let infinity = |extra: Option<(&str, &str)>| {
        let mut req = server.as_user("alice", &pw, "PROPFIND", "/dav/").header("Depth", "infinity");
        if let Some((k, v)) = extra {
            req = req.header(k, v);
        }
        req.send().unwrap()
    };
    let refused = infinity(None);
    assert_eq!(refused.status().as_u16(), 403);
    assert!(refused.text().unwrap().contains("propfind-finite-depth"));
    assert_eq!(infinity(Some(("X-Litmus", "props: 3 (propfind_d0)"))).status().as_u16(), 403);
    ok(&server.cli(&["settings", "set", "propfind_depth_infinity", "true"]));
    assert_eq!(infinity(None).status().as_u16(), 207);
    let depth1 = server.as_user("alice", &pw, "PROPFIND", "/dav/").header("Depth", "1").send();
    assert_eq!(status(depth1), 207);
}

#[test]
fn https_serves_webdav_with_the_given_certificate() {
    let data = tempfile::tempdir().unwrap();
    let (_tls, cert, key) = self_signed_certificate();
    let args = ["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()];
    let server = TestServer::start_with(data, &args);
    assert!(server.base.starts_with("https://"), "{}", server.base);
    server.add_user("alice");
    let pw = server.app_password("alice", "windows");
    let url = format!("{}/dav/", server.base);
    let out = Command::new("curl")
        .args([
            "-sk",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{http_version}",
            "-X",
            "PROPFIND",
            "-H",
            "Depth: 0",
        ])
        .args(["-A", "Microsoft-WebDAV-MiniRedir/10.0.19041", "-u", &format!("alice:{pw}"), &url])
        .output()
        .expect("curl is installed");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "207 2", "HTTP/2 over TLS via ALPN");
    let listed = list_app_passwords(server.dir(), Some("alice"));
    assert_eq!(listed[0]["access_method"], "Windows Explorer");
}

#[test]
fn a_missing_certificate_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(
        dir.path(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            "/nonexistent/key.pem",
        ],
    );
    let line = refused(&out);
    assert!(line.contains("/nonexistent/cert.pem"), "{line}");
}

#[test]
fn a_second_server_on_the_same_data_is_refused_clearly() {
    let server = TestServer::start();
    let out = server.cli(&["serve", "--listen", "127.0.0.1:0"]);
    let line = refused(&out);
    assert!(line.contains("in use by another davgate process"), "{line}");
}
