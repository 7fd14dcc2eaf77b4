//! The admin commands as a person at a terminal meets them: every answer is either printed or
//! refused with one line and a non-zero exit, never silence, and the sentences read right.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;

use crate::util::*;

/// A stand-in for a server on `dir`'s admin socket: answers the next connection's request with
/// `answer` (a JSON line, or nothing at all), then stops.
fn stand_in_server(
    dir: &std::path::Path,
    answer: Option<&'static str>,
) -> std::thread::JoinHandle<()> {
    let listener = UnixListener::bind(dir.join("admin.sock")).unwrap();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut request = String::new();
        BufReader::new(&stream).read_line(&mut request).unwrap();
        if let Some(answer) = answer {
            (&stream).write_all(format!("{answer}\n").as_bytes()).unwrap();
        }
    })
}

#[test]
fn reset_2fa_confirms_in_one_sentence_without_stray_spaces() {
    let dir = tempfile::tempdir().unwrap();
    ok(&cli(dir.path(), &["user", "add", "alice"]));
    let out = ok(&cli(dir.path(), &["user", "reset-2fa", "alice"]));
    assert_eq!(
        out,
        "Removed the second factor of 'alice': the web login asks for the password alone until \
         they enrol again.\n"
    );
}

#[test]
fn a_server_answering_another_operations_reply_is_refused_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = stand_in_server(dir.path(), Some(r#"{"ok":{"reply":"revoked","count":1}}"#));
    let line = refused(&cli(dir.path(), &["user", "list", "--json"]));
    assert!(line.contains("answered 'user list' with a 'revoked' reply"), "{line}");
    server.join().unwrap();
}

#[test]
fn a_server_that_hangs_up_or_answers_garbage_is_refused_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = stand_in_server(dir.path(), None);
    let line = refused(&cli(dir.path(), &["settings", "get"]));
    assert!(line.contains("closed the connection without an answer"), "{line}");
    server.join().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let server = stand_in_server(dir.path(), Some("{\"ok\": 42}"));
    let line = refused(&cli(dir.path(), &["app-password", "list"]));
    assert!(line.contains("the server's answer is unreadable"), "{line}");
    server.join().unwrap();
}

#[test]
fn a_refusal_from_the_server_reads_as_the_same_line_as_without_a_server() {
    let alone = tempfile::tempdir().unwrap();
    let without = refused(&cli(alone.path(), &["user", "disable", "ghost"]));
    let server = TestServer::start();
    let through = refused(&server.cli(&["user", "disable", "ghost"]));
    assert_eq!(without, through);
    assert_eq!(without.trim_end(), "davgate: no user named 'ghost'");
}

#[test]
fn every_json_answer_parses() {
    let server = TestServer::start();
    server.add_user("alice");
    server.app_password("alice", "laptop");
    let json = |args: &[&str]| -> serde_json::Value {
        let out = ok(&server.cli(args));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    };
    assert!(json(&["user", "list", "--json"]).is_array());
    assert_eq!(json(&["app-password", "list", "--json"])[0]["name"], "laptop");
    assert_eq!(json(&["app-password", "list", "--all", "--json"])[0]["status"], "active");
    assert_eq!(json(&["settings", "get", "--json"])["login_throttle"], "true");
    assert_eq!(json(&["settings", "get", "lock_timeout", "--json"])["lock_timeout"], "10m");
    assert!(json(&["status", "--json"])["argon2_verifications"].is_number());
}
