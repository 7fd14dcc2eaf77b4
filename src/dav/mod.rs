//! The WebDAV mount: `/dav/` is the authenticated user's own home folder, and nothing else.
//!
//! Each request gets dav-server's handler with that user's confined filesystem and lock table.
//! Before dav-server sees a request, the mount checks what dav-server would otherwise answer
//! with a 5xx or let through: the request path and the `Destination` header, decoded and
//! normalised, must stay under `/dav/`; `PROPFIND Depth: infinity` follows the admin setting and
//! never a client header (dav-server 0.11 unlocks it for anyone sending `X-Litmus`); partial
//! writes, a folder copied into itself and trees past the nesting limit are refused, and so are
//! uploads past the server-wide cap ([`limits`]).

mod confined;
mod folder;
mod folder_sync;
mod inert;
pub mod limits;
mod locks;
mod objects;
mod paths;
mod quota;
mod request;
mod scoped;
mod shared_room;
mod temp;
mod upload;
mod walk;

use dav_server::davpath::DavPath;
use dav_server::{DavConfig, DavHandler};
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::Authenticated;
use crate::clock::Clock;
use crate::fs_private::create_private_dir;
use crate::http::response::{self, Body};
use crate::store::{Store, UserName};
pub use confined::ConfinedFs;
use folder::FolderRoot;
pub use inert::make_inert;
use limits::DavLimits;
use locks::{LockLimits, Locks};
pub use temp::TempNames;
use upload::UploadContext;

/// Where WebDAV is served.
pub const PREFIX: &str = "/dav";

/// What a user's requests share: their confined filesystem.
#[derive(Clone)]
struct UserMount {
    fs: Box<ConfinedFs>,
    /// When the account was created: a removed account re-created under the same name is
    /// another account, and gets a new mount (usage, locks).
    account_created: chrono::DateTime<chrono::Utc>,
    /// Held by the user's COPY/MOVE that take a tree deeper, from the depth check to the end.
    deepening: Arc<tokio::sync::Mutex<()>>,
}

/// The WebDAV mount for all users.
pub struct Mount {
    handler: DavHandler,
    files_root: PathBuf,
    store: Store,
    users: Mutex<HashMap<UserName, UserMount>>,
    /// Every user's locks, kept apart by user (`/a.txt` of two users is not the same lock).
    locks: Locks,
    /// The store generation ([`crate::store::Generation`]) the cached mounts were last checked
    /// against: it moves when an account is removed (among other changes), and the mounts of
    /// gone accounts are dropped.
    checked_generation: AtomicU64,
    /// Held while the cached mounts are checked: requests that meet the same new generation
    /// wait for one check instead of each reading every cached account again.
    checking: tokio::sync::Mutex<()>,
    limits: DavLimits,
    /// One permit per upload (PUT, COPY) in flight, server-wide.
    uploads: Arc<Semaphore>,
    /// Ages lock timeouts and quota counts.
    clock: Clock,
    /// How this node names upload temporary files (several nodes may share `files_root`).
    temps: TempNames,
    /// The public URL's path prefix (`/webdav`, or empty): requests arrive without it, and
    /// dav-server gets them with it back on, so that every href and `Location` it writes (and
    /// every `Destination` and `If` URL it reads) is the public one.
    public_prefix: String,
    /// Where the files are when they are on object storage rather than under `files_root`.
    objects: Option<objects::ObjectMount>,
}

/// Why a user's mount cannot be had.
#[derive(Debug, thiserror::Error)]
enum MountError {
    /// The account was removed after the request was authenticated.
    #[error("the account no longer exists")]
    Gone,
    /// The store could not be read.
    #[error("cannot read the account: {0}")]
    Store(#[from] crate::store::Error),
    /// The home folder could not be created.
    #[error("cannot create the home folder: {0}")]
    Io(#[from] std::io::Error),
}

const X_LITMUS: HeaderName = HeaderName::from_static("x-litmus");
const DEPTH: HeaderName = HeaderName::from_static("depth");
const DESTINATION: HeaderName = HeaderName::from_static("destination");
const X_OC_MTIME: HeaderName = HeaderName::from_static("x-oc-mtime");
const TIMEOUT: HeaderName = HeaderName::from_static("timeout");

impl Mount {
    /// A mount serving homes under `files_root` (`<data>/files` unless told otherwise; maybe
    /// shared with other nodes), one folder per user, uploading through temporary files named
    /// by `temps`, its lock timeouts and quota counts on `clock`.
    pub fn new(
        files_root: PathBuf,
        store: Store,
        limits: DavLimits,
        temps: TempNames,
        clock: Clock,
    ) -> Self {
        let handler = DavHandler::builder()
            .strip_prefix(PREFIX)
            .hide_symlinks(true)
            .autoindex(true)
            // GET sends files in chunks of this size (dav-server's default is 16 KiB): mapped
            // windows over plain HTTP/1.1, copies otherwise (see `DavLimits::get_chunk`).
            .read_buf_size(limits.get_chunk.unwrap_or(limits::COPIED_GET_CHUNK))
            .build_handler();
        let generation = store.generation();
        let locks = Locks::new(&store, clock.clone(), LockLimits::default());
        Self {
            handler,
            files_root,
            store,
            users: Mutex::new(HashMap::new()),
            locks,
            checked_generation: AtomicU64::new(generation.get()),
            checking: tokio::sync::Mutex::new(()),
            limits,
            uploads: Arc::new(Semaphore::new(limits.max_uploads.min(Semaphore::MAX_PERMITS))),
            clock,
            temps,
            public_prefix: String::new(),
            objects: None,
        }
    }

    /// The mount's lock system: the server's admin operations release a revoked password's
    /// locks through it.
    pub fn locks(&self) -> Locks {
        self.locks.clone()
    }

    /// This mount, answering as if at `prefix` + `/dav/` (the public URL's path, e.g. `/webdav`).
    pub fn under(mut self, prefix: &str) -> Self {
        self.public_prefix = prefix.to_string();
        self
    }

    /// The request with the public prefix back on its path and `Destination`.
    fn with_public_prefix<B>(&self, req: &mut Request<B>) {
        let prefix = &self.public_prefix;
        let public = format!("{prefix}{}", req.uri());
        if let Ok(uri) = public.parse::<http::Uri>() {
            *req.uri_mut() = uri;
        }
        let destination = req.headers().get(DESTINATION).and_then(|d| d.to_str().ok());
        if let Some(value) =
            destination.and_then(|d| HeaderValue::from_str(&format!("{prefix}{d}")).ok())
        {
            req.headers_mut().insert(DESTINATION, value);
        }
    }

    /// Serves one request for an authenticated user.
    pub async fn serve<B>(&self, who: &Authenticated, mut req: Request<B>) -> Response<Body>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let access = who.scope().access;
        if let Err((status, why)) = check_paths(&req)
            .and_then(|()| scoped::admit(access, &mut req))
            .and_then(|()| limits::refuse_partial_write(&req))
        {
            if status == StatusCode::FORBIDDEN && access != crate::store::Access::ReadWrite {
                let id = who.app_password().map_or("", |id| id.as_str());
                tracing::debug!(user = %who.user(), app_password = id, %access, "refused by the app password's scope");
            }
            return response::text(status, why);
        }
        req.headers_mut().remove(X_LITMUS);
        if req.method().as_str() == "LOCK" {
            cap_lock_timeout(&mut req, self.store.settings().lock_timeout.as_seconds());
        }
        if req.method().as_str() == "PROPFIND" && asks_infinity(&req) {
            if !self.store.settings().propfind_depth_infinity {
                return finite_depth_only();
            }
            req.headers_mut().insert(X_LITMUS, HeaderValue::from_static("davgate"));
        }
        if let Some(objects) = &self.objects {
            return self.serve_objects(who, req, objects).await;
        }
        let mount = match self.user_mount(who.user()).await {
            Ok(m) => m,
            Err(MountError::Gone) => {
                return response::text(StatusCode::FORBIDDEN, "This account no longer exists.\n");
            }
            Err(e) => {
                tracing::error!(user = %who.user(), "cannot serve the home folder: {e}");
                return response::text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The home folder cannot be created.\n",
                );
            }
        };
        let home = self.files_root.join(who.user().as_str());
        let (fs, root, folder) = match &who.scope().folder {
            None => (mount.fs, home, None),
            Some(folder) => match prepare_folder(FolderRoot::new(folder), home).await {
                Ok((root, folder)) => {
                    (mount.fs.for_folder(root.clone(), Arc::clone(&folder)), root, Some(folder))
                }
                Err(res) => return res,
            },
        };
        // A COPY/MOVE that takes a tree deeper checks its depth and runs alone among the user's
        // deepening ones: two racing could each pass and together nest past the limit.
        let _deepening = match deepens(&req) {
            true => Some(Arc::clone(&mount.deepening).lock_owned().await),
            false => None,
        };
        if let Err(refused) = self.check_shape(root, &req).await {
            return refused;
        }
        let is_put = req.method() == Method::PUT;
        if !is_put && req.method().as_str() != "COPY" {
            return self.dispatch(who, req, fs.for_request(None), folder).await;
        }
        let Some(_upload_slot) = self.upload_slot() else {
            let mut res = response::text(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many uploads are in progress on this server; try again in a few seconds.\n",
            );
            res.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
            return res;
        };
        // Uploads: the request's X-OC-Mtime and the durability in force travel with the fs.
        let context = self.upload_context(who, &req);
        let fs = fs.for_request(Some(Arc::clone(&context)));
        let res = self.dispatch(who, req, fs, folder).await;
        upload_answer(&context, res)
    }

    /// The terms of one upload (PUT or COPY): its `X-OC-Mtime` (PUT only), the durability in
    /// force, and the credential asked again before the commit.
    fn upload_context<B>(&self, who: &Authenticated, req: &Request<B>) -> Arc<UploadContext> {
        let mtime = (req.method() == Method::PUT)
            .then(|| req.headers().get(X_OC_MTIME)?.to_str().ok().and_then(upload::parse_oc_mtime))
            .flatten();
        let context = UploadContext::new(mtime, self.store.settings().durability)
            .reconfirming(self.reconfirm(who));
        Arc::new(context)
    }

    /// What an upload of `who` asks before it commits: whether its credential still stands.
    fn reconfirm(&self, who: &Authenticated) -> upload::Reconfirm {
        let (store, clock, who) = (self.store.clone(), self.clock.clone(), who.clone());
        Arc::new(move || {
            let (store, clock, who) = (store.clone(), clock.clone(), who.clone());
            Box::pin(async move { crate::auth::still_standing(&store, &who, clock.now()).await })
        })
    }

    /// Hands a checked request to dav-server with the user's filesystem and locks (seen from
    /// the password's `folder`, if it has one).
    async fn dispatch<B>(
        &self,
        who: &Authenticated,
        req: Request<B>,
        fs: Box<ConfinedFs>,
        folder: Option<Arc<FolderRoot>>,
    ) -> Response<Body>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let props_change = PropsChange::of(&req, folder.as_deref());
        let max_timeout = Duration::from_secs(self.store.settings().lock_timeout.as_seconds());
        let locks =
            self.locks.for_request(who.user(), who.app_password(), max_timeout).within(folder);
        let request = fs.request_state();
        let failed = || {
            let message = "The store is out of reach; try again in a few seconds.\n";
            request.store_unreachable().then(|| unavailable(message))
        };
        self.run_dav(who, req, fs, locks, props_change, failed).await
    }

    /// Runs a checked request through dav-server with `fs` and `locks` (on disk or in a bucket),
    /// then answers, in this order: the lock system's refusal, what `failed` says of the
    /// filesystem (its storage out of reach…), or dav-server's answer, once the dead
    /// properties have followed a namespace change it made.
    async fn run_dav<B>(
        &self,
        who: &Authenticated,
        mut req: Request<B>,
        fs: Box<dyn dav_server::fs::GuardedFileSystem<()>>,
        locks: Box<locks::RequestLocks>,
        props_change: Option<PropsChange>,
        failed: impl FnOnce() -> Option<Response<Body>>,
    ) -> Response<Body>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        if req.method().as_str() == "PROPFIND"
            && let Err(refusal) = locks.prepare_listing().await
        {
            return refused(refusal);
        }
        let mut config = DavConfig::new()
            .filesystem(fs)
            .locksystem(locks.clone())
            .principal(who.user().as_str());
        if !self.public_prefix.is_empty() {
            self.with_public_prefix(&mut req);
            config = config.strip_prefix(format!("{}{PREFIX}", self.public_prefix));
        }
        let res = self.handler.handle_with(config, req).await;
        if let Some(refusal) = locks.refusal() {
            return refused(refusal);
        }
        if let Some(res) = failed() {
            return res;
        }
        if let Some(change) = props_change
            && matches!(res.status(), StatusCode::OK | StatusCode::CREATED | StatusCode::NO_CONTENT)
        {
            self.apply(who.user(), change).await;
        }
        res
    }

    /// Carries dead properties along a namespace change that dav-server just made.
    async fn apply(&self, user: &UserName, change: PropsChange) {
        let store = &self.store;
        let done = match &change {
            PropsChange::Copy { from, to } => store.copy_dead_props(user, from, to).await.map(|all| {
                if !all {
                    tracing::warn!(%user, "COPY {from} → {to}: dead properties over the budget, not copied");
                }
            }),
            PropsChange::Move { from, to } => store.move_dead_props(user, from, to).await,
            PropsChange::Delete { path } => store.delete_dead_props(user, path).await,
        };
        if let Err(e) = done {
            tracing::error!("dead properties not updated: {e}");
        }
    }

    /// Reads how many uploads (PUT, COPY) are in flight, server-wide, whenever it is called.
    pub fn uploads_counter(&self) -> impl Fn() -> usize + Send + Sync + 'static {
        let cap = self.limits.max_uploads.min(Semaphore::MAX_PERMITS);
        let uploads = Arc::clone(&self.uploads);
        move || cap.saturating_sub(uploads.available_permits())
    }

    /// A permit for one more upload in flight, if the server-wide cap allows it.
    fn upload_slot(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.uploads).try_acquire_owned().ok()
    }

    /// Refuses, before anything is touched, what [`limits::check_shape`] refuses.
    async fn check_shape<B>(&self, home: PathBuf, req: &Request<B>) -> Result<(), Response<Body>> {
        let method = req.method().as_str();
        if !matches!(method, "MKCOL" | "PUT" | "COPY" | "MOVE") {
            return Ok(());
        }
        let Some(source) = relative_path(req.uri().path()) else { return Ok(()) };
        // dav-server answers a missing or unreadable Destination itself.
        let destination = match destination_path(req) {
            Some(Ok(raw)) => relative_path(&raw),
            _ => None,
        };
        let max = self.limits.max_depth;
        limits::check_shape(home, method, &source, destination.as_deref(), max)
            .await
            .map_err(|(status, why)| response::text(status, why.into_owned()))
    }

    /// The user's mount, creating their home folder on first use. Mounts of accounts that were
    /// removed (or removed and created again) are dropped first.
    async fn user_mount(&self, user: &UserName) -> Result<UserMount, MountError> {
        self.drop_gone_mounts().await?;
        if let Some(m) = self.lock_users().get(user) {
            return Ok(m.clone());
        }
        let account = self.store.user(user).await?.ok_or(MountError::Gone)?;
        let home = self.files_root.join(user.as_str());
        let dir = home.clone();
        tokio::task::spawn_blocking(move || create_private_dir(&dir))
            .await
            .map_err(std::io::Error::other)??;
        let mount = UserMount {
            fs: ConfinedFs::new(
                home,
                self.store.clone(),
                user.clone(),
                self.limits.max_depth,
                self.temps.clone(),
                self.clock.clone(),
            ),
            account_created: account.created_at,
            deepening: Arc::default(),
        };
        Ok(self.lock_users().entry(user.clone()).or_insert(mount).clone())
    }

    /// When the store changed since the last look, drops the mounts whose account is gone or
    /// is another account of the same name: a new account never sees the old one's usage or
    /// locks.
    async fn drop_gone_mounts(&self) -> Result<(), MountError> {
        let generation = self.store.generation().get();
        if self.checked_generation.load(Ordering::Acquire) == generation {
            return Ok(());
        }
        let _checking = self.checking.lock().await;
        if self.checked_generation.load(Ordering::Acquire) >= generation {
            return Ok(()); // checked by the request this one waited for
        }
        let cached: Vec<(UserName, chrono::DateTime<chrono::Utc>)> =
            self.lock_users().iter().map(|(n, m)| (n.clone(), m.account_created)).collect();
        let mut gone = Vec::new();
        for (name, created) in cached {
            if self.store.user(&name).await?.is_none_or(|u| u.created_at != created) {
                gone.push(name);
            }
        }
        let mut users = self.lock_users();
        for name in gone {
            users.remove(&name);
            self.locks.forget(&name);
        }
        // Only now: a request racing this one checks again rather than use a stale mount.
        self.checked_generation.store(generation, Ordering::Release);
        Ok(())
    }

    fn lock_users(&self) -> std::sync::MutexGuard<'_, HashMap<UserName, UserMount>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The answer to an upload whose credential was revoked (or its owner disabled) while its
/// body arrived: nothing was stored. 401 as for any refused credential, 503 if the store could
/// not say.
fn credential_lost(denied: crate::auth::Denied) -> Response<Body> {
    if denied == crate::auth::Denied::Unavailable {
        let mut res = response::text(
            StatusCode::SERVICE_UNAVAILABLE,
            "The credential store is unavailable; nothing was stored. Try again in a few seconds.\n",
        );
        response::retry_later(&mut res);
        return res;
    }
    tracing::warn!(target: "davgate::auth", "upload refused at commit: {}", denied.as_str());
    let mut res = response::text(
        StatusCode::UNAUTHORIZED,
        "This app password no longer opens WebDAV (revoked while the upload was sent); \
         nothing was stored.\n",
    );
    res.headers_mut()
        .insert(http::header::WWW_AUTHENTICATE, HeaderValue::from_static(response::CHALLENGE));
    res
}

/// The answer to an upload once dav-server answered, from what became of its `context`: a
/// credential lost meanwhile (401/503), a body that did not match its `OC-Checksum` (400,
/// nothing stored), or dav-server's answer with `X-OC-Mtime: accepted` when it was applied.
fn upload_answer(context: &UploadContext, mut res: Response<Body>) -> Response<Body> {
    if let Some(denied) = context.refused() {
        return credential_lost(denied);
    }
    if context.checksum_mismatch() {
        return response::text(
            StatusCode::BAD_REQUEST,
            "The body does not match its OC-Checksum header; nothing was stored.\n",
        );
    }
    if res.status().is_success() && context.mtime_applied() {
        res.headers_mut().insert(X_OC_MTIME, HeaderValue::from_static("accepted"));
    }
    res
}

/// What a COPY, MOVE or DELETE does to dead properties once it succeeded (property keys).
enum PropsChange {
    Copy { from: String, to: String },
    Move { from: String, to: String },
    Delete { path: String },
}

impl PropsChange {
    /// The change a request makes, with the real keys of a password seeing only `folder`.
    fn of<B>(req: &Request<B>, folder: Option<&FolderRoot>) -> Option<Self> {
        let key = |raw: &str| real_key(raw, folder);
        let destination = || key(&destination_path(req)?.ok()?);
        let from = key(req.uri().path())?;
        match req.method().as_str() {
            "COPY" => Some(Self::Copy { from, to: destination()? }),
            "MOVE" => Some(Self::Move { from, to: destination()? }),
            "DELETE" => Some(Self::Delete { path: from }),
            _ => None,
        }
    }
}

/// The key of a request path (raw, with `/dav`) as stored: its property key, below the
/// password's `folder` if it has one; None if it is not a valid path.
fn real_key(raw: &str, folder: Option<&FolderRoot>) -> Option<String> {
    let mut path = DavPath::new(raw).ok()?;
    path.set_prefix(PREFIX).ok()?;
    let key = props_path(&path);
    Some(folder.map_or_else(|| key.clone(), |f| f.props_key(&key)))
}

/// The key a path's dead properties are stored under: the decoded path below `/dav`, without a
/// trailing slash, bytes outside printable ASCII (and `%`) percent-escaped.
pub fn props_path(path: &DavPath) -> String {
    let bytes = path.as_bytes();
    let trimmed = match bytes {
        [rest @ .., b'/'] if !rest.is_empty() => rest,
        _ => bytes,
    };
    escape_key(trimmed)
}

/// Raw path bytes as a property key: bytes outside printable ASCII (and `%`) percent-escaped.
fn escape_key(raw: &[u8]) -> String {
    let mut key = String::with_capacity(raw.len());
    for &b in raw {
        if b.is_ascii_graphic() && b != b'%' {
            key.push(char::from(b));
        } else {
            key.push_str(&format!("%{b:02X}"));
        }
    }
    if key.is_empty() { "/".to_string() } else { key }
}

/// The password's folder made ready below `home` ([`FolderRoot::prepare`], off the runtime):
/// where its filesystem is rooted. Something in the folder's way is the client's 409; a folder
/// that cannot be made is the server's 500.
async fn prepare_folder(
    folder: FolderRoot,
    home: PathBuf,
) -> Result<(PathBuf, Arc<FolderRoot>), Response<Body>> {
    let folder = Arc::new(folder);
    let preparing = Arc::clone(&folder);
    let prepared = tokio::task::spawn_blocking(move || preparing.prepare(&home)).await;
    match prepared {
        Ok(Ok(root)) => Ok((root, folder)),
        Ok(Err(folder::FolderError::InTheWay(name))) => Err(response::text(
            StatusCode::CONFLICT,
            format!(
                "This app password's folder {} cannot be opened: a file or a link is in its place.\n",
                crate::log_safe::escaped(&name)
            ),
        )),
        Ok(Err(e)) => {
            tracing::error!("cannot serve an app password's folder: {e}");
            Err(response::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The folder cannot be created.\n",
            ))
        }
        Err(e) => {
            tracing::error!("cannot serve an app password's folder: {e}");
            Err(response::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The folder cannot be created.\n",
            ))
        }
    }
}

/// True for a COPY or MOVE whose destination lies deeper than its source.
fn deepens<B>(req: &Request<B>) -> bool {
    if !matches!(req.method().as_str(), "COPY" | "MOVE") {
        return false;
    }
    let source = relative_path(req.uri().path());
    let destination = match destination_path(req) {
        Some(Ok(raw)) => relative_path(&raw),
        _ => None,
    };
    match (source, destination) {
        (Some(s), Some(d)) => limits::depth(&d) > limits::depth(&s),
        _ => false,
    }
}

/// A request path (raw) as a path relative to the home; None if it is not a valid path.
fn relative_path(raw: &str) -> Option<PathBuf> {
    let mut path = DavPath::new(raw).ok()?;
    path.set_prefix(PREFIX).ok()?;
    Some(Path::new(path.as_rel_ospath()).to_path_buf())
}

/// True if `path` (raw, as in a request line) is the mount or inside it, on whole segments.
pub fn is_mount_path(path: &str) -> bool {
    path == PREFIX || path.strip_prefix(PREFIX).is_some_and(|rest| rest.starts_with('/'))
}

/// A refused path: status and the explanation sent to the client.
type PathRefusal = (StatusCode, &'static str);

/// Decodes and normalises the request path and any `Destination`, refusing what would leave
/// the mount: dav-server would answer those with 502, and they are the client's mistake.
fn check_paths<B>(req: &Request<B>) -> Result<(), PathRefusal> {
    inside_mount(req.uri().path())?;
    let Some(path) = destination_path(req) else {
        return Ok(());
    };
    let bad = (StatusCode::BAD_REQUEST, "The Destination header is not a valid URL or path.\n");
    inside_mount(&path.map_err(|()| bad)?).map_err(|(status, _)| match status {
        StatusCode::FORBIDDEN => (status, "The Destination must be inside /dav/.\n"),
        _ => (status, "The Destination path is not valid.\n"),
    })
}

/// 503 with Retry-After: `message` says what is out of reach.
fn unavailable(message: &'static str) -> Response<Body> {
    let mut res = response::text(StatusCode::SERVICE_UNAVAILABLE, message);
    response::retry_later(&mut res);
    res
}

/// The answer to a request whose lock operation failed ([`locks::Refusal`]); a passing store
/// failure says when to come back.
fn refused(refusal: locks::Refusal) -> Response<Body> {
    let mut res = response::text(refusal.status(), refusal.explanation());
    if res.status() == StatusCode::SERVICE_UNAVAILABLE {
        response::retry_later(&mut res);
    }
    res
}

/// The raw path of the `Destination` header (an absolute URL or an absolute path; the host is
/// ignored, as dav-server does): None without the header, `Err` when it is not readable.
fn destination_path<B>(req: &Request<B>) -> Option<Result<String, ()>> {
    let text = req.headers().get(DESTINATION)?;
    let parsed = text.to_str().map_err(|_| ()).and_then(|text| {
        if text.starts_with('/') {
            Ok(text.to_string())
        } else {
            text.parse::<http::Uri>().map(|uri| uri.path().to_string()).map_err(|_| ())
        }
    });
    Some(parsed)
}

fn inside_mount(raw: &str) -> Result<(), PathRefusal> {
    let path = DavPath::new(raw).map_err(|_| {
        (
            StatusCode::BAD_REQUEST,
            "The path is not valid (bad encoding, or it climbs above the root).\n",
        )
    })?;
    let normalised = String::from_utf8_lossy(path.with_prefix().as_bytes()).into_owned();
    if is_mount_path(&normalised) {
        Ok(())
    } else {
        Err((StatusCode::FORBIDDEN, "The path must stay inside /dav/.\n"))
    }
}

/// Rewrites a LOCK's `Timeout` so that no lock outlives `cap` seconds without a refresh: a
/// missing or `Infinite` timeout would otherwise lock a file for good (Office sometimes sends
/// UNLOCK without credentials, which is refused, and the lock stays).
fn cap_lock_timeout<B>(req: &mut Request<B>, cap: u64) {
    let asked = req.headers().get(TIMEOUT).and_then(|v| v.to_str().ok()).and_then(|v| {
        v.split(',').find_map(|t| t.trim().strip_prefix("Second-")?.parse::<u64>().ok())
    });
    let seconds = asked.map_or(cap, |asked| asked.min(cap));
    if let Ok(value) = HeaderValue::from_str(&format!("Second-{seconds}")) {
        req.headers_mut().insert(TIMEOUT, value);
    }
}

fn asks_infinity<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(DEPTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("infinity"))
}

/// RFC 4918 §9.1: a server may refuse `Depth: infinity` with 403 and this precondition.
fn finite_depth_only() -> Response<Body> {
    let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
                <D:error xmlns:D=\"DAV:\"><D:propfind-finite-depth/></D:error>\n";
    response::respond(StatusCode::FORBIDDEN, response::XML, body)
}

/// The methods OPTIONS advertises on `/`, matching what `/dav/` serves.
pub const ALLOW: &str =
    "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, COPY, MOVE, LOCK, UNLOCK";

/// Answers `OPTIONS /`: Windows probes the server root before mounting a folder below it.
pub fn root_options() -> Response<Body> {
    let mut res = response::empty(StatusCode::OK);
    let h = res.headers_mut();
    h.insert("dav", HeaderValue::from_static("1, 2"));
    h.insert("ms-author-via", HeaderValue::from_static("DAV"));
    h.insert("allow", HeaderValue::from_static(ALLOW));
    h.insert("content-length", HeaderValue::from_static("0"));
    res
}

/// True for the one request allowed without credentials below `/`: `OPTIONS /`.
pub fn is_root_options<B>(req: &Request<B>) -> bool {
    req.method() == Method::OPTIONS && matches!(req.uri().path(), "/" | "*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mount_is_matched_on_whole_segments() {
        assert!(is_mount_path("/dav"));
        assert!(is_mount_path("/dav/"));
        assert!(is_mount_path("/dav/a/b"));
        assert!(!is_mount_path("/davx"));
        assert!(!is_mount_path("/davx/a"));
        assert!(!is_mount_path("/"));
    }

    #[test]
    fn paths_that_leave_the_mount_are_refused() {
        assert!(inside_mount("/dav/a%20b/c").is_ok());
        assert!(inside_mount("/dav/x/../y").is_ok());
        assert_eq!(inside_mount("/dav/../etc").unwrap_err().0, StatusCode::FORBIDDEN);
        assert_eq!(inside_mount("/dav/%2e%2e/etc").unwrap_err().0, StatusCode::FORBIDDEN);
        assert_eq!(inside_mount("/dav/../../etc").unwrap_err().0, StatusCode::BAD_REQUEST);
        assert_eq!(inside_mount("/dav/a%2fb").unwrap_err().0, StatusCode::BAD_REQUEST);
        assert_eq!(inside_mount("/davx/a").unwrap_err().0, StatusCode::FORBIDDEN);
    }
}
