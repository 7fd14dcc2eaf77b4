//! The providers a server offers, as configured in the store and as discovered: loaded at
//! start, again when the store's providers change and every hour, and one provider again when
//! a token names a key it does not have. A provider whose discovery fails is kept as
//! unavailable (its link is not offered) and never stops the server.

use chrono::{DateTime, TimeDelta, Utc};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::discovery::{Discovered, discover};
use crate::clock::Clock;
use crate::secret::Secret;
use crate::store::{OidcProvider, ProviderId, Store};

/// How often every provider is discovered again.
pub const REFRESH: Duration = Duration::from_secs(3600);
/// The least time between two discoveries of one provider for an unknown key id (a token
/// naming keys that do not exist cannot make davgate fetch on every request). Counted from
/// the last such discovery only: a key rotated a moment after the start or an hourly refresh
/// is still fetched at once.
pub const MIN_REFETCH: TimeDelta = TimeDelta::seconds(30);

/// One provider and what its discovery brought.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The settings (a secret file already read into `client_secret`).
    pub provider: OidcProvider,
    /// The metadata and keys; None while unavailable.
    pub discovered: Option<Arc<Discovered>>,
    /// Why it is unavailable.
    pub error: Option<String>,
}

/// The providers of a server.
pub struct Registry {
    store: Store,
    http: reqwest::Client,
    clock: Clock,
    /// `{public_url}/auth/oidc/callback`; None without `--public-url` (no provider is offered).
    redirect_uri: Option<String>,
    entries: RwLock<BTreeMap<ProviderId, Entry>>,
    /// When each provider was last discovered again for an unknown key id.
    key_refetched: Mutex<BTreeMap<ProviderId, DateTime<Utc>>>,
    /// Whether the store's providers were read once.
    loaded: AtomicBool,
}

impl Registry {
    /// A registry over `store`'s providers, redirecting to `public_url`'s callback.
    pub fn new(
        store: Store,
        http: reqwest::Client,
        clock: Clock,
        public_url: Option<&str>,
    ) -> Self {
        let redirect_uri =
            public_url.map(|u| format!("{}/auth/oidc/callback", u.trim_end_matches('/')));
        Self {
            store,
            http,
            clock,
            redirect_uri,
            entries: RwLock::new(BTreeMap::new()),
            key_refetched: Mutex::new(BTreeMap::new()),
            loaded: AtomicBool::new(false),
        }
    }

    /// The back-channel client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The redirect URI registered at the providers.
    pub fn redirect_uri(&self) -> Option<&str> {
        self.redirect_uri.as_deref()
    }

    /// The enabled providers that are available, as (id, display name), for the sign-in page.
    pub fn offered(&self) -> Vec<(ProviderId, String)> {
        if self.redirect_uri.is_none() {
            return Vec::new();
        }
        let Ok(entries) = self.entries.read() else { return Vec::new() };
        entries
            .values()
            .filter(|e| e.provider.enabled && e.discovered.is_some())
            .map(|e| (e.provider.id.clone(), e.provider.display_name.clone()))
            .collect()
    }

    /// The provider `id` as it is now.
    pub fn get(&self, id: &ProviderId) -> Option<Entry> {
        self.entries.read().ok()?.get(id).cloned()
    }

    /// Reads the providers from the store and discovers those that are new or changed (all of
    /// them when `all`). Never fails: what fails is logged and marked unavailable.
    pub async fn reload(&self, all: bool) {
        let providers = match self.store.providers().await {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(target: "davgate::oidc", "cannot read the identity providers: {e}");
                return;
            }
        };
        // The new ones are known at once, as not discovered yet: a sign-in started meanwhile is
        // told to try again in a minute, not that its flow is lost.
        if let Ok(mut entries) = self.entries.write() {
            for stored in &providers {
                entries.entry(stored.id.clone()).or_insert_with(|| Entry {
                    provider: stored.clone(),
                    discovered: None,
                    error: Some("not discovered yet".into()),
                });
            }
        }
        let mut fresh = BTreeMap::new();
        for stored in providers {
            let previous = self.get(&stored.id);
            let mut provider = stored.clone();
            if let Some(file) = stored.client_secret_file.clone() {
                provider.client_secret = read_secret(file).await;
            }
            let unchanged = previous.as_ref().is_some_and(|p| p.provider == provider);
            let entry = match previous {
                Some(previous) if unchanged && !all && previous.discovered.is_some() => previous,
                _ => self.discovered(provider).await,
            };
            fresh.insert(stored.id, entry);
        }
        if let Ok(mut entries) = self.entries.write() {
            *entries = fresh;
        }
        self.loaded.store(true, Ordering::Release);
    }

    /// False until the providers were read from the store once: an unknown id may still be
    /// one that is being loaded.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// Discovers `id` again, for a token naming a key we do not have; false when an unknown
    /// key made us discover it less than [`MIN_REFETCH`] ago, or it is gone.
    pub async fn rediscover(&self, id: &ProviderId) -> bool {
        let Some(entry) = self.get(id) else { return false };
        let now = self.clock.now();
        {
            let Ok(mut refetched) = self.key_refetched.lock() else { return false };
            if refetched.get(id).is_some_and(|at| now - *at < MIN_REFETCH) {
                return false;
            }
            refetched.insert(id.clone(), now);
        }
        let entry = self.discovered(entry.provider).await;
        let found = entry.discovered.is_some();
        if let Ok(mut entries) = self.entries.write() {
            entries.insert(id.clone(), entry);
        }
        found
    }

    async fn discovered(&self, provider: OidcProvider) -> Entry {
        if !provider.enabled {
            return Entry { provider, discovered: None, error: Some("disabled".into()) };
        }
        match discover(&provider.issuer, &self.http, self.clock.now()).await {
            Ok(found) => {
                tracing::info!(
                    target: "davgate::oidc",
                    "identity provider '{}' discovered ({} signing keys)",
                    provider.id,
                    found.metadata.jwks().keys().len()
                );
                Entry { provider, discovered: Some(Arc::new(found)), error: None }
            }
            Err(e) => {
                tracing::warn!(
                    target: "davgate::oidc",
                    "identity provider '{}' is unavailable: {e}",
                    provider.id
                );
                Entry { provider, discovered: None, error: Some(e.to_string()) }
            }
        }
    }

    /// Keeps the registry current: at once, on every change of the store's feed (only changed
    /// providers are fetched), and every [`REFRESH`] (all of them). Ends with the feed.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let registry = Arc::clone(self);
        tokio::spawn(async move {
            let mut changes = registry.store.changes();
            registry.reload(true).await;
            let mut hourly = tokio::time::interval(REFRESH);
            hourly.tick().await;
            loop {
                tokio::select! {
                    changed = changes.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        registry.reload(false).await;
                    }
                    _ = hourly.tick() => registry.reload(true).await,
                }
            }
        })
    }
}

/// The first line of a secret file, read off the async runtime; None (logged) if unreadable.
async fn read_secret(file: std::path::PathBuf) -> Option<Secret> {
    let shown = file.display().to_string();
    let read = tokio::task::spawn_blocking(move || std::fs::read_to_string(file)).await;
    match read {
        Ok(Ok(text)) => Some(Secret::new(text.lines().next().unwrap_or("").trim().to_string())),
        Ok(Err(e)) => {
            tracing::warn!(target: "davgate::oidc", "cannot read the client secret file {shown}: {e}");
            None
        }
        Err(e) => {
            tracing::warn!(target: "davgate::oidc", "cannot read the client secret file {shown}: {e}");
            None
        }
    }
}
