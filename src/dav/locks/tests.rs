//! The lock system's behaviour, run on both backends: the memory table and the shared store's
//! rows (a fresh PostgreSQL database; skipped as the store's own PostgreSQL tests are). The
//! shared store's own questions (two nodes, one request's snapshot) follow.

use dav_server::davpath::DavPath;
use dav_server::ls::{DavLock, DavLockSystem};
use xmltree::Element;

use super::*;
use crate::clock::ManualClock;
use crate::store::test_database::TestDatabase;

/// A clock that moves only when told, by whole seconds.
struct Seconds(ManualClock);

impl Seconds {
    fn advance(&self, seconds: u64) {
        self.0.advance(Duration::from_secs(seconds));
    }
}

#[derive(Clone, Copy)]
enum Backing {
    Memory,
    Postgres,
}

/// A lock system under test and what keeps its data alive.
struct Fixture {
    clock: Seconds,
    locks: Locks,
    store: Option<Store>,
    db: Option<TestDatabase>,
}

impl Fixture {
    /// Another node's lock system on the same database and clock (PostgreSQL only).
    async fn second_node(&self) -> Locks {
        let db = self.db.as_ref().expect("a shared store");
        let store = Store::open(&db.location()).await.unwrap();
        Locks::new(&store, self.clock.0.clock(), self.locks.limits)
    }

    /// Every row of the locks table, expired or not.
    async fn rows(&self) -> i64 {
        let db = self.db.as_ref().expect("a shared store");
        let (client, connection) = db
            .url()
            .parse::<tokio_postgres::Config>()
            .unwrap()
            .connect(tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client.query_one("SELECT count(*) FROM locks", &[]).await.unwrap().get(0)
    }
}

async fn setup(backing: Backing, limits: LockLimits) -> Option<Fixture> {
    let start = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let clock = ManualClock::starting_at(start);
    match backing {
        Backing::Memory => {
            let locks =
                Locks { backend: Backend::Memory(Arc::default()), clock: clock.clock(), limits };
            Some(Fixture { clock: Seconds(clock), locks, store: None, db: None })
        }
        Backing::Postgres => {
            let db = TestDatabase::create().await?;
            let store = Store::open(&db.location()).await.unwrap();
            let locks = Locks::new(&store, clock.clock(), limits);
            assert!(matches!(locks.backend, Backend::Shared(_)));
            Some(Fixture { clock: Seconds(clock), locks, store: Some(store), db: Some(db) })
        }
    }
}

/// Runs `async fn $test(Backing)` on both backends.
macro_rules! both {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                super::$test(super::Backing::Memory).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$test(super::Backing::Postgres).await;
            }
        }
    )*};
}

both!(
    a_lock_is_absent_once_its_timeout_has_passed,
    a_refresh_extends_the_lock_by_at_most_max_timeout,
    expired_locks_are_purged_even_on_paths_never_touched_again,
    locks_are_capped_per_path_and_per_user,
    an_owner_larger_than_the_limit_is_refused,
    deep_locks_cover_members_and_shallow_ones_do_not,
    shared_locks_stack_and_an_exclusive_one_waits_for_them_all,
    delete_drops_the_locks_of_a_subtree_only,
    the_owner_element_and_lock_root_come_back_as_given,
);

fn alice(locks: &Locks) -> Box<RequestLocks> {
    locks.for_request(&UserName::parse("alice").unwrap(), None, Duration::from_secs(60))
}

fn path(p: &str) -> DavPath {
    DavPath::new(p).unwrap()
}

async fn lock(ls: &RequestLocks, p: &str, shared: bool, deep: bool) -> Result<DavLock, DavLock> {
    ls.lock(&path(p), Some("alice"), None, Some(Duration::from_secs(3600)), shared, deep).await
}

async fn unlocked(ls: &RequestLocks, p: &str) -> bool {
    ls.check(&path(p), Some("alice"), false, false, &[]).await.is_ok()
}

async fn a_lock_is_absent_once_its_timeout_has_passed(backing: Backing) {
    let Some(f) = setup(backing, LockLimits::default()).await else { return };
    let ls = alice(&f.locks);
    let granted = lock(&ls, "/f.txt", false, false).await.unwrap();
    assert_eq!(granted.timeout, Some(Duration::from_secs(60)), "capped at max_timeout");
    assert!(!unlocked(&ls, "/f.txt").await);
    assert!(lock(&ls, "/f.txt", false, false).await.is_err());
    f.clock.advance(59);
    assert!(!unlocked(&ls, "/f.txt").await);
    f.clock.advance(1);
    assert!(unlocked(&ls, "/f.txt").await);
    assert!(alice(&f.locks).discover(&path("/f.txt")).await.is_empty());
    assert!(ls.refresh(&path("/f.txt"), &granted.token, None).await.is_err());
    assert!(ls.unlock(&path("/f.txt"), &granted.token).await.is_err());
    assert!(lock(&ls, "/f.txt", false, false).await.is_ok(), "a new lock after expiry");
    assert_eq!(ls.refusal(), None);
}

async fn a_refresh_extends_the_lock_by_at_most_max_timeout(backing: Backing) {
    let Some(f) = setup(backing, LockLimits::default()).await else { return };
    let ls = alice(&f.locks);
    let granted = lock(&ls, "/f.txt", false, false).await.unwrap();
    f.clock.advance(50);
    let refreshed = ls.refresh(&path("/f.txt"), &granted.token, None).await.unwrap();
    assert_eq!(refreshed.timeout, Some(Duration::from_secs(60)));
    assert_eq!(refreshed.token, granted.token);
    f.clock.advance(50);
    assert!(!unlocked(&ls, "/f.txt").await, "refreshed at 50 s, still held at 100 s");
    f.clock.advance(10);
    assert!(unlocked(&ls, "/f.txt").await);
}

async fn expired_locks_are_purged_even_on_paths_never_touched_again(backing: Backing) {
    let Some(f) = setup(backing, LockLimits::default()).await else { return };
    let ls = alice(&f.locks);
    for i in 0..10 {
        lock(&ls, &format!("/f{i}.txt"), false, false).await.unwrap();
    }
    let bob = f.locks.for_request(&UserName::parse("bob").unwrap(), None, Duration::from_secs(60));
    match &f.locks.backend {
        Backend::Memory(memory) => {
            f.clock.advance(61 + SWEEP_EVERY.as_secs());
            assert!(unlocked(&bob, "/other.txt").await);
            assert!(memory.is_empty());
        }
        Backend::Shared(_) => {
            // Rows stay a while after expiry (a node whose clock runs ahead must not delete
            // what another still honours), then the next LOCK's sweep deletes them.
            f.clock.advance(61 + SWEEP_EVERY.as_secs());
            lock(&bob, "/b1", false, false).await.unwrap();
            assert_eq!(f.rows().await, 11, "expired a minute ago: kept");
            f.clock.advance(shared::SWEEP_AFTER.as_secs());
            lock(&bob, "/b2", false, false).await.unwrap();
            assert_eq!(f.rows().await, 2, "alice's ten are deleted; bob's two are recent");
        }
    }
}

async fn locks_are_capped_per_path_and_per_user(backing: Backing) {
    let limits = LockLimits { per_user: 5, per_path: 3, owner_bytes: 100 };
    let Some(f) = setup(backing, limits).await else { return };
    let ls = alice(&f.locks);
    for _ in 0..3 {
        lock(&ls, "/shared.txt", true, false).await.unwrap();
    }
    let ls = alice(&f.locks);
    assert!(lock(&ls, "/shared.txt", true, false).await.is_err());
    assert_eq!(ls.refusal(), Some(Refusal::TooManyOnPath));
    let ls = alice(&f.locks);
    lock(&ls, "/a.txt", false, false).await.unwrap();
    lock(&ls, "/b.txt", false, false).await.unwrap();
    assert!(lock(&ls, "/c.txt", false, false).await.is_err());
    assert_eq!(ls.refusal(), Some(Refusal::TooManyForUser));
    let bob = f.locks.for_request(&UserName::parse("bob").unwrap(), None, Duration::from_secs(60));
    assert!(lock(&bob, "/c.txt", false, false).await.is_ok(), "the cap is per user");
    f.clock.advance(60);
    let ls = alice(&f.locks);
    assert!(lock(&ls, "/c.txt", false, false).await.is_ok(), "expired locks do not count");
    assert_eq!(ls.refusal(), None);
}

async fn an_owner_larger_than_the_limit_is_refused(backing: Backing) {
    let limits = LockLimits { owner_bytes: 100, ..LockLimits::default() };
    let Some(f) = setup(backing, limits).await else { return };
    let ls = alice(&f.locks);
    let mut owner = Element::new("owner");
    owner.children.push(xmltree::XMLNode::Text("x".repeat(200)));
    assert!(ls.lock(&path("/f.txt"), None, Some(&owner), None, false, false).await.is_err());
    assert_eq!(ls.refusal(), Some(Refusal::OwnerTooLarge));
    assert!(unlocked(&ls, "/f.txt").await);
}

async fn deep_locks_cover_members_and_shallow_ones_do_not(backing: Backing) {
    let Some(f) = setup(backing, LockLimits::default()).await else { return };
    let ls = alice(&f.locks);
    let deep = lock(&ls, "/dir/", false, true).await.unwrap();
    assert!(!unlocked(&ls, "/dir/sub/f.txt").await);
    assert_eq!(alice(&f.locks).discover(&path("/dir/sub/f.txt")).await.len(), 1);
    let token = [deep.token.clone()];
    assert!(ls.check(&path("/dir/f"), Some("alice"), false, false, &token).await.is_ok());
    assert!(
        ls.check(&path("/dir/f"), Some("mallory"), false, false, &token).await.is_err(),
        "a token is another principal's"
    );
    assert!(lock(&ls, "/dir/f", true, false).await.is_err(), "inside an exclusive deep lock");
    ls.unlock(&path("/dir/sub/f.txt"), &deep.token).await.unwrap();
    assert!(unlocked(&ls, "/dir/f").await, "unlocked through a member's path");
    lock(&ls, "/top/", false, false).await.unwrap();
    assert!(unlocked(&ls, "/top/f.txt").await);
    assert!(alice(&f.locks).discover(&path("/top/f.txt")).await.is_empty());
    assert!(lock(&ls, "/top/f.txt", false, false).await.is_ok());
    assert!(lock(&ls, "/", false, true).await.is_err(), "a deep lock over a locked member");
    assert!(
        ls.check(&path("/"), Some("alice"), false, true, &[]).await.is_err(),
        "a deep check sees the members' locks"
    );
    assert!(ls.check(&path("/"), Some("alice"), false, false, &[]).await.is_ok());
}

async fn shared_locks_stack_and_an_exclusive_one_waits_for_them_all(backing: Backing) {
    let Some(f) = setup(backing, LockLimits::default()).await else { return };
    let ls = alice(&f.locks);
    let one = lock(&ls, "/s.txt", true, false).await.unwrap();
    let two = lock(&ls, "/s.txt", true, false).await.unwrap();
    assert!(lock(&ls, "/s.txt", false, false).await.is_err(), "exclusive over shared");
    let held = [one.token.clone()];
    assert!(ls.check(&path("/s.txt"), Some("alice"), false, false, &held).await.is_ok());
    assert_eq!(alice(&f.locks).discover(&path("/s.txt")).await.len(), 2);
    ls.unlock(&path("/s.txt"), &one.token).await.unwrap();
    assert!(lock(&ls, "/s.txt", false, false).await.is_err(), "one shared lock is left");
    ls.unlock(&path("/s.txt"), &two.token).await.unwrap();
    assert!(lock(&ls, "/s.txt", false, false).await.is_ok());
    assert!(lock(&ls, "/s.txt", true, false).await.is_err(), "shared over exclusive");
}

async fn delete_drops_the_locks_of_a_subtree_only(backing: Backing) {
    let Some(f) = setup(backing, LockLimits::default()).await else { return };
    let ls = alice(&f.locks);
    lock(&ls, "/a/x", false, false).await.unwrap();
    lock(&ls, "/a", false, false).await.unwrap();
    lock(&ls, "/a-b", false, false).await.unwrap();
    lock(&ls, "/ab", false, false).await.unwrap();
    lock(&ls, "/a%20b", false, false).await.unwrap();
    ls.delete(&path("/a/")).await.unwrap();
    assert!(unlocked(&ls, "/a/x").await);
    assert!(unlocked(&ls, "/a").await);
    assert!(!unlocked(&ls, "/a-b").await);
    assert!(!unlocked(&ls, "/ab").await);
    assert!(!unlocked(&ls, "/a%20b").await);
    ls.delete(&path("/")).await.unwrap();
    assert!(unlocked(&ls, "/ab").await, "the root's subtree is everything");
}

async fn the_owner_element_and_lock_root_come_back_as_given(backing: Backing) {
    let Some(f) = setup(backing, LockLimits::default()).await else { return };
    let ls = alice(&f.locks);
    let owner =
        Element::parse(&b"<D:owner xmlns:D=\"DAV:\"><D:href>me</D:href></D:owner>"[..]).unwrap();
    let mut at = path("/dav/d%20x/f.txt");
    at.set_prefix("/dav").unwrap();
    ls.lock(&at, Some("alice"), Some(&owner), None, false, false).await.unwrap();
    let found = alice(&f.locks).discover(&at).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].path.with_prefix().as_url_string(), "/dav/d%20x/f.txt");
    assert_eq!(found[0].owner.as_deref(), Some(&owner));
    assert_eq!(found[0].principal.as_deref(), Some("alice"));
    assert_eq!(found[0].timeout, Some(Duration::from_secs(60)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_through_one_node_is_honoured_by_another_and_released_there() {
    let Some(f) = setup(Backing::Postgres, LockLimits::default()).await else { return };
    let other = f.second_node().await;
    let granted = lock(&alice(&f.locks), "/doc.txt", false, false).await.unwrap();
    let there = alice(&other);
    assert!(!unlocked(&there, "/doc.txt").await);
    assert!(lock(&there, "/doc.txt", true, false).await.is_err());
    let held = [granted.token.clone()];
    assert!(there.check(&path("/doc.txt"), Some("alice"), false, false, &held).await.is_ok());
    f.clock.advance(30);
    there.refresh(&path("/doc.txt"), &granted.token, None).await.unwrap();
    f.clock.advance(59);
    assert!(!unlocked(&alice(&f.locks), "/doc.txt").await, "refreshed through the other node");
    there.unlock(&path("/doc.txt"), &granted.token).await.unwrap();
    assert!(unlocked(&alice(&f.locks), "/doc.txt").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_racing_for_one_path_grant_exactly_one_lock() {
    let Some(f) = setup(Backing::Postgres, LockLimits::default()).await else { return };
    let other = f.second_node().await;
    for round in 0..20 {
        let file = format!("/race{round}.txt");
        let deep_dir = format!("/dir{round}/");
        // Even rounds: four exclusive locks on one file. Odd rounds: two deep locks on a
        // folder and two on a file in it. Any two of them conflict.
        let tries =
            [&f.locks, &other, &f.locks, &other].into_iter().enumerate().map(|(i, locks)| {
                let target = match (round % 2, i % 2) {
                    (0, _) => file.clone(),
                    (_, 0) => deep_dir.clone(),
                    _ => format!("{deep_dir}f"),
                };
                let locks = locks.clone();
                tokio::spawn(
                    async move { lock(&alice(&locks), &target, false, true).await.is_ok() },
                )
            });
        let mut granted = 0;
        for t in tries {
            granted += u32::from(t.await.unwrap());
        }
        assert_eq!(granted, 1, "round {round}: {granted} conflicting locks granted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_reads_the_locks_for_lockdiscovery_once() {
    let Some(f) = setup(Backing::Postgres, LockLimits::default()).await else { return };
    let other = f.second_node().await;
    lock(&alice(&f.locks), "/f0", false, false).await.unwrap();
    let listing = alice(&f.locks);
    assert_eq!(listing.discover(&path("/f0")).await.len(), 1);
    // A lock granted elsewhere meanwhile is not in this request's snapshot (read once), and
    // is in the next request's.
    lock(&alice(&other), "/f1", false, false).await.unwrap();
    for i in 1..1000 {
        assert!(listing.discover(&path(&format!("/f{i}"))).await.is_empty(), "/f{i}");
    }
    assert_eq!(alice(&f.locks).discover(&path("/f1")).await.len(), 1);
    assert!(f.store.is_some());
}
