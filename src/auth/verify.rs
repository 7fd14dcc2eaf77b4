//! argon2id: hashing new secrets, and verifying presented ones off the async runtime.
//!
//! Verification runs on a few dedicated threads (about one per core), each owning one
//! reusable argon2 memory buffer. That bounds both CPU and memory: at most `threads`
//! verifications run at once and they never allocate, so a flood of wrong passwords cannot
//! push the process to gigabytes (unbounded parallel argon2 reached 7 GB in our measurements).
//! Requests beyond the pool wait in a bounded queue.

use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, oneshot};

use super::token::Secret;

/// Hashing failed (the OS random source for the salt, or absurd parameters).
#[derive(Debug, thiserror::Error)]
#[error("could not hash the password: {0}")]
pub struct HashError(String);

/// Hashes a secret with argon2id at OWASP's parameters (19 MiB, t=2, p=1). Blocking (~20 ms):
/// call it from a blocking context.
pub fn hash(secret: &str) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(secret.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Verifies `secret` against a PHC string using `memory` as argon2's work area (grown if the
/// hash asks for more). Constant-time comparison; any malformed hash is a plain "no".
fn verify_with_memory(phc: &str, secret: &[u8], memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(params), Some(salt), Some(expected)) = (
        Params::try_from(&parsed),
        parsed.salt.as_ref(),
        parsed.hash.as_ref(),
    ) else {
        return false;
    };
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut out = vec![0u8; expected.len()];
    let computed =
        argon.hash_password_into_with_memory(secret, salt.as_ref(), &mut out, &mut memory[..]);
    computed.is_ok() && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

struct Job {
    /// The stored hash, or None to verify against the dummy hash.
    phc: Option<Arc<str>>,
    secret: Secret,
    reply: oneshot::Sender<bool>,
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

/// The verification pool. Cheap to clone; the threads stop when the last clone is dropped.
#[derive(Clone)]
pub struct Verifier {
    queue: mpsc::Sender<Job>,
    verifications: Arc<AtomicU64>,
}

impl Verifier {
    /// Jobs that may wait for a thread; further callers wait (asynchronously) for room.
    const QUEUE: usize = 64;

    /// Starts `threads` verification threads. Computes the dummy hash used for unknown ids
    /// (one hash, ~20 ms), so an unknown user costs the same as a wrong secret.
    pub fn start(threads: usize) -> Result<Self, HashError> {
        let dummy: Arc<str> = hash("davgate dummy secret that matches nothing")?.into();
        let (queue, receiver) = mpsc::channel::<Job>(Self::QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        let verifications = Arc::new(AtomicU64::new(0));
        for n in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            let dummy = Arc::clone(&dummy);
            let counter = Arc::clone(&verifications);
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || worker(&receiver, &dummy, &counter))
                .map_err(|e| HashError(format!("cannot start a verification thread: {e}")))?;
        }
        Ok(Self {
            queue,
            verifications,
        })
    }

    /// True if `secret` matches `phc`. Waits for a pool thread; never blocks the runtime.
    pub async fn verify(&self, phc: &str, secret: &Secret) -> bool {
        self.submit(Some(phc.into()), secret.clone()).await
    }

    /// Spends one verification's worth of time and answers false: for unknown ids, so that
    /// they cannot be told from wrong secrets by timing.
    pub async fn verify_dummy(&self, secret: &Secret) -> bool {
        self.submit(None, secret.clone()).await;
        false
    }

    /// The count of argon2 verifications run since start (real and dummy).
    pub fn counter(&self) -> VerificationCounter {
        VerificationCounter(Arc::clone(&self.verifications))
    }

    async fn submit(&self, phc: Option<Arc<str>>, secret: Secret) -> bool {
        let (reply, answer) = oneshot::channel();
        if self.queue.send(Job { phc, secret, reply }).await.is_err() {
            return false; // pool gone (shutting down): refuse
        }
        answer.await.unwrap_or(false)
    }
}

fn worker(receiver: &Mutex<mpsc::Receiver<Job>>, dummy: &str, counter: &AtomicU64) {
    let mut memory = vec![Block::default(); Params::DEFAULT.block_count()];
    loop {
        let job = {
            let mut guard = receiver.lock().unwrap_or_else(|p| p.into_inner());
            guard.blocking_recv()
        };
        let Some(job) = job else { return };
        counter.fetch_add(1, Ordering::Relaxed);
        let ok = match &job.phc {
            Some(phc) => verify_with_memory(phc, job.secret.expose().as_bytes(), &mut memory),
            None => {
                verify_with_memory(dummy, job.secret.expose().as_bytes(), &mut memory);
                false
            }
        };
        let _ = job.reply.send(ok);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_secret_and_nothing_else() {
        let phc = hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        let mut memory = Vec::new();
        assert!(verify_with_memory(&phc, b"correct horse", &mut memory));
        assert!(!verify_with_memory(&phc, b"correct horsf", &mut memory));
        assert!(!verify_with_memory(
            "not a hash",
            b"correct horse",
            &mut memory
        ));
    }

    #[tokio::test]
    async fn the_pool_verifies_and_counts() {
        let pool = Verifier::start(2).unwrap();
        let phc = hash("s3cret").unwrap();
        assert!(pool.verify(&phc, &Secret::new("s3cret".into())).await);
        assert!(!pool.verify(&phc, &Secret::new("nope".into())).await);
        assert!(!pool.verify_dummy(&Secret::new("s3cret".into())).await);
        assert_eq!(pool.counter().get(), 3);
    }
}
