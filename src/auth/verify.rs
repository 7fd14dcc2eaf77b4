//! argon2id: hashing new secrets and verifying presented ones, off the async runtime.
//!
//! Both run on a few dedicated threads (about one per core), each owning one reusable argon2
//! memory buffer. That bounds CPU and memory alike: at most `threads` argon2 computations run at
//! once and they never allocate, so neither a flood of wrong passwords nor a burst of admin
//! commands can push the process to gigabytes (unbounded parallel argon2 reached 7 GB in our
//! measurements; a fresh work area per hash kept growing glibc's heap). Jobs beyond the
//! pool wait in a bounded queue, and a verification that cannot even enter the queue within
//! [`Verifier::QUEUE_WAIT`] is given up ([`Busy`]: answered 503) rather than waiting for ever.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version};
use rand::rand_core::TryRng;
use rand::rngs::SysRng;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, oneshot};

use super::token::Secret;

/// Hashing failed (the OS random source for the salt, or absurd parameters).
#[derive(Debug, thiserror::Error)]
#[error("could not hash the password: {0}")]
pub struct HashError(String);

/// The pool was saturated: the verification could not even be queued in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("every argon2 thread is busy and the queue is full; try again shortly")]
pub struct Busy;

/// The argon2id parameters of new hashes: OWASP's least-memory set (7 MiB, t=5, p=1), which its
/// cheat sheet gives as equal in strength to 19 MiB with t=2 (and costs about the same time).
/// A server runs one verification per core at once, so each MiB saved is saved per core: at
/// 19 MiB, two verifications together took a 2-core node from ~25 MiB to over 64. Hashes made
/// with other parameters keep verifying: theirs are in the PHC string.
const MEMORY_KIB: u32 = 7 * 1024;
const PASSES: u32 = 5;

/// The parameters of [`MEMORY_KIB`] and [`PASSES`].
fn params() -> Params {
    Params::new(MEMORY_KIB, PASSES, 1, Some(Params::DEFAULT_OUTPUT_LEN)).unwrap_or_default()
}

/// Hashes `secret` with argon2id at [`params`] into a PHC string, using `memory` as the work
/// area. Blocking (~20 ms).
fn hash_with_memory(secret: &[u8], memory: &mut Vec<Block>) -> Result<String, HashError> {
    let fail = |e: &dyn std::fmt::Display| HashError(e.to_string());
    let mut salt = [0u8; 16];
    SysRng.try_fill_bytes(&mut salt).map_err(|e| fail(&e))?;
    let params = params();
    fit(memory, &params);
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(secret, &salt, &mut out, &mut memory[..])
        .map_err(|e| fail(&e))?;
    let phc = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| fail(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| fail(&e))?),
        hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(phc.to_string())
}

/// Hashes `secret` in the calling thread with a buffer of its own: for a short-lived CLI
/// process that has no pool. Blocking (~20 ms).
pub fn hash(secret: &str) -> Result<String, HashError> {
    hash_with_memory(secret.as_bytes(), &mut Vec::new())
}

/// Verifies `secret` against a PHC string using `memory` as the work area. Constant-time
/// comparison; any malformed hash is a plain "no".
fn verify_with_memory(phc: &str, secret: &[u8], memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(params), Some(salt), Some(expected)) =
        (Params::try_from(&parsed), parsed.salt.as_ref(), parsed.hash.as_ref())
    else {
        return false;
    };
    fit(memory, &params);
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut out = vec![0u8; expected.len()];
    let computed =
        argon.hash_password_into_with_memory(secret, salt.as_ref(), &mut out, &mut memory[..]);
    computed.is_ok() && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

/// Spends exactly what a verification of a new hash costs, and answers nothing.
fn dummy_with_memory(secret: &[u8], memory: &mut Vec<Block>) {
    let params = params();
    fit(memory, &params);
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let _ = argon.hash_password_into_with_memory(
        secret,
        b"davgate-dummy-salt",
        &mut out,
        &mut memory[..],
    );
}

fn fit(memory: &mut Vec<Block>, params: &Params) {
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
}

enum Job {
    Verify { phc: Arc<str>, secret: Secret, reply: oneshot::Sender<bool> },
    Dummy { secret: Secret, reply: oneshot::Sender<bool> },
    Hash { secret: Secret, reply: oneshot::Sender<Result<String, HashError>> },
}

/// A live count of argon2 verifications (real and dummy), readable from anywhere.
#[derive(Debug, Clone, Default)]
pub struct VerificationCounter(Arc<AtomicU64>);

impl VerificationCounter {
    /// Verifications so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The argon2 pool. Cheap to clone; the threads stop when the last clone is dropped.
#[derive(Clone)]
pub struct Verifier {
    queue: mpsc::Sender<Job>,
    /// Jobs sent and not yet taken by a thread: a thread that finds none waiting gives its
    /// work area back, so an idle server does not keep ~7 MiB per thread.
    pending: Arc<AtomicUsize>,
    verifications: VerificationCounter,
}

impl Verifier {
    /// Jobs that may wait for a thread; further callers wait (asynchronously) for room.
    const QUEUE: usize = 64;
    /// Longest a verification waits for room in the queue before it is given up. The per-address
    /// budget keeps one network from filling the queue; this bounds what many networks can do.
    pub const QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

    /// Starts `threads` argon2 threads.
    pub fn start(threads: usize) -> Result<Self, HashError> {
        let (queue, receiver) = mpsc::channel::<Job>(Self::QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        let verifications = VerificationCounter::default();
        let pending = Arc::new(AtomicUsize::new(0));
        for n in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            let counter = verifications.clone();
            let pending = Arc::clone(&pending);
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || worker(&receiver, &pending, &counter))
                .map_err(|e| HashError(format!("cannot start an argon2 thread: {e}")))?;
        }
        Ok(Self { queue, pending, verifications })
    }

    /// True if `secret` matches `phc`. Waits for a pool thread; never blocks the runtime.
    pub async fn verify(&self, phc: &str, secret: &Secret) -> Result<bool, Busy> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Verify { phc: phc.into(), secret: secret.clone(), reply };
        self.enqueue(job).await?;
        Ok(answer.await.unwrap_or(false))
    }

    /// Spends one verification's worth of time and answers false: for unknown ids, so that
    /// they cannot be told from wrong secrets by timing.
    pub async fn verify_dummy(&self, secret: &Secret) -> Result<bool, Busy> {
        let (reply, answer) = oneshot::channel();
        self.enqueue(Job::Dummy { secret: secret.clone(), reply }).await?;
        let _ = answer.await;
        Ok(false)
    }

    /// Queues a job, waiting at most [`Self::QUEUE_WAIT`] for room. A stopped pool answers as
    /// a refusal would (the reply channel is dropped). The job is counted in `pending` only
    /// once it has its slot: a caller cancelled while it waits for room (its client went away)
    /// leaves no count behind, which would keep every thread's work area forever.
    async fn enqueue(&self, job: Job) -> Result<(), Busy> {
        match tokio::time::timeout(Self::QUEUE_WAIT, self.queue.reserve()).await {
            Ok(Ok(slot)) => {
                self.pending.fetch_add(1, Ordering::AcqRel);
                slot.send(job);
                Ok(())
            }
            Ok(Err(_closed)) => Ok(()),
            Err(_elapsed) => Err(Busy),
        }
    }

    /// Hashes `secret` on the pool, from a blocking context (not from async code).
    pub fn hash_blocking(&self, secret: &str) -> Result<String, HashError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Hash { secret: Secret::new(secret.to_string()), reply };
        let gone = || HashError("the argon2 pool has stopped".into());
        self.pending.fetch_add(1, Ordering::AcqRel);
        if self.queue.blocking_send(job).is_err() {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return Err(gone());
        }
        answer.blocking_recv().map_err(|_| gone())?
    }

    /// Jobs sent and not yet taken by a thread: how far the pool is behind.
    pub fn queue_depth(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// The count of argon2 verifications run since start (real and dummy).
    pub fn counter(&self) -> VerificationCounter {
        self.verifications.clone()
    }
}

/// Where an admin operation hashes a new password.
#[derive(Clone)]
pub enum Hasher {
    /// In the calling thread: the CLI working on the store directly.
    Direct,
    /// On the server's bounded pool (call from a blocking context).
    Pool(Verifier),
}

impl Hasher {
    /// The argon2id PHC string of `secret`. Blocking.
    pub fn hash(&self, secret: &str) -> Result<String, HashError> {
        match self {
            Hasher::Direct => hash(secret),
            Hasher::Pool(pool) => pool.hash_blocking(secret),
        }
    }
}

fn worker(
    receiver: &Mutex<mpsc::Receiver<Job>>,
    pending: &AtomicUsize,
    counter: &VerificationCounter,
) {
    let mut memory = Vec::new();
    loop {
        // The work area (~7 MiB) is reused from job to job while work is waiting, and given
        // back when there is none: a flood costs no allocation per guess, an idle server
        // holds no argon2 memory.
        if pending.load(Ordering::Acquire) == 0 {
            memory = Vec::new();
        }
        let job = {
            let mut guard = receiver.lock().unwrap_or_else(|p| p.into_inner());
            guard.blocking_recv()
        };
        if job.is_some() {
            pending.fetch_sub(1, Ordering::AcqRel);
        }
        match job {
            None => return,
            Some(Job::Verify { phc, secret, reply }) => {
                counter.0.fetch_add(1, Ordering::Relaxed);
                let ok = verify_with_memory(&phc, secret.expose().as_bytes(), &mut memory);
                let _ = reply.send(ok);
            }
            Some(Job::Dummy { secret, reply }) => {
                counter.0.fetch_add(1, Ordering::Relaxed);
                dummy_with_memory(secret.expose().as_bytes(), &mut memory);
                let _ = reply.send(false);
            }
            Some(Job::Hash { secret, reply }) => {
                let _ = reply.send(hash_with_memory(secret.expose().as_bytes(), &mut memory));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_verification_cancelled_while_it_waits_for_room_is_not_counted() {
        // A queue of one and no thread: the first job fills it, the second waits for room.
        let (queue, _receiver) = mpsc::channel::<Job>(1);
        let pending = Arc::new(AtomicUsize::new(0));
        let pool = Verifier { queue, pending, verifications: VerificationCounter::default() };
        let secret = Secret::new("guess".to_string());
        let (reply, _answer) = oneshot::channel();
        pool.enqueue(Job::Dummy { secret: secret.clone(), reply }).await.unwrap();
        assert_eq!(pool.queue_depth(), 1);

        let (reply, _answer) = oneshot::channel();
        let waiting = pool.enqueue(Job::Dummy { secret, reply });
        let cancelled = tokio::time::timeout(std::time::Duration::from_millis(50), waiting).await;
        assert!(cancelled.is_err(), "the second job had no room");
        assert_eq!(pool.queue_depth(), 1, "only the job that was sent is pending");
    }

    #[test]
    fn a_hash_verifies_its_secret_and_nothing_else() {
        let phc = hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{phc}");
        let mut memory = Vec::new();
        assert!(verify_with_memory(&phc, b"correct horse", &mut memory));
        assert!(!verify_with_memory(&phc, b"correct horsf", &mut memory));
        assert!(!verify_with_memory("not a hash", b"correct horse", &mut memory));
    }

    #[test]
    fn our_hashes_are_standard_phc_strings() {
        use argon2::password_hash::PasswordVerifier;
        let phc = hash("interop").unwrap();
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(Argon2::default().verify_password(b"interop", &parsed).is_ok());
    }

    #[tokio::test]
    async fn the_pool_hashes_verifies_and_counts() {
        let pool = Verifier::start(2).unwrap();
        let hasher = Hasher::Pool(pool.clone());
        let phc =
            tokio::task::spawn_blocking(move || hasher.hash("s3cret")).await.unwrap().unwrap();
        assert_eq!(pool.verify(&phc, &Secret::new("s3cret".into())).await, Ok(true));
        assert_eq!(pool.verify(&phc, &Secret::new("nope".into())).await, Ok(false));
        assert_eq!(pool.verify_dummy(&Secret::new("s3cret".into())).await, Ok(false));
        assert_eq!(pool.counter().get(), 3);
    }
}
