//! Writes that need the shared store while it is down, and the quota across nodes.

use std::time::{Duration, Instant};

use crate::pg_down::Cluster;
use crate::util::{TestServer, create_app_password, ok, status};

const NS: &str = "http://example.com/davgate-test/";

fn proppatch(server: &TestServer, password: &str, color: &str) -> reqwest::blocking::Response {
    let body = format!(
        r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x:color xmlns:x="{NS}">{color}</x:color></D:prop></D:set></D:propertyupdate>"#
    );
    server.as_user("alice", password, "PROPPATCH", "/dav/notes.txt").body(body).send().unwrap()
}

#[test]
fn a_proppatch_with_postgres_down_answers_503_retry_after_and_works_once_it_is_back() {
    let Some(cluster) = Cluster::start() else { return };
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), &["--store", &cluster.url]);
    ok(&server.cli(&["--store", &cluster.url, "user", "add", "alice"]));
    let (_, password) = create_app_password(server.dir(), "alice", "laptop");
    let put = server.as_user("alice", &password, "PUT", "/dav/notes.txt").body("hi").send();
    assert_eq!(status(put), 201);
    assert_eq!(proppatch(&server, &password, "teal").status().as_u16(), 207);

    cluster.halt();
    // The credential is cached: the request reaches the properties, which the store keeps.
    let res = proppatch(&server, &password, "red");
    assert_eq!(res.status().as_u16(), 503, "{:?}", res.text());
    let wait = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    assert!(wait.is_some_and(|w| w.parse::<u32>().is_ok_and(|s| s >= 1)), "no Retry-After");

    cluster.resume();
    let started = Instant::now();
    loop {
        let res = proppatch(&server, &password, "red");
        if res.status().as_u16() == 207 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "still {}", res.status());
        std::thread::sleep(Duration::from_millis(200));
    }
    let res = server.as_user("alice", &password, "PROPFIND", "/dav/notes.txt").header("Depth", "0");
    assert!(res.send().unwrap().text().unwrap().contains("red</"));
}
