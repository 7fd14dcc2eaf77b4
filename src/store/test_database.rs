//! A fresh PostgreSQL database per test, for the conformance suite (the store's own tests and
//! the integration tests): created on the server named by `DAVGATE_TEST_POSTGRES`, dropped
//! when the guard goes.
//!
//! Without that variable a PostgreSQL test fails loudly, unless `DAVGATE_SKIP_POSTGRES` is set
//! (then it is skipped with a line on stderr), as the repository's other tool-dependent tests
//! do. `.ci/run` starts a throwaway cluster and sets the variable.

use std::sync::atomic::{AtomicU32, Ordering};

use super::Location;

/// The variable naming a PostgreSQL server the tests may create databases on, as a URL
/// (`postgres://davgate@127.0.0.1:55432/postgres`).
pub const URL_VARIABLE: &str = "DAVGATE_TEST_POSTGRES";

/// A database that exists until this guard is dropped.
pub struct TestDatabase {
    admin: tokio_postgres::Config,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates a fresh, empty database; None when PostgreSQL tests are skipped. Panics (this is
    /// test support) when no server is named and skipping was not asked for.
    pub async fn create() -> Option<Self> {
        let Ok(url) = std::env::var(URL_VARIABLE) else {
            if std::env::var_os("DAVGATE_SKIP_POSTGRES").is_some() {
                eprintln!("PostgreSQL test skipped (DAVGATE_SKIP_POSTGRES is set)");
                return None;
            }
            panic!(
                "{URL_VARIABLE} is not set: run .ci/run (it starts a throwaway PostgreSQL), or set \
                 {URL_VARIABLE}=postgres://user@127.0.0.1:PORT/postgres, or DAVGATE_SKIP_POSTGRES=1"
            );
        };
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "davgate_test_{}_{}_{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let admin: tokio_postgres::Config =
            url.parse().unwrap_or_else(|e| panic!("{URL_VARIABLE}: {e}"));
        let (client, connection) = admin
            .connect(tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {URL_VARIABLE}: {e}"));
        let driving = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create a test database: {e}"));
        drop(client);
        let _ = driving.await;
        let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        Some(Self { admin, name, url })
    }

    /// The database's URL, as `--store` takes it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database as a store location.
    pub fn location(&self) -> Location {
        let mut config = self.admin.clone();
        config.dbname(&self.name);
        Location::Postgres(Box::new(super::PgTarget::new(config)))
    }

    /// Ends every session of this test's listeners (`application_name` ending in `listener`), as
    /// a database restart or a network cut would: what a node does when notifications stop.
    pub async fn kill_listeners(&self) -> u64 {
        let (client, connection) = match self.admin.connect(tokio_postgres::NoTls).await {
            Ok(pair) => pair,
            Err(e) => panic!("cannot reach PostgreSQL: {e}"),
        };
        tokio::spawn(connection);
        let rows = client
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = $1 AND application_name LIKE 'davgate % listener'",
                &[&self.name],
            )
            .await
            .unwrap_or_else(|e| panic!("cannot end the listeners: {e}"));
        rows.len() as u64
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop may run inside a runtime: drop the database from a thread with its own.
        let dropping = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok((client, connection)) = admin.connect(tokio_postgres::NoTls).await {
                    tokio::spawn(connection);
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    if let Err(e) = client.batch_execute(&sql).await {
                        eprintln!("cannot drop the test database {name}: {e}");
                    }
                }
            });
        });
        let _ = dropping.join();
    }
}
