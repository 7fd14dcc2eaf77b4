//! The mount's requests when the files live on object storage ([`crate::objectfs`]).
//!
//! The same front as for a local disk (paths checked, scopes admitted, partial writes refused,
//! lock timeouts capped, `Depth: infinity` as the setting says: all done by [`Mount::serve`]
//! before it comes here), the same nesting limit (checked on the namespace), the same upload
//! terms ([`UploadContext`]: `X-OC-Mtime`, `OC-Checksum`, the credential asked again) and the
//! user's quota, then dav-server on the user's [`ObjectFs`] with the user's locks. A
//! folder-scoped password sees its folder as `/dav/`: the filesystem prefixes every key with
//! it, the locks and dead properties keep their real paths, as on disk ([`FolderRoot`]).
//! What the filesystem found out of reach (the bucket, the store) becomes 503 with
//! `Retry-After` instead of dav-server's 500.

use http::header::HeaderValue;
use http::{Method, Request, Response, StatusCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::folder::FolderRoot;
use super::request::RequestState;
use super::{
    Mount, PropsChange, deepens, destination_path, real_key, relative_path, unavailable,
    upload_answer,
};
use crate::auth::Authenticated;
use crate::http::response::{self, Body};
use crate::objectfs::fs::PropsReader;
use crate::objectfs::{ObjectFiles, ObjectFs};
use crate::store::{DeadProp, NsRefusal, ScopeFolder, Store, UserName};

/// The files on object storage, and what the mount keeps per user for them.
pub(super) struct ObjectMount {
    files: Arc<ObjectFiles>,
    /// Per user, held by their COPY/MOVE that take a tree deeper, from the depth check to the
    /// end (as `UserMount::deepening` on disk).
    deepening: Mutex<HashMap<UserName, Arc<tokio::sync::Mutex<()>>>>,
}

impl Mount {
    /// This mount, serving every user's files from object storage instead of `files_root`.
    pub fn with_objects(mut self, objects: Arc<ObjectFiles>) -> Self {
        self.objects = Some(ObjectMount { files: objects, deepening: Mutex::default() });
        self
    }

    /// Serves one checked request on object storage.
    pub(super) async fn serve_objects<B>(
        &self,
        who: &Authenticated,
        req: Request<B>,
        objects: &ObjectMount,
    ) -> Response<Body>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let quota = match self.store.user(who.user()).await {
            Ok(Some(account)) => account.quota_bytes,
            Ok(None) => {
                return response::text(StatusCode::FORBIDDEN, "This account no longer exists.\n");
            }
            Err(e) => {
                tracing::error!(user = %who.user(), "cannot read the account: {e}");
                return unavailable("The store is out of reach; try again in a few seconds.\n");
            }
        };
        let folder = match &who.scope().folder {
            None => None,
            Some(folder) => match self.prepare_object_folder(who.user(), folder).await {
                Ok(root) => Some(Arc::new(root)),
                Err(res) => return res,
            },
        };
        let _deepening = match deepens(&req) {
            true => Some(objects.deepening_of(who.user()).lock_owned().await),
            false => None,
        };
        if let Err(refused) = self.check_object_shape(who.user(), &req, folder.as_deref()).await {
            return refused;
        }
        let uploads = req.method() == Method::PUT || req.method().as_str() == "COPY";
        let _upload_slot = match uploads {
            false => None,
            true => match self.upload_slot() {
                Some(slot) => Some(slot),
                None => {
                    let mut res = response::text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Too many uploads are in progress on this server; try again in a few seconds.\n",
                    );
                    res.headers_mut()
                        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
                    return res;
                }
            },
        };
        let mut fs = objects.files.for_user(who.user()).limited(self.limits.max_depth, quota);
        // A listing's dead properties in one store read, as on disk.
        fs = fs.reading_props(Arc::new(RequestState::default()));
        if let Some(folder) = &folder {
            fs = fs.within(folder.props_key("/"));
        }
        let context = uploads.then(|| self.upload_context(who, &req));
        if let Some(context) = &context {
            fs = fs.for_upload(Arc::clone(context));
        }
        let res = self.run_objects(who, req, fs, folder).await;
        match context {
            Some(context) => upload_answer(&context, res),
            None => res,
        }
    }

    /// Hands a checked request to dav-server with `fs` and the user's locks (seen from the
    /// password's `folder`, if it has one); what was out of reach is a 503.
    async fn run_objects<B>(
        &self,
        who: &Authenticated,
        req: Request<B>,
        fs: Box<ObjectFs>,
        folder: Option<Arc<FolderRoot>>,
    ) -> Response<Body>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let outcome = fs.reachability();
        let props_change = PropsChange::of(&req, folder.as_deref());
        let max_timeout = Duration::from_secs(self.store.settings().lock_timeout.as_seconds());
        let locks =
            self.locks.for_request(who.user(), who.app_password(), max_timeout).within(folder);
        let failed = || {
            let message = "The file storage is out of reach; try again in a few seconds.\n";
            outcome.unreachable().then(|| unavailable(message))
        };
        self.run_dav(who, req, fs, locks, props_change, failed).await
    }

    /// Makes sure a folder password's folder is a folder of the namespace, creating what is
    /// missing of it: a file in its way is the client's 409 (as on disk).
    async fn prepare_object_folder(
        &self,
        user: &UserName,
        folder: &ScopeFolder,
    ) -> Result<FolderRoot, Response<Body>> {
        let root = FolderRoot::new(folder);
        let key = root.props_key("/");
        let now = self.clock.now();
        let ancestors = key.match_indices('/').skip(1).map(|(i, _)| &key[..i]);
        for path in ancestors.chain(std::iter::once(key.as_str())) {
            // Looked at first: on every request but the first, the folder is there.
            let found = match self.store.object_entry(user, path).await {
                Ok(found) => found,
                Err(e) => return Err(folder_unreadable(&e)),
            };
            match found {
                Some(entry) if entry.is_dir => continue,
                Some(_) => return Err(folder_in_the_way(folder)),
                None => {}
            }
            match self.store.object_mkdir(user, path, now).await {
                Ok(Ok(())) => {}
                // Made by a racing request, or a file took its place: looked at again.
                Ok(Err(NsRefusal::Exists)) => match self.store.object_entry(user, path).await {
                    Ok(Some(entry)) if entry.is_dir => {}
                    Ok(_) => return Err(folder_in_the_way(folder)),
                    Err(e) => return Err(folder_unreadable(&e)),
                },
                Ok(Err(_)) => return Err(folder_in_the_way(folder)),
                Err(e) => return Err(folder_unreadable(&e)),
            }
        }
        Ok(root)
    }

    /// Refuses, before anything is touched, what [`super::limits::check_shape`] refuses, the
    /// depth of a tree read from the namespace.
    async fn check_object_shape<B>(
        &self,
        user: &UserName,
        req: &Request<B>,
        folder: Option<&FolderRoot>,
    ) -> Result<(), Response<Body>> {
        let method = req.method().as_str();
        if !matches!(method, "MKCOL" | "PUT" | "COPY" | "MOVE") {
            return Ok(());
        }
        let raw = req.uri().path();
        let (Some(source), Some(key)) = (relative_path(raw), real_key(raw, folder)) else {
            return Ok(());
        };
        let destination = match destination_path(req) {
            Some(Ok(raw)) => relative_path(&raw),
            _ => None,
        };
        let store = self.store.clone();
        let user = user.clone();
        let deeper = |levels: usize| async move {
            let deepest = store.object_depth(&user, &key).await.ok()?;
            let below = deepest.saturating_sub(key.matches('/').count() as u64);
            Some(below > levels as u64)
        };
        let max = self.limits.max_depth;
        super::limits::check_shape_with(method, &source, destination.as_deref(), max, deeper)
            .await
            .map_err(|(status, why)| response::text(status, why.into_owned()))
    }
}

impl ObjectMount {
    /// The lock `user`'s deepening COPY/MOVE take in turn.
    fn deepening_of(&self, user: &UserName) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.deepening.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(map.entry(user.clone()).or_default())
    }
}

/// The disk's per-request memory of dead properties serves the bucket's requests too.
impl PropsReader for RequestState {
    fn dead_props<'a>(
        &'a self,
        store: &'a Store,
        user: &'a UserName,
        key: &'a str,
    ) -> futures_util::future::BoxFuture<'a, crate::store::Result<Vec<DeadProp>>> {
        Box::pin(RequestState::dead_props(self, store, user, key))
    }

    fn forget(&self) {
        RequestState::forget(self);
    }
}

/// A folder password's folder that the store could not show or make: 503, come back later.
fn folder_unreadable(e: &crate::store::Error) -> Response<Body> {
    tracing::error!("cannot serve an app password's folder: {e}");
    unavailable("The store is out of reach; try again in a few seconds.\n")
}

/// A folder password whose folder has a file in its way (409, as on disk).
fn folder_in_the_way(folder: &ScopeFolder) -> Response<Body> {
    response::text(
        StatusCode::CONFLICT,
        format!(
            "This app password's folder {} cannot be opened: a file or a link is in its place.\n",
            crate::log_safe::escaped(folder.as_str())
        ),
    )
}
