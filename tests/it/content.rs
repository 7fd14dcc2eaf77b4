//! User content under `/dav/` never runs on the pages' origin: every answer carries the
//! sandbox policy, and files a browser could execute or render as a document are downloads.

use crate::util::*;

const POLICY: &str = "default-src 'none'; sandbox";

fn header(res: &reqwest::blocking::Response, name: &str) -> Option<String> {
    res.headers().get(name).map(|v| v.to_str().unwrap().to_string())
}

#[test]
fn uploaded_active_files_are_downloads_and_passive_ones_are_shown_sandboxed() {
    let server = TestServer::start();
    server.add_user("alice");
    let pw = server.app_password("alice", "drive");
    let active =
        ["a.html", "B.HTM", "c.svg", "d.xhtml", "e.xml", "f.js", "g.mjs", "h.css", "no-extension"];
    let passive = ["notes.txt", "photo.png", "photo.JPG"];
    for file in active.iter().chain(&passive) {
        let body = format!("<script>alert('{file}')</script>");
        let put = server.as_user("alice", &pw, "PUT", &format!("/dav/{file}")).body(body).send();
        assert_eq!(status(put), 201, "upload {file}");
    }
    for file in active.iter().chain(&passive) {
        let res = server.as_user("alice", &pw, "GET", &format!("/dav/{file}")).send().unwrap();
        assert_eq!(res.status(), 200, "{file}");
        assert_eq!(header(&res, "content-security-policy").as_deref(), Some(POLICY), "{file}");
        assert_eq!(header(&res, "x-content-type-options").as_deref(), Some("nosniff"), "{file}");
        assert_eq!(header(&res, "x-frame-options").as_deref(), Some("DENY"), "{file}");
        let disposition = header(&res, "content-disposition");
        if active.contains(file) {
            assert_eq!(disposition.as_deref(), Some("attachment"), "{file} would render");
        } else {
            assert_eq!(disposition, None, "{file} is passive and may be shown");
        }
        // The bytes are the client's, unchanged: WebDAV clients see what they stored.
        assert_eq!(res.text().unwrap(), format!("<script>alert('{file}')</script>"));
    }
    let ranged =
        server.as_user("alice", &pw, "GET", "/dav/a.html").header("Range", "bytes=0-5").send();
    let ranged = ranged.unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(header(&ranged, "content-disposition").as_deref(), Some("attachment"));
}

#[test]
fn every_webdav_answer_carries_the_sandbox_policy_refusals_included() {
    let server = TestServer::start();
    server.add_user("alice");
    let pw = server.app_password("alice", "drive");
    let answers = [
        server.request("GET", "/dav/").send().unwrap(),
        server.as_user("alice", "dgp-wrong", "GET", "/dav/").send().unwrap(),
        server.as_user("alice", &pw, "PROPFIND", "/dav/").header("Depth", "1").send().unwrap(),
        server.as_user("alice", &pw, "GET", "/dav/missing.html").send().unwrap(),
        server.as_user("alice", &pw, "MKCOL", "/dav/docs").send().unwrap(),
    ];
    for res in &answers {
        let what = format!("{} {}", res.url(), res.status());
        assert_eq!(header(res, "content-security-policy").as_deref(), Some(POLICY), "{what}");
        assert_eq!(header(res, "x-content-type-options").as_deref(), Some("nosniff"), "{what}");
        assert_eq!(header(res, "content-disposition"), None, "{what}");
    }
    // The folder index is dav-server's own escaped HTML: shown, but sandboxed (its inline style
    // sheet is the one thing allowed).
    let index = server.as_user("alice", &pw, "GET", "/dav/").send().unwrap();
    assert_eq!(index.status(), 200);
    let policy = header(&index, "content-security-policy").unwrap();
    assert!(policy.starts_with("default-src 'none';") && policy.ends_with("sandbox"), "{policy}");
    assert!(!policy.contains("script"), "{policy}");
    assert_eq!(header(&index, "content-disposition"), None);
    assert!(index.text().unwrap().contains("docs/"));
}
