//! What only a shared store must keep: its invariants with two nodes (two handles, two
//! connection pools, as two processes would have) racing, and its change feed moving on a
//! change made by the other node.

use chrono::{Duration as Days, Utc};
use std::time::Duration;

use crate::store::testing::TestStore;
use crate::store::{
    AppPasswordId, Error, NewAppPassword, PropLimits, Role, Store, TotpFactor, UserName,
};

/// A PostgreSQL store and a second node on it; None when PostgreSQL tests are skipped.
async fn two_nodes() -> Option<(TestStore, Store, Store)> {
    let t = TestStore::postgres(PropLimits::default()).await?;
    let second = t.second_node().await;
    let first = t.store.clone();
    Some((t, first, second))
}

fn name(s: &str) -> UserName {
    UserName::parse(s).unwrap()
}

fn new_password(id: &str, owner: &str, label: &str) -> NewAppPassword {
    NewAppPassword {
        id: AppPasswordId::parse(id).unwrap(),
        owner: name(owner),
        name: label.into(),
        secret_hash: "hash".into(),
        expires_at: Some(chrono::Utc::now() + chrono::TimeDelta::days(90)),
        scope: crate::store::Scope::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_totp_code_is_accepted_once_when_two_nodes_race_with_it() {
    let Some((_t, one, two)) = two_nodes().await else { return };
    let alice = name("alice");
    one.create_user(&alice, Role::User, "h".into(), Utc::now()).await.unwrap();
    let factor = TotpFactor { secret: vec![1; 20], enrolled_at: Utc::now(), last_step: 0 };
    one.set_user_totp(&alice, Some(factor)).await.unwrap();
    for step in 1..=20u64 {
        let tries = [&one, &two, &one, &two].map(|s| {
            let (s, alice) = (s.clone(), alice.clone());
            tokio::spawn(async move { s.accept_totp_step(&alice, step).await.unwrap() })
        });
        let mut accepted = 0;
        for t in tries {
            accepted += u32::from(t.await.unwrap());
        }
        assert_eq!(accepted, 1, "step {step} accepted {accepted} times");
    }
    assert!(!two.accept_totp_step(&alice, 5).await.unwrap(), "an older step is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_disabling_the_last_two_admins_at_once_leave_one_enabled() {
    let Some((_t, one, two)) = two_nodes().await else { return };
    let (a, b) = (name("a"), name("b"));
    for n in [&a, &b] {
        one.create_user(n, Role::Admin, "h".into(), Utc::now()).await.unwrap();
    }
    for round in 0..10 {
        let (first, second) = (one.clone(), two.clone());
        let (a2, b2) = (a.clone(), b.clone());
        let x = tokio::spawn(async move { first.set_user_disabled(&a2, true).await });
        let y = tokio::spawn(async move {
            if round % 2 == 0 {
                second.set_user_disabled(&b2, true).await.map(|_| 0)
            } else {
                second.remove_user(&b2).await
            }
        });
        let (x, y) = (x.await.unwrap(), y.await.unwrap());
        let refused = [x.is_err(), y.is_err()];
        assert_eq!(refused.iter().filter(|r| **r).count(), 1, "round {round}: {x:?} {y:?}");
        assert!(matches!(x.err().or(y.err()), Some(Error::LastAdmin(_))));
        let enabled = one.users().await.unwrap();
        let admins = enabled.iter().filter(|u| u.role == Role::Admin && !u.disabled).count();
        assert_eq!(admins, 1, "round {round}");
        // Back to two enabled admins for the next round.
        if one.user(&b).await.unwrap().is_none() {
            one.create_user(&b, Role::Admin, "h".into(), Utc::now()).await.unwrap();
        }
        one.set_user_disabled(&a, false).await.unwrap();
        one.set_user_disabled(&b, false).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_creating_the_same_app_password_name_at_once_create_one() {
    let Some((_t, one, two)) = two_nodes().await else { return };
    one.create_user(&name("alice"), Role::User, "h".into(), Utc::now()).await.unwrap();
    for round in 0..10u32 {
        let label = format!("laptop {round}");
        let ids = [format!("{round:0>9}a"), format!("{round:0>9}b")];
        let [x, y] = [(&one, &ids[0]), (&two, &ids[1])].map(|(s, id)| {
            let (s, new) = (s.clone(), new_password(id, "alice", &label));
            tokio::spawn(async move { s.create_app_password(new, Utc::now()).await })
        });
        let (x, y) = (x.await.unwrap(), y.await.unwrap());
        assert_eq!(u32::from(x.is_ok()) + u32::from(y.is_ok()), 1, "{x:?} {y:?}");
        assert!(matches!(x.err().or(y.err()), Some(Error::DuplicateName { .. })));
    }
    let alice = name("alice");
    let all = two.app_passwords(Some(&alice)).await.unwrap();
    assert_eq!(all.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_use_is_recorded_once_and_last_used_never_moves_back() {
    let Some((_t, one, two)) = two_nodes().await else { return };
    one.create_user(&name("alice"), Role::User, "h".into(), Utc::now()).await.unwrap();
    let created = one.create_app_password(new_password("000000000a", "alice", "x"), Utc::now());
    let id = created.await.unwrap().id;
    let at = Utc::now();
    let [x, y] = [(&one, "rclone"), (&two, "Windows Explorer")].map(|(s, method)| {
        let (s, id) = (s.clone(), id.clone());
        tokio::spawn(async move { s.record_first_use(&id, method, method, at).await })
    });
    x.await.unwrap().unwrap();
    y.await.unwrap().unwrap();
    let record = two.login_record(&id).await.unwrap().unwrap().password;
    let method = record.access_method.clone().unwrap();
    assert_eq!(record.user_agent.as_deref(), Some(method.as_str()), "one call's pair, not a mix");
    one.record_first_use(&id, "cadaver", "cadaver", at + Days::seconds(5)).await.unwrap();
    let later = one.login_record(&id).await.unwrap().unwrap().password;
    assert_eq!(later.access_method.as_deref(), Some(method.as_str()), "first use is kept");

    let newer = at + Days::minutes(10);
    one.record_last_used(vec![(id.clone(), newer)]).await.unwrap();
    two.record_last_used(vec![(id.clone(), at + Days::minutes(2)), (id.clone(), at)])
        .await
        .unwrap();
    let last = two.login_record(&id).await.unwrap().unwrap().password.last_used_at;
    assert_eq!(last.map(|t| t.timestamp_millis()), Some(newer.timestamp_millis()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_on_one_node_moves_the_other_nodes_feed() {
    let Some((_t, one, two)) = two_nodes().await else { return };
    one.create_user(&name("alice"), Role::User, "h".into(), Utc::now()).await.unwrap();
    let id = one.create_app_password(new_password("000000000a", "alice", "x"), Utc::now());
    let id = id.await.unwrap().id;
    let mut watching = one.changes();
    watching.borrow_and_update();
    let before = one.generation();
    two.revoke_app_password(&name("alice"), &id, Utc::now()).await.unwrap();
    let revoked_at = two.generation();
    tokio::time::timeout(Duration::from_secs(2), watching.changed()).await.unwrap().unwrap();
    assert!(one.generation() > before);
    assert_eq!(one.generation(), revoked_at, "both nodes count the same generation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_notifications_were_cut_still_sees_a_revoke_within_the_poll() {
    let Some((t, one, two)) = two_nodes().await else { return };
    one.create_user(&name("alice"), Role::User, "h".into(), Utc::now()).await.unwrap();
    // Let both listeners connect, then cut them from the database side.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(t.database().kill_listeners().await >= 1);
    let before = one.generation();
    two.set_user_disabled(&name("alice"), true).await.unwrap();
    let started = std::time::Instant::now();
    while one.generation() <= before {
        assert!(started.elapsed() < super::listener::POLL * 4, "the feed stayed behind");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(one.generation(), two.generation());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settings_change_on_one_node_is_in_force_on_the_other() {
    let Some((_t, one, two)) = two_nodes().await else { return };
    let mut watching = one.changes();
    two.set_setting(crate::store::SettingKey::LoginMaxFailures, "3").await.unwrap();
    tokio::time::timeout(Duration::from_secs(2), watching.changed()).await.unwrap().unwrap();
    assert_eq!(one.settings().login_max_failures, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_a_newer_davgate_is_refused_in_one_line() {
    let Some(t) = TestStore::postgres(PropLimits::default()).await else { return };
    let crate::store::Location::Postgres(target) = t.database().location() else { panic!() };
    let (client, connection) = target.config().connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.execute("UPDATE meta SET value = 99 WHERE key = 'schema_version'", &[]).await.unwrap();
    let refused = Store::open(&t.database().location()).await.err().unwrap().to_string();
    assert!(refused.contains("newer davgate") && refused.contains("99"), "{refused}");
    assert!(!refused.contains('\n'));
}

#[tokio::test]
async fn a_database_that_cannot_be_reached_is_unavailable() {
    // Port 1: nothing listens, the connection is refused.
    let config: tokio_postgres::Config = "postgres://davgate@127.0.0.1:1/db".parse().unwrap();
    let Err(e) = config.connect(tokio_postgres::NoTls).await else {
        panic!("something answered on port 1")
    };
    assert!(Error::Postgres(e).is_unavailable());
    assert!(Error::Unavailable("pool timed out".into()).is_unavailable());
    assert!(!Error::UserExists("alice".into()).is_unavailable());
}

#[tokio::test]
async fn a_statement_the_database_refuses_is_not_unavailable() {
    let Some(db) = crate::store::test_database::TestDatabase::create().await else { return };
    let config: tokio_postgres::Config = db.url().parse().unwrap();
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    let driving = tokio::spawn(connection);
    let refused = client.batch_execute("SELECT 1 / 0").await.unwrap_err();
    assert!(!Error::Postgres(refused).is_unavailable());
    drop(client);
    let _ = driving.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clis_connections_say_davgate_cli_and_it_keeps_no_node_row() {
    let Some(t) = TestStore::postgres(PropLimits::default()).await else { return };
    t.store.create_user(&name("alice"), Role::User, "h".into(), Utc::now()).await.unwrap();
    let crate::store::Location::Postgres(target) = t.database().location() else { panic!() };
    let (client, connection) = target.config().connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let listening = "SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND application_name = $1";
    let started = std::time::Instant::now();
    while client.query_one(listening, &[&"davgate cli listener"]).await.unwrap().get::<_, i64>(0)
        == 0
    {
        assert!(started.elapsed() < Duration::from_secs(10), "no listener named davgate cli");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pooled: i64 = client.query_one(listening, &[&"davgate cli"]).await.unwrap().get(0);
    assert!(pooled >= 1, "the pool's connections");
    let rows: i64 = client.query_one("SELECT count(*) FROM nodes", &[]).await.unwrap().get(0);
    assert_eq!(rows, 0, "the CLI is no node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_returns_once_a_live_node_has_applied_it_or_the_bound_has_passed() {
    let Some(t) = TestStore::postgres(PropLimits::default()).await else { return };
    let clock = crate::clock::Clock::system();
    let node = crate::node::NodeId::parse("n2").unwrap();
    let second = Store::open_node(&t.database().location(), &node, clock).await.unwrap();
    let alice = name("alice");
    t.store.create_user(&alice, Role::User, "h".into(), Utc::now()).await.unwrap();
    t.store.set_user_disabled(&alice, true).await.unwrap();
    assert_eq!(second.generation(), t.store.generation(), "applied by the time it returned");
    assert!(second.cache_trusted());

    // A node that stopped polling (its row says it was alive just now, at an old generation):
    // the change waits until that heartbeat is older than the bound, and no longer.
    drop(second);
    let crate::store::Location::Postgres(target) = t.database().location() else { panic!() };
    let (client, connection) = target.config().connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .execute("UPDATE nodes SET heartbeat_at = now(), seen_generation = 0", &[])
        .await
        .unwrap();
    let started = std::time::Instant::now();
    t.store.set_user_disabled(&alice, false).await.unwrap();
    let waited = started.elapsed();
    let bound = super::STALENESS;
    assert!(waited > bound - Duration::from_millis(300) && waited < bound * 2, "{waited:?}");
}
