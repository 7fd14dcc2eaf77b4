//! The admin CLI, with and without a running server on the same data directory.

use crate::util::*;

#[test]
fn the_cli_manages_users_and_app_passwords_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(&cli(dir.path(), &["user", "add", "alice"]));
    assert!(out.contains("Password (shown once): "), "{out}");
    ok(&cli(dir.path(), &["user", "add", "root", "--admin"]));
    let users: serde_json::Value =
        serde_json::from_str(&ok(&cli(dir.path(), &["user", "list", "--json"]))).unwrap();
    let names: Vec<&str> =
        users.as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "root"]);
    assert_eq!(users[1]["role"], "admin");

    let created: serde_json::Value = serde_json::from_str(&ok(&cli(
        dir.path(),
        &["app-password", "create", "alice", "Office laptop drive", "--json"],
    )))
    .unwrap();
    let keys: Vec<&String> = created.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["expires_at", "id", "name", "password", "scope"]);
    assert_eq!(created["scope"]["access"], "read_write", "unscoped unless asked");
    assert!(created["password"].as_str().unwrap().starts_with("dgp-"));
    let expires =
        chrono::DateTime::parse_from_rfc3339(created["expires_at"].as_str().unwrap()).unwrap();
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((89.9..=90.1).contains(&days), "default TTL is 90 days, got {days}");

    let listed = list_app_passwords(dir.path(), None);
    assert_eq!(listed.len(), 1);
    for key in [
        "id",
        "user",
        "name",
        "access_method",
        "user_agent",
        "created_at",
        "expires_at",
        "first_used_at",
        "last_used_at",
    ] {
        assert!(listed[0].get(key).is_some(), "missing {key}");
    }
    assert!(listed[0]["access_method"].is_null());
    assert!(
        !serde_json::to_string(&listed).unwrap().contains(created["password"].as_str().unwrap())
    );
    let table = ok(&cli(dir.path(), &["app-password", "list"]));
    assert!(table.contains("Not assigned") && table.contains("Office laptop drive"), "{table}");
}

#[test]
fn bad_input_is_one_clear_line_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&cli(d, &["user", "add", "alice"]));
    ok(&cli(d, &["user", "add", "bob"]));
    let (bob_id, _) = create_app_password(d, "bob", "phone");
    let before = (
        list_app_passwords(d, None),
        ok(&cli(d, &["user", "list", "--json"])),
        ok(&cli(d, &["settings", "get"])),
    );

    let cases: &[(&[&str], &str)] = &[
        (&["app-password", "create", "nobody", "x"], "no user named 'nobody'"),
        (&["settings", "set", "app_credentials_ttl", "abc"], "'abc' is not a duration"),
        (&["settings", "set", "no_such_setting", "1"], "unknown setting"),
        (&["user", "add", "a/b"], "not a valid user name"),
        (&["user", "add", ".hidden"], "not a valid user name"),
        (&["user", "add", "alice"], "already exists"),
        (&["app-password", "revoke", "alice", &bob_id], "has no app password with id"),
        (&["app-password", "revoke", "alice", "not-an-id"], "not an app password id"),
        (&["app-password", "create", "alice", ""], "not a valid app password name"),
        (&["user", "disable", "ghost"], "no user named 'ghost'"),
    ];
    for (args, expected) in cases {
        let line = refused(&cli(d, args));
        assert!(line.contains(expected), "{args:?}: {line}");
    }
    let after = (
        list_app_passwords(d, None),
        ok(&cli(d, &["user", "list", "--json"])),
        ok(&cli(d, &["settings", "get"])),
    );
    assert_eq!(before, after, "a refused command changed something");
}

#[test]
fn two_active_app_passwords_of_a_user_cannot_share_a_name() {
    let dir = tempfile::tempdir().unwrap();
    ok(&cli(dir.path(), &["user", "add", "alice"]));
    let (id, _) = create_app_password(dir.path(), "alice", "laptop");
    let line = refused(&cli(dir.path(), &["app-password", "create", "alice", "laptop"]));
    assert!(line.contains("already has an active app password named 'laptop'"), "{line}");
    ok(&cli(dir.path(), &["app-password", "revoke", "alice", &id]));
    create_app_password(dir.path(), "alice", "laptop");
}

#[test]
fn the_last_admin_cannot_be_removed_or_disabled() {
    let dir = tempfile::tempdir().unwrap();
    ok(&cli(dir.path(), &["user", "add", "root", "--admin"]));
    assert!(refused(&cli(dir.path(), &["user", "remove", "root"])).contains("last enabled admin"));
    assert!(refused(&cli(dir.path(), &["user", "disable", "root"])).contains("last enabled admin"));
    ok(&cli(dir.path(), &["user", "add", "second", "--admin"]));
    ok(&cli(dir.path(), &["user", "remove", "root"]));
}

#[test]
fn the_cli_reaches_a_running_server_and_never_says_database_already_open() {
    let server = TestServer::start();
    // Many commands while the server holds the store: all go through the admin socket.
    server.add_user("alice");
    let pw = server.app_password("alice", "laptop");
    let out = ok(&server.cli(&["user", "list"]));
    assert!(out.contains("alice") && out.contains("admin"), "{out}");
    ok(&server.cli(&["settings", "set", "propfind_depth_infinity", "true"]));
    assert_eq!(ok(&server.cli(&["settings", "get", "propfind_depth_infinity"])).trim(), "true");
    let line = refused(&server.cli(&["user", "add", "alice"]));
    assert!(line.contains("already exists"), "{line}");
    assert!(!line.to_lowercase().contains("already open"));
    // The server applied the setting at once.
    let res = server.as_user("alice", &pw, "PROPFIND", "/dav/").header("Depth", "infinity").send();
    assert_eq!(status(res), 207);
}

#[test]
fn passwords_from_stdin_are_checked_and_never_echoed() {
    let server = TestServer::start();
    let out = server.cli_with_stdin(&["user", "add", "carol", "--password-stdin"], "short\n");
    assert!(refused(&out).contains("too short"));
    let out = ok(&server
        .cli_with_stdin(&["user", "add", "carol", "--password-stdin"], "long enough secret\n"));
    assert!(!out.contains("long enough secret") && !out.contains("Password"), "{out}");
    let out = ok(&server.cli(&["user", "passwd", "carol"]));
    assert!(out.contains("New password (shown once): "), "{out}");
}

#[test]
fn removing_a_user_keeps_their_files_and_kills_their_app_passwords() {
    let server = TestServer::start();
    server.add_user("alice");
    let pw = server.app_password("alice", "laptop");
    assert_eq!(
        status(server.as_user("alice", &pw, "PUT", "/dav/keep.txt").body("data").send()),
        201
    );
    let out = ok(&server.cli(&["user", "remove", "alice"]));
    assert!(out.contains("1 app password(s)") && out.contains("kept"), "{out}");
    assert_eq!(status(server.as_user("alice", &pw, "GET", "/dav/keep.txt").send()), 401);
    // Kept aside, where nothing serves them (a new account of that name starts empty).
    let aside = std::fs::read_dir(server.dir().join("files/.removed")).unwrap().next();
    let aside = aside.expect("a folder in files/.removed").unwrap().path();
    assert!(out.contains(&aside.display().to_string()), "{out}");
    assert_eq!(std::fs::read_to_string(aside.join("keep.txt")).unwrap(), "data");
    assert!(!server.home("alice").exists());
}

#[test]
fn help_answers() {
    let out = std::process::Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["serve", "user", "app-password", "settings", "--data", "DAVGATE_DATA"] {
        assert!(text.contains(word), "--help lacks {word}:\n{text}");
    }
    let out = std::process::Command::new(BIN).args(["serve", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--tls-cert") && text.contains("127.0.0.1:8080"), "{text}");
}

#[test]
fn status_reports_the_running_servers_counters_and_needs_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let line = refused(&cli(dir.path(), &["status"]));
    assert!(line.contains("no davgate server is running"), "{line}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "status created files");
    let server = TestServer::start();
    server.add_user("alice");
    let pw = server.app_password("alice", "laptop");
    for _ in 0..3 {
        assert_eq!(server.probe("alice", &pw), 207);
    }
    let status: serde_json::Value =
        serde_json::from_str(&ok(&server.cli(&["status", "--json"]))).unwrap();
    assert_eq!(status["argon2_verifications"], 1, "one verification, then the cache: {status}");
    assert_eq!(status["cached_credentials"], 1);
    assert!(ok(&server.cli(&["status"])).contains("argon2 verifications:"));
}
