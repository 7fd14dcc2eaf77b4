//! The redb side's own cases (the behaviour on both stores is tested through the web's
//! [`crate::web::session::Sessions`]).

use super::*;
use crate::store::tables::{META, WEB_SESSIONS, WEB_SESSIONS_BY_USE, WEB_SESSIONS_BY_USER};

fn record(now: DateTime<Utc>) -> SessionRecord {
    SessionRecord {
        user: UserName::parse("alice").unwrap(),
        credential: [1; 32],
        csrf: "c".repeat(64),
        signed_in: true,
        code_attempts: 0,
        enrolment: None,
        created_at: now,
        last_seen: now,
    }
}

const RULES: SessionRules = SessionRules {
    idle: Duration::from_secs(3600),
    second_factor_window: Duration::from_secs(300),
    lifetime: Duration::from_secs(12 * 3600),
    max_sessions: 10,
    max_per_user: 3,
    max_code_attempts: 5,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_2_store_gets_the_session_tables_at_open_and_sessions_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(Store::FILE_NAME);
    let now = Utc::now();
    let store = Store::open_file(&path).unwrap();
    store
        .write(Change::Harmless, |txn| {
            txn.open_table(META)?.insert("schema_version", 2)?;
            txn.delete_table(WEB_SESSIONS).map_err(redb::Error::from)?;
            txn.delete_table(WEB_SESSIONS_BY_USE).map_err(redb::Error::from)?;
            txn.delete_table(WEB_SESSIONS_BY_USER).map_err(redb::Error::from)?;
            Ok(())
        })
        .await
        .unwrap();
    drop(store);
    let store = Store::open_file(&path).unwrap();
    store.open_session([9; 32], record(now), RULES, now).await.unwrap();
    drop(store);
    let store = Store::open_file(&path).unwrap();
    let version =
        store.read(|txn| Ok(txn.open_table(META)?.get("schema_version")?.map(|v| v.value())));
    assert_eq!(version.await.unwrap(), Some(crate::store::tables::SCHEMA_VERSION));
    let found = store.session([9; 32], RULES, now).await.unwrap();
    assert_eq!(found, Some(record(now)), "the session outlived the reopen");
}
