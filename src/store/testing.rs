//! The conformance harness: each store test runs once per backend.
//!
//! `conformance!(test_fn)` turns `async fn test_fn(t: TestStore)` into `test_fn::redb` and
//! `test_fn::postgres`, the latter on a fresh database (see [`super::test_database`]).

use super::test_database::TestDatabase;
use super::{Location, PropLimits, Store};

/// A store under test and what keeps its data alive.
pub(crate) struct TestStore {
    /// The store.
    pub store: Store,
    location: Location,
    limits: PropLimits,
    _dir: Option<tempfile::TempDir>,
    _db: Option<TestDatabase>,
}

impl TestStore {
    /// A redb store in a temporary directory.
    pub async fn redb(limits: PropLimits) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::Redb(dir.path().join(Store::FILE_NAME));
        let store = Store::open_limited(&location, limits).await.unwrap();
        Self { store, location, limits, _dir: Some(dir), _db: None }
    }

    /// A PostgreSQL store on a fresh database; None when those tests are skipped.
    pub async fn postgres(limits: PropLimits) -> Option<Self> {
        let db = TestDatabase::create().await?;
        let location = db.location();
        let store = Store::open_limited(&location, limits).await.unwrap();
        Some(Self { store, location, limits, _dir: None, _db: Some(db) })
    }

    /// True for PostgreSQL (the tests of several handles need it: redb has one opener).
    pub fn is_shared(&self) -> bool {
        self.location.is_shared()
    }

    /// Another handle on the same data, as a second node opens it (PostgreSQL only).
    pub async fn second_node(&self) -> Store {
        assert!(self.is_shared(), "redb allows one opener");
        Store::open_limited(&self.location, self.limits).await.unwrap()
    }

    /// The test database (PostgreSQL only).
    pub fn database(&self) -> &TestDatabase {
        self._db.as_ref().unwrap()
    }
}

/// Runs `async fn $test(TestStore)` on both backends (with `$limits`, default limits if
/// omitted), on the multi-threaded runtime the server uses.
macro_rules! conformance {
    ($test:ident) => {
        conformance!($test, $crate::store::PropLimits::default());
    };
    ($test:ident, $limits:expr) => {
        mod $test {
            use $crate::store::testing::TestStore;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redb() {
                super::$test(TestStore::redb($limits).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(store) = TestStore::postgres($limits).await {
                    super::$test(store).await;
                }
            }
        }
    };
}
pub(crate) use conformance;
