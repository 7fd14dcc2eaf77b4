//! The auth gate: only app passwords open WebDAV.
//!
//! [`Gate::authenticate`] turns a request's headers into an [`Authenticated`] user or a
//! [`Denied`] reason. The primary password never works here: it does not even have the shape of
//! an app password. Costs: a cached credential costs a header parse, one HMAC and a map lookup
//! (the cache is keyed by the parsed credential, so every spelling of one password is one
//! entry); a new one costs one store read and exactly one argon2id verification, whether the id
//! exists or not, whether the secret or the user name is wrong, whether the password is revoked
//! or expired (a dummy verification covers unknown ids): a wrong, unknown, revoked or expired
//! credential looks and takes the same, so timing tells nothing about which ids exist. The
//! right secret of a revoked or expired password is remembered as stale, so a stale client
//! retrying costs one argon2 once and nothing after. Every verification is paid from the client
//! network's [`budget::AddressBudget`], so spraying user names from one address cannot
//! monopolise argon2.

pub mod basic;
pub mod budget;
pub mod cache;
pub mod client;
pub mod shared_throttle;
pub mod throttle;
pub mod token;
pub mod verify;

use chrono::{DateTime, Utc};
use http::HeaderMap;
use http::header::{AUTHORIZATION, USER_AGENT};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::{OnceCell, mpsc};

use crate::clock::Clock;
use crate::metrics::{AuthOutcome, Metrics};
use crate::store::{
    AppPasswordId, AppPasswordStatus, Generation, LoginRecord, MAX_NETWORK_USER_AGENT, NetworkUse,
    NoticedUse, Scope, Store, UsePolicy, UserName, clean_user_agent, network_of,
};
use budget::AddressBudget;
use cache::{CacheEntry, CacheKey, CredentialCache};
use shared_throttle::LoginThrottle;
use throttle::{Policy, Verdict};
use token::Presented;
use verify::Verifier;

/// Proof that a request carried a valid app password. Only this module can make one, and the
/// DAV mount takes one, so no path reaches the files without passing the gate.
/// It carries the app password's scope, so that the mount serves only what the password may
/// reach and do.
#[derive(Debug, Clone)]
pub struct Authenticated {
    user: UserName,
    /// The app password that opened the request and the store generation it was last
    /// confirmed at: what a lock records as its taker, and what an upload re-confirms before
    /// it commits. None only for the benchmarks' bypass.
    credential: Option<(AppPasswordId, Generation)>,
    /// What that password may reach and do (shared with the cache entry: no copy per request).
    scope: Arc<Scope>,
}

impl Authenticated {
    /// The identity a cache entry proves, confirmed at `generation`.
    fn of(entry: &CacheEntry, generation: Generation) -> Self {
        let credential = Some((entry.id.clone(), generation));
        Self { user: entry.user.clone(), credential, scope: Arc::clone(&entry.scope) }
    }

    /// The user whose home is served.
    pub fn user(&self) -> &UserName {
        &self.user
    }

    /// The app password that opened the request: revoking it releases the locks it took.
    pub fn app_password(&self) -> Option<&AppPasswordId> {
        self.credential.as_ref().map(|(id, _)| id)
    }

    /// What the password may reach and do: its access, its folder, its networks.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Benchmark-only: an identity without any credential, to measure the gate's own cost.
    #[cfg(feature = "bench")]
    pub fn bench_bypass(user: UserName) -> Self {
        Self { user, credential: None, scope: Arc::default() }
    }
}

/// Whether the credential that opened `who`'s request still stands at `now`: free while the
/// store generation has not moved since it was confirmed (nothing that can take a credential
/// away was committed), else one store read (no argon2). An upload asks just before its
/// atomic rename, so a password revoked (or an owner disabled) while the body streamed stores
/// nothing. The admin's use policy is not asked again here: an upload in progress is a use.
pub async fn still_standing(
    store: &Store,
    who: &Authenticated,
    now: DateTime<Utc>,
) -> Result<(), Denied> {
    let Some((id, generation)) = &who.credential else { return Ok(()) };
    if store.generation() == *generation && store.cache_trusted() {
        return Ok(());
    }
    let record = store.login_record(id).await.map_err(|e| {
        tracing::warn!("cannot re-confirm a credential before an upload commits: {e}");
        Denied::Unavailable
    })?;
    let reauth = store.settings().sso_reauth_interval.map(|d| d.as_chrono());
    check_standing(&record.ok_or(Denied::UnknownId)?, now, &UsePolicy::default(), reauth)
}

/// Why a request was refused. Every reason but `Unavailable` is answered with the same 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No `Authorization` header: the client has not tried yet.
    NoCredentials,
    /// Not HTTP Basic, or not decodable.
    Malformed,
    /// The password is not an app password (a primary password, or a typo).
    NotAppPassword,
    /// No app password has that id.
    UnknownId,
    /// The secret does not match.
    WrongSecret,
    /// The app password belongs to someone else.
    WrongUser,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
    /// Unused for longer than `app_credentials_idle_ttl`.
    IdleExpired,
    /// Never used within `app_credentials_activation_window` of its creation.
    NeverActivated,
    /// The owner is disabled or removed.
    Disabled,
    /// The store could not be read: a server fault, not the client's.
    Unavailable,
    /// Too many failures from this network for this user: refused before verification (429).
    Throttled,
    /// This network spent its argon2 budget (across all user names): refused before
    /// verification (429).
    OverBudget,
    /// Every argon2 thread is busy and the queue stayed full: refused unverified (503).
    Busy,
    /// A scoped password used from outside its allowed networks: the same 401, decided from
    /// the record (or the cache) before any argon2.
    AddressNotAllowed,
}

impl Denied {
    /// A short word for the log line.
    pub fn as_str(self) -> &'static str {
        match self {
            Denied::NoCredentials => "no credentials",
            Denied::Malformed => "malformed authorization",
            Denied::NotAppPassword => "not an app password",
            Denied::UnknownId => "unknown app password",
            Denied::WrongSecret => "wrong secret",
            Denied::WrongUser => "app password of another user",
            Denied::Expired => "expired app password",
            Denied::Revoked => "revoked app password",
            Denied::IdleExpired => "app password unused for longer than the idle limit",
            Denied::NeverActivated => "app password never used within its activation window",
            Denied::Disabled => "disabled user",
            Denied::Unavailable => "store unavailable",
            Denied::Throttled => "too many failures",
            Denied::OverBudget => "too many sign-in attempts from this network",
            Denied::Busy => "argon2 pool saturated",
            Denied::AddressNotAllowed => "address not allowed for this app password",
        }
    }

    /// The series this refusal is counted in.
    fn outcome(self) -> AuthOutcome {
        match self {
            Denied::NoCredentials => AuthOutcome::NoCredentials,
            Denied::Malformed => AuthOutcome::Malformed,
            Denied::NotAppPassword => AuthOutcome::NotAppPassword,
            Denied::UnknownId => AuthOutcome::UnknownId,
            Denied::WrongSecret => AuthOutcome::WrongSecret,
            Denied::WrongUser => AuthOutcome::WrongUser,
            Denied::Expired => AuthOutcome::Expired,
            Denied::Revoked => AuthOutcome::Revoked,
            Denied::IdleExpired => AuthOutcome::IdleExpired,
            Denied::NeverActivated => AuthOutcome::NeverActivated,
            Denied::Disabled => AuthOutcome::Disabled,
            Denied::Unavailable => AuthOutcome::Unavailable,
            Denied::Throttled => AuthOutcome::Throttled,
            Denied::OverBudget => AuthOutcome::OverBudget,
            Denied::Busy => AuthOutcome::Busy,
            Denied::AddressNotAllowed => AuthOutcome::AddressNotAllowed,
        }
    }

    /// True for the refusals answered 429 (held back a moment, connection closed).
    pub fn is_throttled(self) -> bool {
        matches!(self, Denied::Throttled | Denied::OverBudget)
    }
}

impl Denied {
    /// Whether this refusal counts as a guess for the throttle. Stale clients (revoked, expired)
    /// and a disabled owner with the right secret are not guessing; neither is a client that has
    /// not sent credentials yet. A refused address (decided before argon2, from the record) is
    /// counted as a guess: its quick answer shows that the id exists, so an attacker probing ids
    /// from outside the allowed networks pays the throttle, as a wrong secret does.
    fn is_guess(self) -> bool {
        matches!(
            self,
            Denied::NotAppPassword
                | Denied::UnknownId
                | Denied::WrongSecret
                | Denied::WrongUser
                | Denied::AddressNotAllowed
        )
    }
}

/// A refusal with the user name that was tried (for the failed-login log line).
#[derive(Debug, Clone)]
pub struct Refusal {
    /// What was wrong: logged, while the client sees the same 401 for most reasons.
    pub reason: Denied,
    /// The user name from the header, if one could be read.
    pub user: Option<String>,
    /// With [`Denied::Throttled`] and [`Denied::OverBudget`]: when the client may try again.
    pub retry_after: Option<std::time::Duration>,
}

type Outcome = Result<Authenticated, Denied>;
/// An outcome through the throttle: a refusal may carry when to retry.
type Attempt = Result<Authenticated, (Denied, Option<std::time::Duration>)>;

/// The verifications under way, by credential and client address, each shared by the requests
/// that wait for it.
type Inflight = HashMap<(CacheKey, IpAddr), Arc<OnceCell<Attempt>>>;

/// "Last used" is written at most this often per app password.
const LAST_USED_INTERVAL_SECS: i64 = 60;
/// A network's "last used" is written at most this often per app password and node.
const NETWORK_INTERVAL_SECS: i64 = 60;
/// Longest User-Agent kept in the store.
const MAX_USER_AGENT: usize = 512;

/// The gate in front of WebDAV. One per server; share it behind an `Arc`.
pub struct Gate {
    store: Store,
    verifier: Verifier,
    cache: CredentialCache,
    /// One verification per credential and client address at a time (the address decides an
    /// address-limited password's answer, so two addresses never share one).
    inflight: Mutex<Inflight>,
    last_used: mpsc::Sender<(AppPasswordId, DateTime<Utc>)>,
    /// Uses from a network new to a credential's cache entry, or whose write is due.
    networks: mpsc::Sender<NetworkUse>,
    /// WebDAV's failed sign-ins: in memory, or shared by every node on PostgreSQL.
    throttle: LoginThrottle,
    budget: Arc<AddressBudget>,
    /// What every expiry, window and last-used time is read from.
    clock: Clock,
    /// Where each answer and each credential lookup is counted.
    metrics: Metrics,
}

/// Counters of the gate.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct GateStats {
    /// argon2 verifications since start (real and dummy).
    pub argon2_verifications: u64,
    /// Verified credentials in the cache.
    pub cached_credentials: usize,
    /// (network, user) pairs with recent failures.
    pub throttled_keys: usize,
    /// Client networks that have spent part of their argon2 budget.
    #[serde(default)]
    pub budget_networks: usize,
    /// WebDAV sign-ins refused since start because the app password may not be used from the
    /// client's address (answered without argon2).
    #[serde(default)]
    pub address_refusals: u64,
}

/// How many argon2 threads the gate runs and how many verified credentials it remembers:
/// the two knobs that trade memory for sign-in latency.
#[derive(Debug, Clone)]
pub struct GateOptions {
    /// argon2 verification threads (default: the number of cores).
    pub verify_threads: usize,
    /// Credentials kept in the cache (0 disables it: benchmarks only).
    pub cache_capacity: usize,
    /// (network, user) pairs the WebDAV throttle tracks at most.
    pub throttle_keys: usize,
}

impl Default for GateOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self { verify_threads: cores, cache_capacity: 10_000, throttle_keys: throttle::MAX_KEYS }
    }
}

/// The gate could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// argon2 or its threads failed.
    #[error(transparent)]
    Hash(#[from] verify::HashError),
    /// The OS random source failed.
    #[error("the operating system's random source failed: {0}")]
    Random(#[from] rand::rngs::SysError),
}

impl Gate {
    /// Starts the gate on `clock`, counting into `metrics`: its verification threads and its
    /// last-used writer (needs a tokio runtime).
    pub fn start(
        store: Store,
        options: &GateOptions,
        clock: Clock,
        metrics: Metrics,
    ) -> Result<Self, Error> {
        let verifier = Verifier::start(options.verify_threads)?;
        let cache = CredentialCache::new(options.cache_capacity)?;
        let (last_used, rx) = mpsc::channel(1024);
        tokio::spawn(write_last_used(store.clone(), rx));
        let (networks, rx) = mpsc::channel(1024);
        tokio::spawn(write_networks(store.clone(), rx));
        let inflight = Mutex::new(HashMap::new());
        let throttle = LoginThrottle::new(&store, "dav", options.throttle_keys);
        let budget = Arc::new(AddressBudget::default());
        Ok(Self {
            store,
            verifier,
            cache,
            inflight,
            last_used,
            networks,
            throttle,
            budget,
            clock,
            metrics,
        })
    }

    /// What the gate has been doing, for `davgate status`.
    pub fn stats(&self) -> GateStats {
        GateStats {
            argon2_verifications: self.verifier.counter().get(),
            cached_credentials: self.cache.len(),
            throttled_keys: self.throttle.len(),
            budget_networks: self.budget.len(),
            address_refusals: self.metrics.auth_count(AuthOutcome::AddressNotAllowed),
        }
    }

    /// The per-network argon2 budget, shared with the web sign-in.
    pub fn budget(&self) -> Arc<AddressBudget> {
        Arc::clone(&self.budget)
    }

    /// Hashes new passwords on this gate's bounded argon2 pool.
    pub fn hasher(&self) -> verify::Hasher {
        verify::Hasher::Pool(self.verifier.clone())
    }

    /// The argon2 pool, shared with the web login (which verifies primary passwords on it).
    pub fn verifier(&self) -> Verifier {
        self.verifier.clone()
    }

    /// The count of argon2 verifications since start (for tests and benchmarks).
    pub fn verification_counter(&self) -> verify::VerificationCounter {
        self.verifier.counter()
    }

    /// Checks a request's credentials; `peer` is the client's address (for the throttle and
    /// the budget). Each answer is counted (cached, verified or the reason refused).
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: IpAddr,
    ) -> Result<Authenticated, Refusal> {
        let checked = self.check(headers, peer).await;
        self.metrics.auth(match &checked {
            Ok((_, true)) => AuthOutcome::Cached,
            Ok((_, false)) => AuthOutcome::Verified,
            Err(refusal) => refusal.reason.outcome(),
        });
        checked.map(|(who, _)| who)
    }

    /// [`Gate::authenticate`], also saying whether the answer came from the cache.
    async fn check(
        &self,
        headers: &HeaderMap,
        peer: IpAddr,
    ) -> Result<(Authenticated, bool), Refusal> {
        let refuse = |reason, user: Option<&str>| Refusal {
            reason,
            user: user.map(str::to_string),
            retry_after: None,
        };
        let header =
            headers.get(AUTHORIZATION).ok_or_else(|| refuse(Denied::NoCredentials, None))?;
        let basic =
            basic::parse(header.as_bytes()).ok_or_else(|| refuse(Denied::Malformed, None))?;
        let user = basic.user;
        let presented =
            match token::parse(basic.password.expose()) {
                Ok(presented) => presented,
                Err(_) => {
                    let no = async { Err(Denied::NotAppPassword) };
                    let agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
                    let attempt = self.throttled(peer, agent, &user, false, no).await;
                    return attempt.map(|who| (who, false)).map_err(|(reason, retry_after)| {
                        Refusal { reason, user: Some(user), retry_after }
                    });
                }
            };
        let key = self.cache.key(&user, &presented);
        if let Some(entry) = self.cache.get(&key) {
            // Checked on every request: a cached credential is no pass from another network.
            if !entry.scope.allows(peer) {
                return Err(refuse(Denied::AddressNotAllowed, Some(entry.user.as_str())));
            }
            let now = self.clock.now();
            let outcome = self.confirm_cached(&entry, now).await;
            match outcome {
                Err(Denied::Revoked | Denied::Expired) => self.cache.mark_stale(key),
                // The store did not answer: the entry stays, to be confirmed once it does.
                Err(Denied::Unavailable) => {}
                Err(_) => self.cache.remove(&key),
                Ok(_) => self.note_network(&entry, peer, headers, now),
            }
            return outcome
                .map(|who| (who, true))
                .map_err(|reason| refuse(reason, Some(entry.user.as_str())));
        }
        if self.cache.is_stale(&key) {
            return Err(refuse(Denied::Revoked, Some(&user)));
        }
        let user_agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
        let attempt = self.verify_once(key, &user, presented, user_agent, peer).await;
        attempt.map(|who| (who, false)).map_err(|(reason, retry_after)| Refusal {
            reason,
            user: Some(user),
            retry_after,
        })
    }

    /// Runs one verification under the throttle and, when it costs argon2, the network's
    /// budget: both charged before it starts (so parallel guesses cannot outrun the count). A
    /// success clears the throttle's key and gives the budget's token back (the credential is
    /// cached now, so that refund is earned once per credential); an attempt that was no guess
    /// is refunded to the throttle; a failed guess's answer is held back.
    async fn throttled(
        &self,
        peer: IpAddr,
        user_agent: Option<&str>,
        user: &str,
        costs_argon2: bool,
        verification: impl std::future::Future<Output = Outcome>,
    ) -> Attempt {
        let policy = self.policy();
        match self.throttle.admit(&policy, peer, user, &self.clock).await {
            Ok(Verdict::Allow) => {}
            Ok(Verdict::Refuse { retry_after }) => {
                return Err((Denied::Throttled, Some(retry_after)));
            }
            Err(e) => {
                tracing::warn!(target: "davgate::auth", "sign-in refused, the throttle's store failed: {e}");
                return Err((Denied::Unavailable, None));
            }
        }
        let now = self.clock.instant();
        if costs_argon2
            && let Verdict::Refuse { retry_after } = self.budget.charge(&policy, peer, now)
        {
            self.throttle.refund(&policy, peer, user).await;
            return Err((Denied::OverBudget, Some(retry_after)));
        }
        let outcome = verification.await;
        if costs_argon2 && matches!(outcome, Ok(_) | Err(Denied::Unavailable | Denied::Busy)) {
            self.budget.refund(&policy, peer, self.clock.instant());
        }
        match outcome {
            Ok(who) => {
                self.throttle.record_success(&policy, peer, user).await;
                Ok(who)
            }
            Err(reason) => {
                if reason.is_guess() {
                    let failure = self.throttle.failure(&policy, peer, user).await;
                    if failure.locked {
                        let (now, max) = (self.clock.now(), policy.max_failures);
                        let client = crate::audit::Client {
                            address: peer,
                            user_agent: user_agent.map(str::to_string),
                        };
                        let minutes = throttle::LOCKOUT.as_secs() / 60;
                        let locked =
                            crate::audit::lockout(&self.store, now, "dav", user, max, minutes);
                        crate::audit::with_client(client, locked).await;
                    }
                    tokio::time::sleep(failure.delay).await;
                } else {
                    self.throttle.refund(&policy, peer, user).await;
                }
                Err((reason, None))
            }
        }
    }

    /// Concurrent first requests with the same credential share one verification, and one
    /// throttle charge: a client mounting with many connections at once is one attempt.
    async fn verify_once(
        &self,
        key: CacheKey,
        user: &str,
        presented: Presented,
        user_agent: Option<&str>,
        peer: IpAddr,
    ) -> Attempt {
        let cell = Arc::clone(self.lock_inflight().entry((key, peer)).or_default());
        let outcome = cell
            .get_or_init(|| {
                let verification = self.verify_new(key, user, presented, user_agent, peer);
                self.throttled(peer, user_agent, user, true, verification)
            })
            .await
            .clone();
        let mut inflight = self.lock_inflight();
        if inflight.get(&(key, peer)).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            inflight.remove(&(key, peer));
        }
        outcome
    }

    /// `sso_reauth_interval` in force (None: off).
    fn reauth_interval(&self) -> Option<chrono::TimeDelta> {
        self.store.settings().sso_reauth_interval.map(|d| d.as_chrono())
    }

    /// The throttle policy in force (the settings of the store's current snapshot).
    fn policy(&self) -> Policy {
        Policy::from_settings(&self.store.settings())
    }

    /// A cache hit: still valid if the store's generation has not moved since it was checked
    /// (nothing that can take a credential away was committed; a setting change moves it too),
    /// this node has confirmed that generation recently ([`Store::cache_trusted`]: on a shared
    /// store, a node cut from its notifications stops trusting what it cached), it has not
    /// expired, and its last use on this node is within the idle limit; otherwise the record
    /// is read again (no argon2: the secret already matched this hash), and a store that does
    /// not answer is answered 503. The hit itself costs two atomics and the settings snapshot.
    async fn confirm_cached(&self, entry: &CacheEntry, now: DateTime<Utc>) -> Outcome {
        let generation = self.store.generation();
        let trusted = self.store.cache_trusted();
        let policy = self.store.settings().use_policy();
        let idle = policy.idle_ttl.is_some_and(|ttl| now >= entry.last_seen() + ttl.as_chrono());
        if entry.generation() != generation
            || !trusted
            || idle
            || entry.expires_at.is_some_and(|at| now >= at)
        {
            let mut record = self.login_record(&entry.id).await?.ok_or(Denied::UnknownId)?;
            if record.password.secret_hash != entry.secret_hash {
                return Err(Denied::UnknownId);
            }
            // This node's own uses count too: the store's "last used" is written once a minute.
            let password = &mut record.password;
            password.last_used_at = password.last_used_at.max(Some(entry.last_seen()));
            password.first_used_at.get_or_insert(entry.last_seen());
            check_standing(&record, now, &policy, self.reauth_interval())?;
            entry.set_sso_since(record.owner_sso_since);
            entry.confirm(generation);
        }
        if entry.needs_reauth(now, self.reauth_interval()) {
            return Err(Denied::Disabled);
        }
        entry.seen(now);
        if entry.last_used_due(now, LAST_USED_INTERVAL_SECS) {
            let _ = self.last_used.try_send((entry.id.clone(), now));
        }
        Ok(Authenticated::of(entry, generation))
    }

    /// A credential not in the cache: the record is read, then verified with argon2 (a dummy
    /// one for an unknown id). An address outside the password's networks is refused from the
    /// record, before argon2: a password that cannot be used from here costs nothing to refuse.
    async fn verify_new(
        &self,
        key: CacheKey,
        user: &str,
        presented: Presented,
        user_agent: Option<&str>,
        peer: IpAddr,
    ) -> Outcome {
        let generation = self.store.generation();
        let now = self.clock.now();
        let Some(record) = self.login_record(&presented.id).await? else {
            self.verifier.verify_dummy(&presented.secret).await.map_err(|_| Denied::Busy)?;
            return Err(Denied::UnknownId);
        };
        let password = &record.password;
        if !password.scope.allows(peer) {
            return Err(Denied::AddressNotAllowed);
        }
        // Verified even when revoked or expired: the same time and answer as a wrong secret.
        let matched = self.verifier.verify(&password.secret_hash, &presented.secret).await;
        if !matched.map_err(|_| Denied::Busy)? {
            return Err(Denied::WrongSecret);
        }
        // Compared after the verification, so a wrong user name costs the same time.
        if !user.eq_ignore_ascii_case(password.owner.as_str()) {
            return Err(Denied::WrongUser);
        }
        let policy = self.store.settings().use_policy();
        if let Err(reason) = check_standing(&record, now, &policy, self.reauth_interval()) {
            if matches!(reason, Denied::Revoked | Denied::Expired) {
                self.cache.mark_stale(key);
            }
            return Err(reason);
        }
        if password.access_method.is_none() {
            self.record_first_use(&password.id, &password.owner, user_agent, peer, now).await;
        } else {
            let _ = self.last_used.try_send((password.id.clone(), now));
        }
        let entry = CacheEntry::new(
            password.id.clone(),
            password.owner.clone(),
            password.expires_at,
            password.secret_hash.clone(),
            Arc::new(password.scope.clone()),
            generation,
            now,
        );
        entry.set_sso_since(record.owner_sso_since);
        let network = network_of(peer);
        entry.network_due(network, now, NETWORK_INTERVAL_SECS);
        let user_agent = clean_user_agent(user_agent, MAX_NETWORK_USER_AGENT);
        let id = password.id.clone();
        let _ = self.networks.try_send(NetworkUse { id, network, at: now, user_agent });
        let who = Authenticated::of(&entry, generation);
        self.cache.insert(key, entry);
        Ok(who)
    }

    /// Queues a use from `peer`'s network when the entry has not seen that network yet, or
    /// its last write is a minute old; otherwise nothing (the User-Agent is not even read). A
    /// full queue drops the use: the next one a minute later writes it.
    fn note_network(
        &self,
        entry: &CacheEntry,
        peer: IpAddr,
        headers: &HeaderMap,
        now: DateTime<Utc>,
    ) {
        let network = network_of(peer);
        if entry.network_due(network, now, NETWORK_INTERVAL_SECS) {
            let agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
            let user_agent = clean_user_agent(agent, MAX_NETWORK_USER_AGENT);
            let _ = self.networks.try_send(NetworkUse {
                id: entry.id.clone(),
                network,
                at: now,
                user_agent,
            });
        }
    }

    /// Stores the client of a first use before answering, so that the very first response
    /// already reflects it in any listing. Once per app password, so the wait is affordable.
    async fn record_first_use(
        &self,
        id: &AppPasswordId,
        owner: &UserName,
        user_agent: Option<&str>,
        peer: IpAddr,
        now: DateTime<Utc>,
    ) {
        let method = client::access_method(user_agent);
        let raw = clean_user_agent(user_agent, MAX_USER_AGENT);
        match self.store.record_first_use(id, &method, &raw, now).await {
            Ok(()) => {
                tracing::info!(app_password = %id, access_method = %method, "app password first used");
                let kind = crate::store::EventKind::AppPasswordFirstUsed;
                let actor = crate::store::ActorKind::User;
                let mut event =
                    crate::store::AuditEvent::new(now, kind, actor, Some(owner.as_str()))
                        .about(owner)
                        .from_client(Some(peer), user_agent);
                event.app_password = Some(id.to_string());
                event.detail = serde_json::json!({ "access_method": method.to_string() });
                self.store.audit(event);
            }
            Err(e) => tracing::error!(app_password = %id, "cannot record first use: {e}"),
        }
    }

    async fn login_record(&self, id: &AppPasswordId) -> Result<Option<LoginRecord>, Denied> {
        let started = std::time::Instant::now();
        let read = self.store.login_record(id).await;
        self.metrics.credential_lookup(started.elapsed());
        read.map_err(|e| {
            if e.is_unavailable() {
                tracing::warn!("credential store unreachable: {e}");
            } else {
                tracing::error!("credential store read failed: {e}");
            }
            Denied::Unavailable
        })
    }

    fn lock_inflight(&self) -> std::sync::MutexGuard<'_, Inflight> {
        self.inflight.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether an app password still opens anything: not revoked, not expired, owner enabled, and
/// within the admin's use `policy` (idle limit, activation window), and an `sso` owner signed
/// in through the provider within `reauth` (refused like a disabled owner until they sign in
/// again). A disabled owner is not final: enabling the account again lets every password still
/// in standing work again.
fn check_standing(
    record: &LoginRecord,
    now: DateTime<Utc>,
    policy: &UsePolicy,
    reauth: Option<chrono::TimeDelta>,
) -> Result<(), Denied> {
    let stale_sso =
        matches!((record.owner_sso_since, reauth), (Some(since), Some(r)) if now - since > r);
    if record.password.revoked_at.is_some() {
        return Err(Denied::Revoked);
    }
    if record.password.expires_at.is_some_and(|at| now >= at) {
        return Err(Denied::Expired);
    }
    if record.owner_disabled || stale_sso {
        return Err(Denied::Disabled);
    }
    match record.password.status(now, policy) {
        AppPasswordStatus::ExpiredUnused => Err(Denied::IdleExpired),
        AppPasswordStatus::ExpiredNeverUsed => Err(Denied::NeverActivated),
        _ => Ok(()),
    }
}

/// Owns every "last used" write: batches what arrived together into one transaction.
async fn write_last_used(store: Store, mut rx: mpsc::Receiver<(AppPasswordId, DateTime<Utc>)>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        if let Err(e) = store.record_last_used(std::mem::take(&mut batch)).await {
            tracing::warn!("cannot record last use: {e}");
        }
    }
}

/// Owns every network write: batches what arrived together into one transaction, and says
/// in the log when a password is used from a network it was not known on.
/// The audit events of a use the network writer noticed (the security e-mails follow from
/// them): from a network new to its password, "used from a new network", unless it is the
/// password's very first network (its first use says that already); and "used by a different
/// client" when the client of that use is another kind than the one recorded at first use (a
/// Finder password now used by curl), from a new network or from a known one whose last client
/// was not already that kind (so a client that stays is told once, not every minute).
async fn audit_noticed_use(store: &Store, noticed: &NoticedUse) {
    let use_ = &noticed.use_;
    let record = match store.login_record(&use_.id).await {
        Ok(Some(record)) => record,
        Ok(None) => return,
        Err(e) => {
            return tracing::warn!(app_password = %use_.id, "cannot read the app password: {e}");
        }
    };
    let password = record.password;
    let client = client::access_method(Some(use_.user_agent.as_str()));
    // A whole-address network (loopback) is the client's address itself.
    let address =
        (use_.network.prefix_len() == use_.network.max_prefix_len()).then(|| use_.network.addr());
    let event = |kind| {
        let actor = crate::store::ActorKind::User;
        let mut event =
            crate::store::AuditEvent::new(use_.at, kind, actor, Some(password.owner.as_str()))
                .about(&password.owner)
                .from_client(address, Some(use_.user_agent.as_str()));
        event.app_password = Some(use_.id.to_string());
        event
    };
    // Another network known from before this use: then this one is new (a first network
    // written in the same batch as a later one is not counted against it).
    let known_before =
        password.networks.iter().any(|n| n.network != use_.network && n.first_at <= use_.at);
    let previous = noticed.previous_user_agent.as_deref();
    if previous.is_none() && known_before {
        let mut e = event(crate::store::EventKind::AppPasswordNewNetwork);
        e.detail = serde_json::json!({ "network": use_.network.to_string(), "client": client });
        store.audit(e);
    }
    let client_stayed = previous.is_some_and(|p| client::access_method(Some(p)) == client);
    if let Some(first) = password.access_method.as_deref()
        && first != client
        && !client_stayed
    {
        let mut e = event(crate::store::EventKind::AppPasswordNewClient);
        e.detail = serde_json::json!({
            "network": use_.network.to_string(),
            "client": client,
            "first_client": first,
        });
        store.audit(e);
    }
}

async fn write_networks(store: Store, mut rx: mpsc::Receiver<NetworkUse>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        match store.record_networks(std::mem::take(&mut batch)).await {
            Ok(noticed) => {
                for n in noticed {
                    if n.previous_user_agent.is_none() {
                        let (id, network) = (&n.use_.id, &n.use_.network);
                        tracing::info!(app_password = %id, network = %network, "app password used from a new network");
                    }
                    audit_noticed_use(&store, &n).await;
                }
            }
            Err(e) => tracing::warn!("cannot record the networks of app passwords: {e}"),
        }
    }
}
