//! One request's view of a user's locks: dav-server's `DavLockSystem`, dispatched to the
//! memory table or the shared store, with the per-request snapshot and the refusal the mount
//! answers with.

use dav_server::davpath::DavPath;
use dav_server::ls::{DavLock, DavLockSystem, LsFuture};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};
use xmltree::Element;

use super::shared::{Failure, Shared};
use super::table::{Conditions, Denied, UserTable, Wanted, path_key, xml_size};
use super::{Backend, Locks, Refusal};
use crate::dav::folder::FolderRoot;
use crate::store::{AppPasswordId, UserName};

/// A user's locks as one request sees them; dav-server's `DavLockSystem`.
///
/// With the shared store, `discover` (which PROPFIND asks once per entry for lockdiscovery)
/// answers from a snapshot of the user's live locks read once per request, so a listing of
/// 1,000 files costs one query; every other operation reads the store, and any change made
/// through this request drops the snapshot.
#[derive(Debug, Clone)]
pub struct RequestLocks {
    locks: Locks,
    user: UserName,
    taker: Option<AppPasswordId>,
    max_timeout: Duration,
    refusal: Arc<OnceLock<Refusal>>,
    snapshot: Arc<Mutex<Option<Arc<UserTable>>>>,
    /// A folder-scoped password's folder: locks are keyed and rooted at their real paths below
    /// the home, and shown to this request relative to the folder.
    folder: Option<Arc<FolderRoot>>,
}

/// The value dav-server gets for a failed lock: never shown, the mount answers instead.
fn placeholder(path: &DavPath) -> DavLock {
    DavLock {
        token: String::new(),
        path: Box::new(path.clone()),
        principal: None,
        owner: None,
        timeout_at: None,
        timeout: None,
        shared: false,
        deep: false,
    }
}

impl RequestLocks {
    /// `user`'s locks for one request opened by `taker`, none granted or refreshed for longer
    /// than `max_timeout`.
    pub(super) fn new(
        locks: Locks,
        user: UserName,
        taker: Option<AppPasswordId>,
        max_timeout: Duration,
    ) -> Self {
        let (refusal, snapshot) = (Arc::new(OnceLock::new()), Arc::new(Mutex::new(None)));
        Self { locks, user, taker, max_timeout, refusal, snapshot, folder: None }
    }

    /// These locks as a password confined to `folder` sees them.
    pub fn within(mut self: Box<Self>, folder: Option<Arc<FolderRoot>>) -> Box<Self> {
        self.folder = folder;
        self
    }

    /// The key of a path this request names: its real path's.
    fn key(&self, path: &DavPath) -> Vec<u8> {
        match &self.folder {
            Some(folder) => folder.lock_key(&path_key(path)),
            None => path_key(path),
        }
    }

    /// The real path of a path this request names (where a new lock is rooted).
    fn real(&self, path: &DavPath) -> DavPath {
        let real = self.folder.as_ref().and_then(|folder| folder.real_path(path));
        real.unwrap_or_else(|| path.clone())
    }

    /// A lock as this request sees it.
    fn visible(&self, lock: DavLock) -> DavLock {
        match &self.folder {
            Some(folder) => folder.visible_lock(lock),
            None => lock,
        }
    }

    /// Why this request's lock operation failed, if a cap or the store (not a conflict) made it
    /// fail: dav-server answers with its own status, the mount replaces it with this.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refusal.get().copied()
    }

    /// Reads the snapshot `discover` answers from before a PROPFIND starts: dav-server streams
    /// the multistatus, so a store failure met while listing could no longer change the
    /// status, and lockdiscovery would silently show no locks. Nothing to do in memory.
    pub async fn prepare_listing(&self) -> Result<(), Refusal> {
        let Backend::Shared(shared) = &self.locks.backend else { return Ok(()) };
        match self.snapshot(shared).await {
            Ok(_) => Ok(()),
            Err(failure) => {
                self.failed(failure);
                Err(self.refusal().unwrap_or(Refusal::Failed))
            }
        }
    }

    fn refuse(&self, why: Refusal, path: &DavPath) -> Result<DavLock, DavLock> {
        let _ = self.refusal.set(why);
        Err(placeholder(path))
    }

    /// Records a store failure; the request will be answered from it.
    fn failed(&self, failure: Failure) {
        let why = match &failure {
            Failure::Store(e) if e.is_unavailable() => {
                tracing::warn!("lock operation refused: {e}");
                Refusal::Unavailable
            }
            other => {
                tracing::error!("lock operation failed: {other}");
                Refusal::Failed
            }
        };
        let _ = self.refusal.set(why);
    }

    fn capped(&self, asked: Option<Duration>) -> Duration {
        asked.map_or(self.max_timeout, |asked| asked.min(self.max_timeout))
    }

    fn now(&self) -> SystemTime {
        self.locks.clock.system_time()
    }

    fn drop_snapshot(&self) {
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The user's live locks, read once per request.
    async fn snapshot(&self, shared: &Shared) -> Result<Arc<UserTable>, Failure> {
        if let Some(table) = self.snapshot.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(table);
        }
        let table = Arc::new(shared.snapshot(&self.user, self.now()).await?);
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&table));
        Ok(table)
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> LsFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl DavLockSystem for RequestLocks {
    fn lock(
        &'_ self,
        path: &DavPath,
        principal: Option<&str>,
        owner: Option<&Element>,
        timeout: Option<Duration>,
        shared: bool,
        deep: bool,
    ) -> LsFuture<'_, Result<DavLock, DavLock>> {
        if owner.is_some_and(|o| xml_size(o) > self.locks.limits.owner_bytes) {
            return ready(self.refuse(Refusal::OwnerTooLarge, path));
        }
        let key = self.key(path);
        let timeout = self.capped(timeout);
        let now = self.now();
        let answer = |this: &Self, outcome: Result<DavLock, Denied>, path: &DavPath| match outcome {
            Ok(lock) => Ok(this.visible(lock)),
            Err(Denied::Conflict(lock)) => Err(this.visible(lock)),
            Err(Denied::Refused(why)) => this.refuse(why, path),
        };
        let real = self.real(path);
        match &self.locks.backend {
            Backend::Memory(memory) => {
                let taker = self.taker.as_ref();
                let wanted = Wanted { path: &real, principal, taker, owner, timeout, shared, deep };
                let outcome = memory.lock(&self.user, now, key, &wanted, &self.locks.limits);
                ready(answer(self, outcome, path))
            }
            Backend::Shared(store) => {
                let (path, principal, owner) =
                    (path.clone(), principal.map(str::to_string), owner.cloned());
                Box::pin(async move {
                    self.drop_snapshot();
                    let wanted = Wanted {
                        path: &real,
                        principal: principal.as_deref(),
                        taker: self.taker.as_ref(),
                        owner: owner.as_ref(),
                        timeout,
                        shared,
                        deep,
                    };
                    match store.lock(&self.user, now, key, &wanted, &self.locks.limits).await {
                        Ok(outcome) => answer(self, outcome, &path),
                        Err(failure) => {
                            self.failed(failure);
                            Err(placeholder(&path))
                        }
                    }
                })
            }
        }
    }

    fn unlock(&'_ self, path: &DavPath, token: &str) -> LsFuture<'_, Result<(), ()>> {
        let key = self.key(path);
        let now = self.now();
        match &self.locks.backend {
            Backend::Memory(memory) => {
                ready(memory.unlock(&self.user, now, &key, token).then_some(()).ok_or(()))
            }
            Backend::Shared(store) => {
                let token = token.to_string();
                Box::pin(async move {
                    self.drop_snapshot();
                    match store.unlock(&self.user, now, &key, &token).await {
                        Ok(found) => found.then_some(()).ok_or(()),
                        Err(failure) => {
                            self.failed(failure);
                            Err(())
                        }
                    }
                })
            }
        }
    }

    fn refresh(
        &'_ self,
        path: &DavPath,
        token: &str,
        timeout: Option<Duration>,
    ) -> LsFuture<'_, Result<DavLock, ()>> {
        let key = self.key(path);
        let timeout = self.capped(timeout);
        let now = self.now();
        match &self.locks.backend {
            Backend::Memory(memory) => {
                let found = memory.refresh(&self.user, now, &key, token, timeout);
                ready(found.map(|lock| self.visible(lock)).ok_or(()))
            }
            Backend::Shared(store) => {
                let token = token.to_string();
                Box::pin(async move {
                    self.drop_snapshot();
                    match store.refresh(&self.user, now, &key, &token, timeout).await {
                        Ok(found) => found.map(|lock| self.visible(lock)).ok_or(()),
                        Err(failure) => {
                            self.failed(failure);
                            Err(())
                        }
                    }
                })
            }
        }
    }

    fn check(
        &'_ self,
        path: &DavPath,
        principal: Option<&str>,
        ignore_principal: bool,
        deep: bool,
        submitted_tokens: &[String],
    ) -> LsFuture<'_, Result<(), DavLock>> {
        let key = self.key(path);
        let now = self.now();
        match &self.locks.backend {
            Backend::Memory(memory) => {
                let who = Conditions { principal, ignore_principal, tokens: submitted_tokens };
                ready(memory.check(&self.user, now, &key, &who, deep).map_err(|l| self.visible(l)))
            }
            Backend::Shared(store) => {
                let (path, principal) = (path.clone(), principal.map(str::to_string));
                let tokens = submitted_tokens.to_vec();
                Box::pin(async move {
                    let who = Conditions {
                        principal: principal.as_deref(),
                        ignore_principal,
                        tokens: &tokens,
                    };
                    match store.check(&self.user, now, &key, &who, deep).await {
                        Ok(outcome) => outcome.map_err(|lock| self.visible(lock)),
                        Err(failure) => {
                            self.failed(failure);
                            Err(placeholder(&path))
                        }
                    }
                })
            }
        }
    }

    fn discover(&'_ self, path: &DavPath) -> LsFuture<'_, Vec<DavLock>> {
        let key = self.key(path);
        let now = self.now();
        match &self.locks.backend {
            Backend::Memory(memory) => {
                let found = memory.discover(&self.user, now, &key);
                ready(found.into_iter().map(|lock| self.visible(lock)).collect())
            }
            Backend::Shared(store) => Box::pin(async move {
                match self.snapshot(store).await {
                    Ok(table) => {
                        table.discover(&key).into_iter().map(|l| self.visible(l)).collect()
                    }
                    Err(failure) => {
                        self.failed(failure);
                        Vec::new()
                    }
                }
            }),
        }
    }

    fn delete(&'_ self, path: &DavPath) -> LsFuture<'_, Result<(), ()>> {
        let key = self.key(path);
        let now = self.now();
        match &self.locks.backend {
            Backend::Memory(memory) => {
                memory.delete(&self.user, now, &key);
                ready(Ok(()))
            }
            Backend::Shared(store) => Box::pin(async move {
                self.drop_snapshot();
                store.delete(&self.user, &key).await.map_err(|failure| {
                    self.failed(failure);
                })
            }),
        }
    }
}
