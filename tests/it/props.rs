//! Dead properties: stored per user and path, carried by COPY and MOVE, dropped by DELETE.

use crate::util::*;

const NS: &str = "http://example.com/davgate-test/";

fn set_color(server: &TestServer, user: &str, pw: &str, path: &str, color: &str) {
    let body = format!(
        r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x:color xmlns:x="{NS}">{color}</x:color></D:prop></D:set></D:propertyupdate>"#
    );
    let res = server.as_user(user, pw, "PROPPATCH", path).body(body).send().unwrap();
    assert_eq!(res.status().as_u16(), 207);
    assert!(res.text().unwrap().contains("200 OK"));
}

/// The color of `path` from an allprop PROPFIND, if it has one.
fn color(server: &TestServer, user: &str, pw: &str, path: &str) -> Option<String> {
    let res = server.as_user(user, pw, "PROPFIND", path).header("Depth", "0").send().unwrap();
    assert_eq!(res.status().as_u16(), 207, "PROPFIND {path}");
    let xml = res.text().unwrap();
    let start = xml.find("<x:color")?;
    let value_start = start + xml[start..].find('>')? + 1;
    let value_end = value_start + xml[value_start..].find("</x:color>")?;
    Some(xml[value_start..value_end].to_string())
}

#[test]
fn dead_properties_follow_copy_and_move_and_vanish_on_delete() {
    let server = TestServer::start();
    server.add_user("alice");
    server.add_user("bob");
    let a = server.app_password("alice", "laptop");
    let b = server.app_password("bob", "laptop");
    let put = |user: &str, pw: &str, path: &str| {
        assert_eq!(status(server.as_user(user, pw, "PUT", path).body("x").send()), 201);
    };
    assert_eq!(status(server.as_user("alice", &a, "MKCOL", "/dav/dir/").send()), 201);
    put("alice", &a, "/dav/dir/file.txt");
    set_color(&server, "alice", &a, "/dav/dir/", "red");
    set_color(&server, "alice", &a, "/dav/dir/file.txt", "blue");
    assert_eq!(color(&server, "alice", &a, "/dav/dir/file.txt").as_deref(), Some("blue"));

    // Another user's file at the same path has nothing.
    assert_eq!(status(server.as_user("bob", &b, "MKCOL", "/dav/dir/").send()), 201);
    put("bob", &b, "/dav/dir/file.txt");
    assert_eq!(color(&server, "bob", &b, "/dav/dir/file.txt"), None);

    // COPY of the folder carries both its own and its child's properties.
    let copy =
        server.as_user("alice", &a, "COPY", "/dav/dir/").header("Destination", "/dav/copy/").send();
    assert_eq!(status(copy), 201);
    assert_eq!(color(&server, "alice", &a, "/dav/copy/").as_deref(), Some("red"));
    assert_eq!(color(&server, "alice", &a, "/dav/copy/file.txt").as_deref(), Some("blue"));

    // MOVE takes them along and leaves nothing behind.
    let mv = server
        .as_user("alice", &a, "MOVE", "/dav/copy/")
        .header("Destination", "/dav/moved/")
        .send();
    assert_eq!(status(mv), 201);
    assert_eq!(color(&server, "alice", &a, "/dav/moved/file.txt").as_deref(), Some("blue"));
    assert_eq!(status(server.as_user("alice", &a, "MKCOL", "/dav/copy/").send()), 201);
    put("alice", &a, "/dav/copy/file.txt");
    assert_eq!(
        color(&server, "alice", &a, "/dav/copy/file.txt"),
        None,
        "MOVE left properties behind"
    );

    // DELETE drops them: a new file at the same path starts clean.
    assert_eq!(status(server.as_user("alice", &a, "DELETE", "/dav/moved/").send()), 204);
    assert_eq!(status(server.as_user("alice", &a, "MKCOL", "/dav/moved/").send()), 201);
    put("alice", &a, "/dav/moved/file.txt");
    assert_eq!(
        color(&server, "alice", &a, "/dav/moved/file.txt"),
        None,
        "DELETE left properties behind"
    );

    // The original is untouched by all of this, and survives a restart of nothing but reads.
    assert_eq!(color(&server, "alice", &a, "/dav/dir/file.txt").as_deref(), Some("blue"));
    assert_eq!(color(&server, "alice", &a, "/dav/dir/").as_deref(), Some("red"));
}

#[test]
fn a_file_deleted_outside_davgate_does_not_hand_its_properties_to_a_new_one() {
    let server = TestServer::start();
    server.add_user("alice");
    let a = server.app_password("alice", "laptop");
    assert_eq!(
        status(server.as_user("alice", &a, "PUT", "/dav/report.txt").body("v1").send()),
        201
    );
    set_color(&server, "alice", &a, "/dav/report.txt", "green");
    // Removed on disk by someone else (a backup restore, an admin), not through WebDAV.
    std::fs::remove_file(server.home("alice").join("report.txt")).unwrap();
    assert_eq!(
        status(server.as_user("alice", &a, "PUT", "/dav/report.txt").body("v2").send()),
        201
    );
    assert_eq!(color(&server, "alice", &a, "/dav/report.txt"), None);
    // Replacing an existing file keeps its properties.
    set_color(&server, "alice", &a, "/dav/report.txt", "blue");
    assert_eq!(
        status(server.as_user("alice", &a, "PUT", "/dav/report.txt").body("v3").send()),
        204
    );
    assert_eq!(color(&server, "alice", &a, "/dav/report.txt").as_deref(), Some("blue"));
}
