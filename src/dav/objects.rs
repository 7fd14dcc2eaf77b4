//! The mount's requests when the files live on object storage ([`crate::objectfs`]).
//!
//! The same front as for a local disk (paths checked, scopes admitted, partial writes refused,
//! lock timeouts capped, `Depth: infinity` as the setting says: all done by [`Mount::serve`]
//! before it comes here), then dav-server on the user's [`ObjectFs`] with the user's locks.
//! What the filesystem found out of reach (the bucket, the store) becomes 503 with
//! `Retry-After` instead of dav-server's 500.

use http::header::HeaderValue;
use http::{Method, Request, Response, StatusCode};
use std::sync::Arc;
use std::time::Duration;

use super::{Mount, PropsChange, credential_lost, unavailable};
use crate::auth::Authenticated;
use crate::http::response::{self, Body};
use crate::objectfs::ObjectFiles;

impl Mount {
    /// This mount, serving every user's files from object storage instead of `files_root`.
    pub fn with_objects(mut self, objects: Arc<ObjectFiles>) -> Self {
        self.objects = Some(objects);
        self
    }

    /// Serves one checked request on object storage.
    pub(super) async fn serve_objects<B>(
        &self,
        who: &Authenticated,
        req: Request<B>,
        objects: &Arc<ObjectFiles>,
    ) -> Response<Body>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        if who.scope().folder.is_some() {
            return response::text(
                StatusCode::NOT_IMPLEMENTED,
                "App passwords limited to a folder are not available with object storage yet.\n",
            );
        }
        match self.store.user(who.user()).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return response::text(StatusCode::FORBIDDEN, "This account no longer exists.\n");
            }
            Err(e) => {
                tracing::error!(user = %who.user(), "cannot read the account: {e}");
                let mut res = response::text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The store is out of reach; try again in a few seconds.\n",
                );
                response::retry_later(&mut res);
                return res;
            }
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
        let mut fs = objects.for_user(who.user());
        if uploads {
            fs = fs.checking_commits(self.reconfirm(who));
        }
        let outcome = fs.reachability();
        let props_change = PropsChange::of(&req, None);
        let max_timeout = Duration::from_secs(self.store.settings().lock_timeout.as_seconds());
        let locks = self.locks.for_request(who.user(), who.app_password(), max_timeout);
        let failed = || {
            let message = "The file storage is out of reach; try again in a few seconds.\n";
            match outcome.refused() {
                Some(denied) => Some(credential_lost(denied)),
                None => outcome.unreachable().then(|| unavailable(message)),
            }
        };
        self.run_dav(who, req, fs, locks, props_change, failed).await
    }
}
