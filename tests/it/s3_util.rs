//! A real S3 server for the tests: moto's `moto_server` (PyPI `moto[server]==5.2.5`, installed
//! by `.ci/run` into `target/moto-venv`) on 127.0.0.1 on a free port, killed by its PID when
//! dropped. moto rather than `s3s-fs`: it installs in seconds (s3s-fs compiles for minutes on
//! two cores) and implements ListMultipartUploads, which the tests use to check that no upload
//! is left open.
//!
//! Requests are counted at the server: moto's (werkzeug's) access log, one line per request,
//! goes to a file the tests read.

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bucket the tests use.
pub const BUCKET: &str = "davgate";

/// The keys davgate signs with (moto accepts any).
pub const KEYS: [(&str, &str); 2] =
    [("AWS_ACCESS_KEY_ID", "test-key"), ("AWS_SECRET_ACCESS_KEY", "test-secret")];

/// A running moto server with the bucket [`BUCKET`] created.
pub struct Moto {
    child: Child,
    pub port: u16,
    log: tempfile::NamedTempFile,
}

/// Where `.ci/run` installs moto (`DAVGATE_TEST_MOTO` overrides it).
fn moto_server() -> PathBuf {
    match std::env::var_os("DAVGATE_TEST_MOTO") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/moto-venv/bin/moto_server"),
    }
}

/// Whether the S3 tests can run: panics when moto is missing, unless `DAVGATE_SKIP_S3` is set.
pub fn available() -> bool {
    if moto_server().exists() {
        return true;
    }
    if std::env::var_os("DAVGATE_SKIP_S3").is_some() {
        eprintln!("S3 test skipped (DAVGATE_SKIP_S3 is set)");
        return false;
    }
    panic!(
        "moto is not installed: run .ci/run, or python3 -m venv target/moto-venv && \
         target/moto-venv/bin/pip install 'moto[server]==5.2.5' (or set DAVGATE_SKIP_S3=1)"
    );
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

impl Moto {
    /// Starts moto and creates the bucket; panics if it is not up within 30 s.
    pub fn start() -> Self {
        let port = free_port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("PYTHONUNBUFFERED", "1")
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("start moto_server");
        let moto = Self { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start within 30 s:\n{}", moto.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        let created = reqwest::blocking::Client::new().put(moto.url(&format!("/{BUCKET}"))).send();
        assert!(created.unwrap().status().is_success(), "bucket not created");
        // The tests read blobs back unsigned (what is stored, byte for byte): a policy lets
        // anyone read objects; only davgate writes them.
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{BUCKET}/*"}}]}}"#
        );
        let readable = reqwest::blocking::Client::new()
            .put(moto.url(&format!("/{BUCKET}?policy")))
            .body(policy)
            .send();
        assert!(readable.unwrap().status().is_success(), "bucket policy not set");
        moto
    }

    /// `path` on the server.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The `--files` location of the bucket, below `prefix`.
    pub fn files(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{prefix}?endpoint=http://127.0.0.1:{}&region=us-east-1", self.port)
    }

    /// What moto logged.
    pub fn log(&self) -> String {
        let mut text = String::new();
        let _ = self.log.reopen().and_then(|mut f| f.read_to_string(&mut text));
        text
    }

    /// Requests on the bucket the server has answered so far (its access log's lines).
    pub fn bucket_requests(&self) -> usize {
        let bucket = format!(" /{BUCKET}");
        self.log().lines().filter(|l| l.contains("HTTP/1.1\"") && l.contains(&bucket)).count()
    }

    /// The bucket requests answered so far, as `METHOD /path?query` in the order of the log.
    pub fn requests(&self) -> Vec<String> {
        let bucket = format!(" /{BUCKET}");
        let lines = self.log();
        let quoted = lines.lines().filter(|l| l.contains("HTTP/1.1\"") && l.contains(&bucket));
        quoted
            .filter_map(|l| l.split('"').nth(1)?.strip_suffix(" HTTP/1.1").map(String::from))
            .collect()
    }

    /// The keys in the bucket (one list request; moto answers unsigned requests).
    pub fn keys(&self) -> Vec<String> {
        let url = self.url(&format!("/{BUCKET}?list-type=2"));
        let xml = reqwest::blocking::get(url).unwrap().text().unwrap();
        xml.split("<Key>")
            .skip(1)
            .filter_map(|k| k.split("</Key>").next())
            .map(String::from)
            .collect()
    }

    /// How many multipart uploads are open in the bucket.
    pub fn open_uploads(&self) -> usize {
        let xml = reqwest::blocking::get(self.url(&format!("/{BUCKET}?uploads")))
            .unwrap()
            .text()
            .unwrap();
        xml.matches("<Upload>").count()
    }

    /// Makes moto check every request's SigV4 signature from now on, against a new IAM user
    /// allowed everything on S3; returns that user's keys, as [`KEYS`] names them. Unsigned
    /// requests (as [`Self::keys`] makes) are refused until [`Self::accept_anything`].
    pub fn enforce_signatures(&self) -> [(&'static str, String); 2] {
        let iam = |form: &[(&str, &str)]| {
            // moto routes an IAM call by the service its Authorization header names; the
            // signature itself is not checked yet.
            let scope = "AWS4-HMAC-SHA256 Credential=setup/20260101/us-east-1/iam/aws4_request, \
                         SignedHeaders=host, Signature=0";
            let res = reqwest::blocking::Client::new()
                .post(self.url("/"))
                .header("Authorization", scope)
                .form(&[form, &[("Version", "2010-05-08")]].concat())
                .send()
                .unwrap();
            assert!(res.status().is_success(), "IAM {form:?}: {}", res.status());
            res.text().unwrap()
        };
        iam(&[("Action", "CreateUser"), ("UserName", "davgate")]);
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        iam(&[
            ("Action", "PutUserPolicy"),
            ("UserName", "davgate"),
            ("PolicyName", "files"),
            ("PolicyDocument", policy),
        ]);
        let created = iam(&[("Action", "CreateAccessKey"), ("UserName", "davgate")]);
        let between = |tag: &str| {
            let after = created.split(&format!("<{tag}>")).nth(1).expect(tag);
            after.split(&format!("</{tag}>")).next().unwrap().to_string()
        };
        let keys = [
            ("AWS_ACCESS_KEY_ID", between("AccessKeyId")),
            ("AWS_SECRET_ACCESS_KEY", between("SecretAccessKey")),
        ];
        self.set_auth("0");
        keys
    }

    /// Makes moto accept any request again, signed or not.
    pub fn accept_anything(&self) {
        self.set_auth("inf");
    }

    /// moto's switch: how many more requests it lets through unchecked.
    fn set_auth(&self, count: &str) {
        let res = reqwest::blocking::Client::new()
            .post(self.url("/moto-api/reset-auth"))
            .body(count.to_string())
            .send()
            .unwrap();
        assert!(res.status().is_success(), "moto reset-auth: {}", res.status());
    }

    /// Waits (up to 10 s) until no multipart upload is open: a cut-off upload is aborted by a
    /// task of its own, after the request ended. Returns how many are still open.
    pub fn uploads_settle(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let open = self.open_uploads();
            if open == 0 || Instant::now() > deadline {
                return open;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (the bucket becomes unreachable).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
