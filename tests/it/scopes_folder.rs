//! A folder-scoped app password (`--folder /Projects`): its `/dav/` is that folder, nothing
//! outside it is reachable by any path or `Destination` in any encoding or through a link, its
//! dead properties and locks are where the whole-home password sees them, and litmus passes.

use crate::scopes::{LOCKINFO, props_of, scoped, set_color, snapshot};
use crate::util::*;

struct Folder {
    server: TestServer,
    full: String,
    projects: String,
}

/// Alice with a whole-home password, a `secret.txt` and a folder `Other/` outside `/Projects`,
/// and a password for `/Projects` (which does not exist yet).
fn alice_with_projects() -> Folder {
    let server = TestServer::start();
    server.add_user("alice");
    let full = server.app_password("alice", "laptop");
    let put = server.as_user("alice", &full, "PUT", "/dav/secret.txt").body("alice's secret");
    assert_eq!(status(put.send()), 201);
    assert_eq!(status(server.as_user("alice", &full, "MKCOL", "/dav/Other/").send()), 201);
    let projects = scoped(&server, "alice", "projects", &["--folder", "/Projects"]);
    Folder { server, full, projects }
}

/// What lies outside `/Projects` in alice's home.
fn outside(t: &Folder) -> Vec<(String, Vec<u8>)> {
    snapshot(&t.server.home("alice"))
        .into_iter()
        .filter(|(p, _)| !p.starts_with("Projects"))
        .collect()
}

const ESCAPES: &[&str] = &[
    "/dav/../secret.txt",
    "/dav/../Other/x",
    "/dav/%2e%2e/secret.txt",
    "/dav/%2E%2E/%2e%2e/files/alice/secret.txt",
    "/dav/..%2fsecret.txt",
    "/dav/%2e%2e%2fsecret.txt",
    "/dav/./../../alice/secret.txt",
    "/dav/..\\secret.txt",
    "/dav/sub/../../secret.txt",
    "/files/alice/secret.txt",
    "/davx/../dav/../secret.txt",
];

#[test]
fn a_folder_password_is_served_its_folder_as_dav_and_it_is_made_on_first_use() {
    let t = alice_with_projects();
    let (server, pw) = (&t.server, &t.projects);
    assert_eq!(server.probe("alice", pw), 207);
    let projects = server.home("alice").join("Projects");
    assert!(projects.is_dir(), "the folder was made on first use");
    assert_eq!(
        status(server.as_user("alice", pw, "PUT", "/dav/plan.txt").body("plan").send()),
        201
    );
    assert_eq!(std::fs::read_to_string(projects.join("plan.txt")).unwrap(), "plan");
    let listing = server.as_user("alice", pw, "PROPFIND", "/dav/").header("Depth", "1").send();
    let listing = listing.unwrap().text().unwrap();
    assert!(listing.contains("/dav/plan.txt") && !listing.contains("secret.txt"), "{listing}");
    let read = server.as_user("alice", &t.full, "GET", "/dav/Projects/plan.txt").send();
    assert_eq!(read.unwrap().text().unwrap(), "plan");
}

#[test]
fn no_path_or_destination_of_a_folder_password_reaches_outside_its_folder() {
    let t = alice_with_projects();
    let (server, pw) = (&t.server, &t.projects);
    assert_eq!(
        status(server.as_user("alice", pw, "PUT", "/dav/mine.txt").body("mine").send()),
        201
    );
    let before = outside(&t);
    for path in ESCAPES {
        for method in
            ["GET", "PROPFIND", "PUT", "DELETE", "MKCOL", "MOVE", "COPY", "LOCK", "PROPPATCH"]
        {
            let mut req = server.as_user("alice", pw, method, path).header("Depth", "1");
            req = match method {
                "PUT" => req.body("overwritten"),
                "MOVE" | "COPY" => req.header("Destination", "/dav/stolen.txt"),
                _ => req,
            };
            let res = req.send().unwrap();
            let code = res.status().as_u16();
            let body = res.text().unwrap_or_default();
            assert!(!body.contains("alice's secret"), "{method} {path} read outside the folder");
            assert!(code < 500, "{method} {path} answered {code}: {body}");
        }
    }
    let base = server.base.clone();
    let destinations = [
        "/dav/../from-projects.txt".to_string(),
        "/dav/%2e%2e/Other/from-projects.txt".to_string(),
        "/dav/..%2ffrom-projects.txt".to_string(),
        "/files/alice/from-projects.txt".to_string(),
        format!("{base}/dav/../from-projects.txt"),
        format!("{base}/dav/%2e%2e/%2e%2e/files/alice/from-projects.txt"),
        "http://elsewhere.example/dav/../../from-projects.txt".to_string(),
    ];
    for dest in &destinations {
        for method in ["COPY", "MOVE"] {
            let req = server
                .as_user("alice", pw, method, "/dav/mine.txt")
                .header("Destination", dest.as_str());
            let code = status(req.header("Overwrite", "T").send());
            assert!((400..500).contains(&code), "{method} to {dest} answered {code}");
        }
    }
    assert_eq!(outside(&t), before, "nothing outside /Projects changed");
    assert!(server.home("alice").join("Projects/mine.txt").is_file());
}

#[test]
fn links_in_or_instead_of_the_folder_lead_nowhere() {
    let t = alice_with_projects();
    let (server, pw) = (&t.server, &t.projects);
    assert_eq!(server.probe("alice", pw), 207);
    let home = server.home("alice");
    std::os::unix::fs::symlink(home.join("secret.txt"), home.join("Projects/link.txt")).unwrap();
    std::os::unix::fs::symlink(&home, home.join("Projects/up")).unwrap();
    for path in ["/dav/link.txt", "/dav/up/secret.txt", "/dav/up/"] {
        for method in ["GET", "PROPFIND", "PUT", "DELETE"] {
            let res = server
                .as_user("alice", pw, method, path)
                .header("Depth", "1")
                .body("x")
                .send()
                .unwrap();
            let code = res.status().as_u16();
            assert!((400..500).contains(&code), "{method} {path} answered {code}");
            assert!(!res.text().unwrap().contains("alice's secret"));
        }
    }
    // A password whose folder is a link, or a file: a clear refusal, never a 500.
    std::os::unix::fs::symlink(home.join("Other"), home.join("Linked")).unwrap();
    let linked = scoped(server, "alice", "linked", &["--folder", "/Linked"]);
    assert_eq!(server.probe("alice", &linked), 409);
    let file = scoped(server, "alice", "file", &["--folder", "/secret.txt/inner"]);
    let res = server.as_user("alice", &file, "GET", "/dav/").send().unwrap();
    assert_eq!(res.status().as_u16(), 409);
    assert!(res.text().unwrap().contains("/secret.txt/inner"));
    assert_eq!(std::fs::read_to_string(home.join("secret.txt")).unwrap(), "alice's secret");
}

#[test]
fn the_whole_home_password_sees_a_folder_passwords_properties_and_locks_at_their_real_paths() {
    let t = alice_with_projects();
    let (server, pw, full) = (&t.server, &t.projects, &t.full);
    assert_eq!(status(server.as_user("alice", pw, "PUT", "/dav/x.txt").body("x").send()), 201);
    let patch = server.as_user("alice", pw, "PROPPATCH", "/dav/x.txt").body(set_color("green"));
    assert_eq!(status(patch.send()), 207);
    let lock = server.as_user("alice", pw, "LOCK", "/dav/x.txt").body(LOCKINFO).send().unwrap();
    assert_eq!(lock.status().as_u16(), 200);
    let token = lock.headers()["lock-token"].to_str().unwrap().to_string();
    let granted = lock.text().unwrap();
    assert!(granted.contains("/dav/x.txt") && !granted.contains("Projects"), "{granted}");

    let seen = props_of(server, "alice", full, "/dav/Projects/x.txt");
    assert!(seen.contains(">green<"), "{seen}");
    assert!(seen.contains(token.trim_matches(['<', '>'])), "{seen}");
    let lockroot = seen.split("lockroot>").nth(1).unwrap_or_default();
    assert!(lockroot.contains("/dav/Projects/x.txt"), "the lock's root is its real path: {seen}");
    let blocked = server.as_user("alice", full, "PUT", "/dav/Projects/x.txt").body("y").send();
    assert_eq!(status(blocked), 423, "the folder password's lock holds for the whole home");
    let own = props_of(server, "alice", pw, "/dav/x.txt");
    assert!(own.contains(">green<") && !own.contains("Projects"), "{own}");
    assert_eq!(
        status(server.as_user("alice", full, "PROPFIND", "/dav/x.txt").header("Depth", "0").send()),
        404
    );

    // A MOVE by the folder password carries the properties along at their real paths.
    let mv = server.as_user("alice", pw, "MOVE", "/dav/x.txt").header("Destination", "/dav/y.txt");
    assert_eq!(status(mv.header("If", format!("({token})")).send()), 201);
    assert!(props_of(server, "alice", full, "/dav/Projects/y.txt").contains(">green<"));
}

#[test]
fn litmus_passes_every_test_against_a_folder_passwords_dav() {
    if !crate::litmus::available() {
        return;
    }
    let t = alice_with_projects();
    let url = format!("{}/dav/", t.server.base);
    crate::litmus::assert_passes(&url, "alice", &t.projects, t.server.dir());
    assert!(t.server.home("alice").join("Projects").is_dir());
    assert_eq!(
        std::fs::read_to_string(t.server.home("alice").join("secret.txt")).unwrap(),
        "alice's secret"
    );
}
