//! TLS to PostgreSQL: the URL's `sslmode` and `sslrootcert` are honoured against a real
//! cluster with `ssl=on` and a certificate authority this test makes (openssl), and refusals
//! are one clear line.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::PgCluster as Cluster;
use crate::util::{TestServer, cli, ok, refused};

/// Runs openssl with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A self-signed CA named `name` in `dir`: (certificate, key).
fn authority(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (format!("{name}.crt"), format!("{name}.key"));
    let subject = format!("/CN={name}");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            &subject,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &key,
            "-out",
            &cert,
        ],
    );
    (dir.join(cert), dir.join(key))
}

/// A server certificate for `localhost` only (no IP address in it), signed by `ca`.
fn server_certificate(dir: &Path, ca: &(PathBuf, PathBuf)) -> (PathBuf, PathBuf) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    let (ca_cert, ca_key) = (ca.0.to_str().unwrap(), ca.1.to_str().unwrap());
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            ca_cert,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    );
    (dir.join("server.crt"), dir.join("server.key"))
}

/// `url` with `query` appended (`url` has none).
fn with(url: &str, query: &str) -> String {
    format!("{url}?{query}")
}

/// `user list` through the CLI on the store `url` (the CLI opens the database itself).
fn list_users(url: &str) -> std::process::Output {
    let data = tempfile::tempdir().unwrap();
    cli(data.path(), &["--store", url, "user", "list"])
}

/// Asserts a one-line refusal that contains every word of `words`.
fn assert_refused(url: &str, words: &[&str]) {
    let said = refused(&list_users(url));
    let said = said.trim();
    assert!(!said.contains('\n'), "one line: {said:?}");
    for word in words {
        assert!(said.contains(word), "{word:?} not in {said:?}");
    }
}

#[test]
fn postgres_over_tls_is_verified_as_sslmode_says_and_refusals_are_one_line() {
    let certs = tempfile::tempdir().unwrap();
    let ca = authority(certs.path(), "davgate-test-ca");
    let wrong = authority(certs.path(), "another-ca");
    let (cert, key) = server_certificate(certs.path(), &ca);
    let Some(cluster) = Cluster::start_tls(&cert, &key) else { return };
    let by_name = cluster.url.replace("127.0.0.1", "localhost");
    let root = |ca: &Path| format!("sslrootcert={}", ca.display());

    // verify-full with the right CA and the name on the certificate: connected, over TLS.
    let full = with(&by_name, &format!("sslmode=verify-full&{}", root(&ca.0)));
    ok(&list_users(&full));
    let server = TestServer::start_with(
        tempfile::tempdir().unwrap(),
        &["--store", &full, "--node-id", "tls1"],
    );
    let encrypted = crate::revoke_nodes::sql(
        &cluster.url,
        "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name LIKE 'davgate tls1%'",
    );
    assert_eq!(encrypted, ["t"], "every connection of the node is encrypted");
    drop(server);

    // verify-ca checks the chain only: the address is not on the certificate, and it connects;
    // verify-full to that address is refused for the name.
    ok(&list_users(&with(&cluster.url, &format!("sslmode=verify-ca&{}", root(&ca.0)))));
    let full_by_address = with(&cluster.url, &format!("sslmode=verify-full&{}", root(&ca.0)));
    assert_refused(&full_by_address, &["PostgreSQL", "TLS", "not valid for name"]);
    // A CA that did not sign the server's certificate is refused.
    let wrong_ca = with(&by_name, &format!("sslmode=verify-full&{}", root(&wrong.0)));
    assert_refused(&wrong_ca, &["PostgreSQL", "TLS", "UnknownIssuer"]);
    // require encrypts without verifying (libpq's meaning).
    ok(&list_users(&with(&cluster.url, "sslmode=require")));
}

#[test]
fn a_plain_postgres_with_sslmode_require_is_refused_in_one_line() {
    let Some(db) = crate::revoke_nodes::database() else { return };
    assert_refused(&with(db.url(), "sslmode=require"), &["PostgreSQL", "TLS"]);
    ok(&list_users(&with(db.url(), "sslmode=prefer")));
    let missing = with(db.url(), "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem");
    assert_refused(&missing, &["sslrootcert /nonexistent/ca.pem"]);
}
