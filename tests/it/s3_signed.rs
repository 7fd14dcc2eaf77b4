//! Files on S3 with a server that checks every signature: moto with its IAM checks on
//! ([`Moto::enforce_signatures`]), which refuses any request whose SigV4 signature does not
//! match the secret of a known key. The other S3 tests run with moto accepting anything, so a
//! signing mistake in davgate's own multipart requests (create, parts, complete, abort) would
//! pass them and fail on AWS, MinIO or Ceph.

use crate::s3::{S3Node, pattern};
use crate::s3_util::Moto;
use crate::util::*;
use std::io::Write;

#[test]
fn every_request_to_a_bucket_that_checks_signatures_is_signed_right() {
    if !crate::s3_util::available() {
        return;
    }
    let moto = Moto::start();
    let keys = moto.enforce_signatures();
    let keys: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let Some(node) = S3Node::start_on(moto, &keys, &[]) else { return };
    // Checks are on: a request with the right key id and a wrong signature is refused.
    let forged = format!(
        "AWS4-HMAC-SHA256 Credential={}/20260101/us-east-1/s3/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature={}",
        keys[0].1,
        "0".repeat(64)
    );
    let forged = reqwest::blocking::Client::new()
        .get(node.moto.url("/davgate?list-type=2"))
        .header("Authorization", forged)
        .header("X-Amz-Date", "20260101T000000Z")
        .send()
        .unwrap();
    assert_eq!(forged.status(), 403, "moto checks signatures");

    // A multipart upload (create, 3 parts of 8 MiB at most, complete), a small one (one
    // PutObject), reads whole and by range, a server-side copy, a delete.
    let big = pattern(20 << 20, 7);
    assert_eq!(node.put("/dav/big.bin", big.clone()), 201);
    assert_eq!(node.put("/dav/small.txt", "small"), 201);
    assert!(node.get("/dav/big.bin") == big, "the multipart blob reads back whole");
    let ranged = node.req("GET", "/dav/big.bin").header("Range", "bytes=9000000-9000009").send();
    assert_eq!(ranged.unwrap().bytes().unwrap().as_ref(), &big[9_000_000..9_000_010]);
    let copy = node
        .req("COPY", "/dav/small.txt")
        .header("Destination", format!("{}/dav/copy.txt", node.server.base))
        .send();
    assert_eq!(status(copy), 201);
    assert_eq!(node.get("/dav/copy.txt"), b"small");
    assert_eq!(status(node.req("DELETE", "/dav/copy.txt").send()), 204);

    // An upload cut off after its first part: the writer aborts its multipart upload.
    let mut stream = raw_put(&node.server, &node.pw, "/dav/cut.bin", 12 << 20, "cut");
    stream.write_all(&pattern(9 << 20, 1)).unwrap();
    drop(stream);
    let collected = ok(&node.server.cli(&["files", "gc", "--json"]));
    assert!(collected.contains("\"ran\""), "{collected}");

    // Whatever moto refused is in its log as a 403 (a refused part would also have failed
    // the PUT above); look with checks off again.
    node.moto.accept_anything();
    assert_eq!(node.moto.uploads_settle(), 0, "the cut-off upload was aborted");
    let log = node.moto.log();
    let refused: Vec<&str> = log.lines().filter(|l| l.contains("\" 403 ")).collect();
    assert_eq!(refused.len(), 1, "only the forged probe was refused: {refused:?}");
    assert_eq!(node.get("/dav/small.txt"), b"small");
}
