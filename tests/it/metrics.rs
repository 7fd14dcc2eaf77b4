//! `/metrics`: off by default, behind a bearer token on the main listener or open on a listener
//! of its own; its counters move as requests are made, and its text parses as Prometheus'.

use std::collections::HashMap;

use crate::util::*;

/// A metrics text as series ("name{labels}") to values; panics on a line that is neither a
/// comment (`# HELP`/`# TYPE`) nor `series value`.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut series = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            let (kind, name) = (words.next().unwrap(), words.next().unwrap_or(""));
            assert!(kind == "HELP" || kind == "TYPE", "unknown comment: {line}");
            assert!(is_name(name), "bad metric name in: {line}");
            if kind == "TYPE" {
                let t = words.next().unwrap_or("");
                assert!(["counter", "gauge", "histogram"].contains(&t), "bad type: {line}");
            }
            continue;
        }
        let (key, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let name = key.split('{').next().unwrap();
        assert!(is_name(name), "bad metric name in: {line}");
        if let Some(labels) = key.strip_prefix(name)
            && !labels.is_empty()
        {
            let inner = labels.strip_prefix('{').and_then(|l| l.strip_suffix('}'));
            let inner = inner.unwrap_or_else(|| panic!("bad labels: {line}"));
            for pair in inner.split(',') {
                let (k, v) = pair.split_once('=').unwrap_or_else(|| panic!("bad label: {line}"));
                assert!(is_name(k) && v.starts_with('"') && v.ends_with('"'), "{line}");
            }
        }
        let value = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        assert!(series.insert(key.to_string(), value).is_none(), "repeated series: {line}");
    }
    series
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn get(series: &HashMap<String, f64>, key: &str) -> f64 {
    series.get(key).copied().unwrap_or(0.0)
}

/// A server with a metrics token; (server, token).
fn with_token() -> (TestServer, String) {
    let data = tempfile::tempdir().unwrap();
    let token = "metrics-token-7f3a9c".to_string();
    let file = data.path().join("metrics.token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let server = TestServer::start_with(data, &["--metrics-token-file", file.to_str().unwrap()]);
    (server, token)
}

fn scrape(server: &TestServer, token: &str) -> HashMap<String, f64> {
    let res = server.request("GET", "/metrics").bearer_auth(token).send().unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let kind = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    parse(&res.text().unwrap())
}

#[test]
fn counters_move_by_what_the_requests_did() {
    let (server, token) = with_token();
    server.add_user("alice");
    let pw = server.app_password("alice", "laptop");
    let before = scrape(&server, &token);

    let put = server.as_user("alice", &pw, "PUT", "/dav/a.txt").body(vec![7u8; 4096]).send();
    assert_eq!(status(put), 201);
    let got = server.as_user("alice", &pw, "GET", "/dav/a.txt").send().unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.bytes().unwrap().len(), 4096);
    assert_eq!(server.probe("alice", &with_wrong_secret(&pw)), 401);

    let after = scrape(&server, &token);
    let delta = |key: &str| get(&after, key) - get(&before, key);
    let requests = |method: &str, class: &str| {
        delta(&format!(
            r#"davgate_http_requests_total{{surface="dav",method="{method}",status="{class}"}}"#
        ))
    };
    assert_eq!(requests("PUT", "2xx"), 1.0);
    assert_eq!(requests("GET", "2xx"), 1.0);
    assert_eq!(requests("PROPFIND", "4xx"), 1.0);
    assert_eq!(requests("PUT", "4xx") + requests("GET", "4xx") + requests("PROPFIND", "2xx"), 0.0);
    assert_eq!(delta(r#"davgate_auth_total{outcome="verified"}"#), 1.0, "the PUT");
    assert_eq!(delta(r#"davgate_auth_total{outcome="cached"}"#), 1.0, "the GET");
    assert_eq!(delta(r#"davgate_auth_total{outcome="refused",reason="wrong_secret"}"#), 1.0);
    assert_eq!(delta(r#"davgate_auth_total{outcome="refused",reason="unknown"}"#), 0.0);
    assert_eq!(delta("davgate_argon2_verifications_total"), 2.0, "the PUT and the wrong secret");
    assert_eq!(delta(r#"davgate_http_request_duration_seconds_count{surface="dav"}"#), 3.0);
    let lookups = r#"davgate_store_duration_seconds_count{operation="credential_lookup"}"#;
    assert!(delta(lookups) >= 2.0, "{}", delta(lookups));
    assert!(delta("davgate_received_bytes_total") >= 4096.0);
    assert!(delta("davgate_sent_bytes_total") >= 4096.0);
    assert!(get(&after, "davgate_connections_open") >= 1.0);
    assert_eq!(get(&after, "davgate_uploads_in_flight"), 0.0);
    assert_eq!(get(&after, "davgate_argon2_queue_depth"), 0.0);
    // The first scrape was counted, on its own surface.
    let scrapes = r#"davgate_http_requests_total{surface="monitoring",method="GET",status="2xx"}"#;
    assert!(get(&after, scrapes) >= 1.0);
    // No user name, path or address is ever a label.
    let text = server.request("GET", "/metrics").bearer_auth(&token).send().unwrap();
    let text = text.text().unwrap();
    for leak in ["alice", "a.txt", "127.0.0.1"] {
        assert!(!text.contains(leak), "{leak} in the metrics:\n{text}");
    }
}

#[test]
fn metrics_refuse_a_missing_or_wrong_token_and_never_log_it() {
    let (server, token) = with_token();
    let none = server.request("GET", "/metrics").send().unwrap();
    assert_eq!(none.status().as_u16(), 401);
    assert!(none.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    let wrong = server.request("GET", "/metrics").bearer_auth("metrics-token-7f3a9d").send();
    assert_eq!(status(wrong), 401);
    let basic = server.request("GET", "/metrics").basic_auth("admin", Some(&token)).send();
    assert_eq!(status(basic), 401, "only a bearer token opens the metrics");
    assert_eq!(status(server.request("GET", "/metrics").bearer_auth(&token).send()), 200);
    let log = server.log();
    assert!(!log.contains(&token) && !log.contains("7f3a9d"), "{log}");
}

#[test]
fn metrics_are_not_served_unless_asked_for() {
    let server = TestServer::start();
    assert_eq!(status(server.request("GET", "/metrics").send()), 404);
    let unknown = server.request("GET", "/no-such-page").send();
    assert_eq!(status(unknown), 404, "the same answer as any unknown path");
    assert!(!server.banner.contains("metrics:"), "{}", server.banner);
}

#[test]
fn the_metrics_listener_serves_them_without_a_token_and_nothing_else() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(data, &["--metrics-listen", "127.0.0.1:0"]);
    let url = server
        .banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("metrics: "))
        .expect("the banner names the metrics address")
        .to_string();
    assert_eq!(status(server.request("GET", "/healthz").send()), 200);
    let client = reqwest::blocking::Client::new();
    let res = client.get(&url).send().unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let series = parse(&res.text().unwrap());
    let probes = r#"davgate_http_requests_total{surface="monitoring",method="GET",status="2xx"}"#;
    assert_eq!(get(&series, probes), 1.0, "the /healthz on the main listener");
    let elsewhere = url.replace("/metrics", "/dav/");
    assert_eq!(status(client.get(elsewhere).send()), 404);
    assert_eq!(status(server.request("GET", "/metrics").send()), 404, "not on the main listener");
}
