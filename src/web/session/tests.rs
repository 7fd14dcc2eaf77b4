//! The sessions' behaviour, on both stores (each test runs on redb and on PostgreSQL).

use super::*;
use crate::store::testing::{TestStore, conformance};
use chrono::TimeDelta;

/// The instant every test starts at; later times are offsets from it.
fn t0() -> DateTime<Utc> {
    static T0: std::sync::LazyLock<DateTime<Utc>> =
        std::sync::LazyLock::new(|| crate::clock::ManualClock::new().clock().now());
    *T0
}

fn after(by: Duration) -> DateTime<Utc> {
    t0() + TimeDelta::from_std(by).unwrap()
}

/// Small caps, so the cap tests fill the table in a few hundred openings, not 10,000.
const SMALL: SessionRules = SessionRules { max_sessions: 60, max_per_user: 4, ..RULES };

fn user(name: &str) -> User {
    User {
        name: UserName::parse(name).unwrap(),
        role: crate::store::Role::User,
        password_hash: format!("$argon2id$hash-of-{name}"),
        created_at: chrono::Utc::now(),
        disabled: false,
        quota_bytes: None,
        totp: None,
        login: Default::default(),
        external: None,
        email: None,
        mail: Default::default(),
    }
}

fn alice() -> User {
    user("alice")
}

async fn found(sessions: &Sessions, token: &str, at: DateTime<Utc>) -> bool {
    sessions.get(token, at).await.unwrap().is_some()
}

async fn count(t: &TestStore) -> u64 {
    t.store.session_count().await.unwrap()
}

async fn a_session_is_found_by_its_token_only(t: TestStore) {
    let sessions = Sessions::new(t.store.clone());
    let (token, session) = sessions.open(&alice(), Stage::SignedIn, t0()).await.unwrap();
    assert_eq!(token.len(), 64);
    assert_ne!(token, session.csrf);
    let again = sessions.get(&token, t0()).await.unwrap().unwrap();
    assert_eq!(
        (again.user, again.csrf, again.stage),
        (alice().name, session.csrf, Stage::SignedIn)
    );
    assert!(!found(&sessions, "0".repeat(64).as_str(), t0()).await);
    sessions.close(&token).await.unwrap();
    assert!(!found(&sessions, &token, t0()).await);
}
conformance!(a_session_is_found_by_its_token_only);

async fn the_stamp_changes_with_the_password(t: TestStore) {
    let mut alice = alice();
    let sessions = Sessions::new(t.store.clone());
    let (token, _) = sessions.open(&alice, Stage::SignedIn, t0()).await.unwrap();
    let session = sessions.get(&token, t0()).await.unwrap().unwrap();
    assert!(session.credential.matches(&alice));
    alice.password_hash.push('x');
    assert!(!session.credential.matches(&alice));
    assert_eq!(format!("{:?}", session.credential), "CredentialStamp(..)");
}
conformance!(the_stamp_changes_with_the_password);

async fn closing_a_users_sessions_leaves_others(t: TestStore) {
    let sessions = Sessions::new(t.store.clone());
    let (a, _) = sessions.open(&alice(), Stage::SignedIn, t0()).await.unwrap();
    let (a2, _) = sessions.open(&alice(), Stage::SignedIn, t0()).await.unwrap();
    let (b, _) = sessions.open(&user("bob"), Stage::SignedIn, t0()).await.unwrap();
    sessions.close_all_of(&alice().name).await.unwrap();
    assert!(!found(&sessions, &a, t0()).await && !found(&sessions, &a2, t0()).await);
    assert!(found(&sessions, &b, t0()).await);
}
conformance!(closing_a_users_sessions_leaves_others);

async fn one_account_signing_in_again_and_again_drops_only_its_own_stalest(t: TestStore) {
    let sessions = Sessions::with_rules(t.store.clone(), SMALL);
    let (bob, _) = sessions.open(&user("bob"), Stage::SignedIn, t0()).await.unwrap();
    let (first, _) = sessions.open(&alice(), Stage::SignedIn, t0()).await.unwrap();
    let (second, _) = sessions.open(&alice(), Stage::SignedIn, t0()).await.unwrap();
    for _ in 0..SMALL.max_per_user * 3 {
        assert!(found(&sessions, &second, t0()).await, "in use: never the stalest");
        sessions.open(&alice(), Stage::SignedIn, t0()).await.unwrap();
    }
    assert_eq!(count(&t).await, SMALL.max_per_user as u64 + 1);
    assert!(!found(&sessions, &first, t0()).await, "alice's stalest went");
    assert!(found(&sessions, &second, t0()).await);
    assert!(found(&sessions, &bob, t0()).await, "bob was never touched");
}
conformance!(one_account_signing_in_again_and_again_drops_only_its_own_stalest);

async fn a_full_table_takes_from_the_busiest_account(t: TestStore) {
    let sessions = Sessions::with_rules(t.store.clone(), SMALL);
    let (lone, _) = sessions.open(&user("lone"), Stage::SignedIn, t0()).await.unwrap();
    let flooders: Vec<User> = (0..SMALL.max_sessions / SMALL.max_per_user + 3)
        .map(|i| user(&format!("flood{i}")))
        .collect();
    for u in &flooders {
        for _ in 0..SMALL.max_per_user {
            sessions.open(u, Stage::SignedIn, t0()).await.unwrap();
        }
    }
    assert_eq!(count(&t).await, SMALL.max_sessions as u64, "the store never holds more");
    assert!(found(&sessions, &lone, t0()).await, "one session is never the busiest");
}
conformance!(a_full_table_takes_from_the_busiest_account);

async fn code_attempts_are_claimed_before_they_are_checked(t: TestStore) {
    let sessions = Sessions::new(t.store.clone());
    let half = Stage::SecondFactor { attempts: 0 };
    let (token, _) = sessions.open(&alice(), half, t0()).await.unwrap();
    for n in 1..=MAX_CODE_ATTEMPTS {
        assert_eq!(sessions.claim_code_attempt(&token, t0()).await.unwrap(), CodeClaim::Granted(n));
    }
    assert_eq!(sessions.claim_code_attempt(&token, t0()).await.unwrap(), CodeClaim::Spent);
    assert_eq!(sessions.claim_code_attempt(&token, t0()).await.unwrap(), CodeClaim::Gone);
    let (full, _) = sessions.open(&alice(), Stage::SignedIn, t0()).await.unwrap();
    assert_eq!(sessions.claim_code_attempt(&full, t0()).await.unwrap(), CodeClaim::SignedIn);
}
conformance!(code_attempts_are_claimed_before_they_are_checked);

/// Twenty claims racing on one half-open session, from two handles on the store (two nodes on
/// PostgreSQL; one process on redb, which has one opener): five are granted in all.
async fn racing_code_claims_grant_the_attempts_once_across_nodes(t: TestStore) {
    let one = Sessions::new(t.store.clone());
    let two = if t.is_shared() { Sessions::new(t.second_node().await) } else { one.clone() };
    let (token, _) = one.open(&alice(), Stage::SecondFactor { attempts: 0 }, t0()).await.unwrap();
    let claims = (0..20).map(|i| {
        let (sessions, token) = (if i % 2 == 0 { one.clone() } else { two.clone() }, token.clone());
        tokio::spawn(async move { sessions.claim_code_attempt(&token, t0()).await.unwrap() })
    });
    let mut granted = Vec::new();
    for claim in claims.collect::<Vec<_>>() {
        if let CodeClaim::Granted(n) = claim.await.unwrap() {
            granted.push(n);
        }
    }
    granted.sort();
    assert_eq!(granted, (1..=MAX_CODE_ATTEMPTS).collect::<Vec<_>>());
    assert_eq!(two.claim_code_attempt(&token, t0()).await.unwrap(), CodeClaim::Gone);
}
conformance!(racing_code_claims_grant_the_attempts_once_across_nodes);

/// A session opened through one handle is there through another, and a sign-out through the
/// second is refused through the first at once (PostgreSQL: two nodes).
async fn a_sign_out_on_one_node_is_refused_on_the_other_at_once(t: TestStore) {
    if !t.is_shared() {
        return;
    }
    let one = Sessions::new(t.store.clone());
    let two = Sessions::new(t.second_node().await);
    let (token, _) = one.open(&alice(), Stage::SignedIn, t0()).await.unwrap();
    assert!(found(&two, &token, t0()).await);
    two.close(&token).await.unwrap();
    assert!(!found(&one, &token, t0()).await);
}
conformance!(a_sign_out_on_one_node_is_refused_on_the_other_at_once);

async fn a_session_unused_for_the_idle_time_is_over_and_one_in_use_lasts_its_lifetime(
    t: TestStore,
) {
    let (sessions, hour) = (Sessions::new(t.store.clone()), Duration::from_secs(3600));
    let (idle, _) = sessions.open(&alice(), Stage::SignedIn, t0()).await.unwrap();
    let (busy, _) = sessions.open(&alice(), Stage::SignedIn, t0()).await.unwrap();
    let just_before = IDLE - Duration::from_secs(1);
    assert!(found(&sessions, &busy, after(just_before)).await);
    assert!(!found(&sessions, &idle, after(IDLE)).await, "unused for an hour");
    let mut now = just_before;
    while now + hour / 2 < LIFETIME {
        now += hour / 2;
        assert!(found(&sessions, &busy, after(now)).await, "in use every half hour");
    }
    assert!(!found(&sessions, &busy, after(LIFETIME)).await, "12 hours in all");
    assert_eq!(count(&t).await, 0, "what is over is dropped");
}
conformance!(a_session_unused_for_the_idle_time_is_over_and_one_in_use_lasts_its_lifetime);

async fn a_half_open_session_lasts_the_second_factor_window(t: TestStore) {
    let sessions = Sessions::new(t.store.clone());
    let half = Stage::SecondFactor { attempts: 0 };
    let (token, _) = sessions.open(&alice(), half, t0()).await.unwrap();
    let (late, _) = sessions.open(&alice(), half, t0()).await.unwrap();
    let just_before = after(SECOND_FACTOR_WINDOW - Duration::from_secs(1));
    let claim = sessions.claim_code_attempt(&token, just_before).await.unwrap();
    assert_eq!(claim, CodeClaim::Granted(1));
    let claim = sessions.claim_code_attempt(&late, after(SECOND_FACTOR_WINDOW)).await.unwrap();
    assert_eq!(claim, CodeClaim::Gone);
}
conformance!(a_half_open_session_lasts_the_second_factor_window);

async fn a_full_table_drops_sessions_that_are_over_before_anyone_elses(t: TestStore) {
    let sessions = Sessions::with_rules(t.store.clone(), SMALL);
    for i in 0..SMALL.max_sessions {
        sessions.open(&user(&format!("gone{i}")), Stage::SignedIn, t0()).await.unwrap();
    }
    let later = after(IDLE);
    let (two, _) = sessions.open(&alice(), Stage::SignedIn, later).await.unwrap();
    let (one, _) = sessions.open(&alice(), Stage::SignedIn, later).await.unwrap();
    assert_eq!(count(&t).await, 2, "every session over was dropped");
    assert!(found(&sessions, &two, later).await && found(&sessions, &one, later).await);
}
conformance!(a_full_table_drops_sessions_that_are_over_before_anyone_elses);

/// Below the cap too, each opening sweeps a few sessions that are over: a store left alone does
/// not keep every session it ever held.
async fn openings_sweep_sessions_that_are_over(t: TestStore) {
    let sessions = Sessions::new(t.store.clone());
    for i in 0..10 {
        sessions.open(&user(&format!("old{i}")), Stage::SignedIn, t0()).await.unwrap();
    }
    sessions.open(&alice(), Stage::SignedIn, after(LIFETIME)).await.unwrap();
    assert_eq!(count(&t).await, 1);
}
conformance!(openings_sweep_sessions_that_are_over);

async fn neither_the_csrf_token_nor_the_cookie_token_nor_an_enrolment_key_is_in_debug(
    t: TestStore,
) {
    let sessions = Sessions::new(t.store.clone());
    let (token, _) = sessions.open(&alice(), Stage::SignedIn, t0()).await.unwrap();
    let key = b"enrolment-key-bytes".to_vec();
    let session = sessions.set_enrolment(&token, Some(key.clone())).await.unwrap().unwrap();
    assert_eq!(session.enrolment.as_deref(), Some(key.as_slice()));
    let stored = t.store.session(digest(&token), RULES, t0()).await.unwrap().unwrap();
    let shown = format!("{session:?} {session:#?} {stored:?}");
    assert!(!shown.contains(&session.csrf), "{shown}");
    assert!(!shown.contains(&token), "{shown}");
    assert!(!shown.contains(&format!("{key:?}")), "{shown}");
    assert!(shown.contains("alice") && shown.contains("SignedIn"), "{shown}");
    let cleared = sessions.set_enrolment(&token, None).await.unwrap().unwrap();
    assert!(cleared.enrolment.is_none());
}
conformance!(neither_the_csrf_token_nor_the_cookie_token_nor_an_enrolment_key_is_in_debug);
