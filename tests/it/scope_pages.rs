//! Issue 14's pages through plain HTTP: the create form offers only the lifetimes the admin's
//! maximum allows and the server refuses the others anyway; the one-time dialog fills the public
//! URL into "Connect your application"; the CLI prints the same lines.

use crate::pages::{Visitor, primary};
use crate::util::*;

/// The `value`s of the lifetime select's options, in order.
fn lifetimes(html: &str) -> Vec<String> {
    let select = html.split("<select id=\"lifetime\"").nth(1).unwrap_or_default();
    let select = select.split("</select>").next().unwrap_or_default();
    select
        .split("<option value=\"")
        .skip(1)
        .filter_map(|o| o.split('"').next())
        .map(str::to_string)
        .collect()
}

/// The text of the copy box `id` of the dialog.
fn connect_box(html: &str, id: &str) -> String {
    let start = format!("<textarea id=\"{id}\"");
    let rest = html.split(&start).nth(1).unwrap_or_default();
    let text = rest.split_once('>').map(|(_, t)| t).unwrap_or_default();
    text.split("</textarea>")
        .next()
        .unwrap_or_default()
        .replace("&#x2f;", "/")
        .replace("&#47;", "/")
}

#[test]
fn the_create_form_offers_lifetimes_within_the_maximum_and_the_server_refuses_longer_ones() {
    let server = TestServer::start();
    add_user_with_password(&server, "alice", &primary("alice"));
    let mut alice = Visitor::signed_in(&server, "alice", &primary("alice"));
    let profile = alice.get("/profile");
    profile.shows(200, &["Lifetime", "Default (90 days)", "Read only", "Upload only"]);
    profile.shows(200, &["List and download files; nothing can be changed."]);
    assert_eq!(lifetimes(&profile.html), ["default", "7d", "30d", "90d", "365d"]);

    ok(&server.cli(&["settings", "set", "app_credentials_ttl", "7d"]));
    ok(&server.cli(&["settings", "set", "app_credentials_max_ttl", "30d"]));
    let profile = alice.get("/profile");
    profile.shows(200, &["Default (7 days)"]);
    assert_eq!(lifetimes(&profile.html), ["default", "7d", "30d"]);

    // A hand-made form asking for more is refused with the page's own words, the fields kept.
    for asked in ["90d", "never"] {
        let refused = alice.post(
            "/profile/app-passwords",
            &[("name", "Camera"), ("lifetime", asked), ("folder", "/Scans")],
        );
        refused.shows(400, &["This lifetime is longer than your administrator allows."]);
        refused.lacks(&["dgp-"]);
        assert_eq!(refused.value("name"), "Camera");
        assert_eq!(refused.value("folder"), "/Scans");
    }
    let refused = alice.post("/profile/app-passwords", &[("name", "Camera"), ("folder", "../x")]);
    refused.shows(400, &["Check the folder (like /Projects) and the networks (like 10.0.0.0/8)."]);

    ok(&server.cli(&["settings", "set", "app_credentials_max_ttl", "none"]));
    let profile = alice.get("/profile");
    assert_eq!(lifetimes(&profile.html), ["default", "7d", "30d", "90d", "365d", "never"]);
    let created = alice.post(
        "/profile/app-passwords",
        &[
            ("name", "Camera"),
            ("lifetime", "never"),
            ("access", "upload_only"),
            ("folder", "/Scans"),
        ],
    );
    created.shows(200, &["This app password does not expire"]);
    let profile = alice.get("/profile");
    profile.shows(200, &["Camera", "Upload only", "/Scans", "Never", "Active"]);
}

#[test]
fn the_dialog_fills_the_public_url_and_the_user_into_every_connect_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir, &["--public-url", "https://files.example.com/"]);
    add_user_with_password(&server, "alice", &primary("alice"));
    let mut alice = Visitor::signed_in(&server, "alice", &primary("alice"));
    let created = alice.post("/profile/app-passwords", &[("name", "NAS backup")]);
    created.shows(200, &["Connect your application", "Windows (command prompt)"]);
    let password = created.value("new-password");
    // The prefix case is in src/connect.rs and src/http/prefix.rs: here the host is the point.
    let dav = "https://files.example.com/dav/";
    assert_eq!(
        connect_box(&created.html, "connect-rclone"),
        format!(
            "rclone config create davgate webdav url={dav} vendor=other user=alice \
             pass={password} --obscure"
        )
    );
    assert_eq!(connect_box(&created.html, "connect-finder"), dav);
    assert_eq!(
        connect_box(&created.html, "connect-cadaver"),
        format!("machine files.example.com login alice password {password}")
    );
    // A primary password's dialog has no connection lines.
    let mut admin = Visitor::admin(&server);
    let reset = admin.post("/admin/users/alice/password", &[]);
    reset.shows(200, &[]).lacks(&["Connect your application"]);
    assert!(reset.html.contains("<dialog id=\"shown\""), "{}", reset.html);
}

#[test]
fn the_cli_prints_the_connect_lines_with_the_configured_public_url_or_a_placeholder() {
    let dir = tempfile::tempdir().unwrap();
    ok(&cli(dir.path(), &["user", "add", "alice"]));
    let out = ok(&cli(dir.path(), &["app-password", "create", "alice", "Laptop"]));
    assert!(out.contains("Connect your application:"), "{out}");
    assert!(out.contains("rclone config create davgate webdav url=https://YOUR-SERVER/dav/ vendor=other user=alice pass=dgp-"), "{out}");
    assert!(out.contains("Replace YOUR-SERVER"), "{out}");

    std::fs::write(dir.path().join("davgate.toml"), "public_url = \"https://nas.example.org/\"\n")
        .unwrap();
    let out = ok(&cli(dir.path(), &["app-password", "create", "alice", "Phone"]));
    assert!(out.contains("net use Z: https://nas.example.org/dav/ /user:alice dgp-"), "{out}");
    assert!(out.contains("machine nas.example.org login alice password dgp-"), "{out}");
    assert!(!out.contains("YOUR-SERVER"), "{out}");
    // --json stays the object it was.
    let json = ok(&cli(dir.path(), &["app-password", "create", "alice", "Tablet", "--json"]));
    assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok(), "{json}");
}
