//! argon2id with the OWASP parameters, on a fixed set of threads fed by a
//! bounded queue.
//!
//! Why not `spawn_blocking`: under a flood of logins the blocking pool grew to
//! hundreds of threads, each allocating 19 MiB for argon2, and the api reached
//! 9 GB of RSS while every other endpoint starved. Here `HASH_WORKERS` threads each own one reusable argon2 buffer,
//! at most `HASH_QUEUE` jobs wait, and a job that finds the queue full is
//! refused at once with `PortError::Busy` (a 503 `busy`), never queued.

use anyhow::anyhow;
use application::PortError;
use application::ports::{PasswordHash, PasswordHasher};
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash as PhcHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use domain::Password;
use shaku::Component;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tokio::sync::oneshot;
use tracing::Span;

/// OWASP: 19 MiB of memory, 2 passes, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;
/// Bytes of salt and of hash output, as the argon2 crate's own defaults.
const SALT_BYTES: usize = 16;
const OUTPUT_BYTES: usize = 32;

fn params() -> Result<Params, PortError> {
    Params::new(MEMORY_KIB, PASSES, LANES, Some(OUTPUT_BYTES))
        .map_err(|e| PortError::Unknown(anyhow!("argon2 parameters: {e}")))
}

/// How many workers and waiting jobs the pool allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashPoolSize {
    /// Threads that hash, each holding one 19 MiB buffer once it has worked.
    pub workers: usize,
    /// Jobs that may wait for a worker; one more is refused as `Busy`.
    pub queue: usize,
}

enum Work {
    Hash { secret: String, reply: oneshot::Sender<Result<String, PortError>> },
    Verify { secret: String, encoded: String, reply: oneshot::Sender<Result<bool, PortError>> },
}

struct Job {
    work: Work,
    enqueued: Instant,
    /// The caller's span, so that the worker's logs belong to its request.
    span: Span,
}

/// What the submitting side and the workers share.
struct Shared {
    /// Jobs accepted and not yet picked up by a worker (the queue depth).
    waiting: AtomicUsize,
    /// The `pool` label of this pool's metrics; one pool per process in
    /// production, several in the integration tests (one per app).
    label: String,
}

impl Shared {
    fn report_depth(&self, depth: usize) {
        metrics::gauge!("password_hash_queue_depth", "pool" => self.label.clone()).set(depth as f64);
    }
}

/// Numbers the pools of this process, for their `pool` metric label.
static POOLS: AtomicU64 = AtomicU64::new(0);

/// The workers and their queue. Dropping the last handle lets the workers
/// finish the queued jobs and exit.
pub struct HashPool {
    jobs: SyncSender<Job>,
    shared: Arc<Shared>,
}

impl HashPool {
    fn start(size: HashPoolSize) -> Result<Self, PortError> {
        let params = params()?;
        let (jobs, receiver) = mpsc::sync_channel(size.queue);
        let receiver = Arc::new(Mutex::new(receiver));
        let label = (POOLS.fetch_add(1, Ordering::Relaxed) + 1).to_string();
        let shared = Arc::new(Shared { waiting: AtomicUsize::new(0), label });
        for n in 0..size.workers.max(1) {
            let (receiver, shared, params) = (Arc::clone(&receiver), Arc::clone(&shared), params.clone());
            std::thread::Builder::new()
                .name(format!("argon2-{}-{n}", shared.label))
                .spawn(move || work(&receiver, &shared, &params))
                .map_err(|e| PortError::Unknown(anyhow!(e).context("starting a hashing thread")))?;
        }
        Ok(Self { jobs, shared })
    }

    /// Queues `work` unless the queue is full; never waits.
    fn submit(&self, work: Work) -> Result<(), PortError> {
        // Counted before sending so that the worker's decrement can never run first.
        let depth = self.shared.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        match self.jobs.try_send(Job { work, enqueued: Instant::now(), span: Span::current() }) {
            Ok(()) => {
                self.shared.report_depth(depth);
                Ok(())
            }
            Err(refused) => {
                self.shared.waiting.fetch_sub(1, Ordering::SeqCst);
                match refused {
                    TrySendError::Full(_) => {
                        metrics::counter!("password_hash_refusals_total", "pool" => self.shared.label.clone())
                            .increment(1);
                        Err(PortError::Busy)
                    }
                    TrySendError::Disconnected(_) => Err(PortError::Unknown(anyhow!("the hashing threads stopped"))),
                }
            }
        }
    }
}

/// Awaits a worker's answer; a worker that died mid-job drops the sender.
async fn answer<T>(reply: oneshot::Receiver<Result<T, PortError>>) -> Result<T, PortError> {
    reply.await.map_err(|_| PortError::Unknown(anyhow!("a hashing thread stopped mid-job")))?
}

/// The nice value of the hashing threads. Hashing is the one CPU-heavy job
/// of the api: at the same priority, a login flood that keeps every worker
/// busy takes the cores from requests that need a millisecond each. At 10 a
/// hashing thread still gets about a tenth of a contended core, and all of an
/// idle one; logins slow down under load, and the bounded queue turns that
/// into fast 503s instead of a backlog.
const HASHING_NICENESS: i32 = 10;

fn lower_priority() {
    // On Linux the nice value belongs to the thread, addressed by its id.
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), HASHING_NICENESS) {
        tracing::warn!(error = %e, "could not lower the priority of a hashing thread");
    }
}

/// One worker: takes jobs until the pool is dropped, reusing one buffer.
fn work(receiver: &Mutex<Receiver<Job>>, shared: &Shared, params: &Params) {
    lower_priority();
    // Allocated at the first job: an idle pool (a test app, a notifier) costs no memory.
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = {
            let receiver = receiver.lock().unwrap_or_else(PoisonError::into_inner);
            match receiver.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let depth = shared.waiting.fetch_sub(1, Ordering::SeqCst).saturating_sub(1);
        shared.report_depth(depth);
        metrics::histogram!("password_hash_wait_seconds", "pool" => shared.label.clone())
            .record(job.enqueued.elapsed().as_secs_f64());
        let _entered = job.span.enter();
        let counted = |op: &'static str| {
            metrics::counter!("password_hashes_total", "pool" => shared.label.clone(), "op" => op).increment(1);
        };
        match job.work {
            // A caller that gave up (client gone) costs no hash.
            Work::Hash { secret, reply } => {
                if reply.is_closed() {
                    continue;
                }
                let hashed = hash(secret.as_bytes(), params, &mut memory);
                counted("hash");
                let _ = reply.send(hashed);
            }
            Work::Verify { secret, encoded, reply } => {
                if reply.is_closed() {
                    continue;
                }
                let matches = verify(secret.as_bytes(), &encoded, &mut memory);
                counted("verify");
                let _ = reply.send(Ok(matches));
            }
        }
    }
}

/// The first `blocks` blocks of the worker's buffer, grown if a stored hash
/// asks for more memory than ours.
fn blocks(memory: &mut Vec<Block>, blocks: usize) -> &mut [Block] {
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    &mut memory[..blocks]
}

/// A PHC string `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`, the format
/// the argon2 crate writes, so hashes stored before the pool keep verifying.
fn hash(secret: &[u8], params: &Params, memory: &mut Vec<Block>) -> Result<String, PortError> {
    let failed = |e: &dyn std::fmt::Display| PortError::Unknown(anyhow!("argon2 hashing: {e}"));
    let salt_bytes: [u8; SALT_BYTES] = rand::random();
    let mut output = [0u8; OUTPUT_BYTES];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(secret, &salt_bytes, &mut output, blocks(memory, params.block_count()))
        .map_err(|e| failed(&e))?;
    let encoded = PhcHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt_bytes).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&output).map_err(|e| failed(&e))?),
    };
    Ok(encoded.to_string())
}

/// Whether `secret` hashes to `encoded` with the algorithm, version and
/// parameters written in it. Anything unparseable is simply `false`.
fn verify(secret: &[u8], encoded: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PhcHash::new(encoded) else { return false };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else { return false };
    let Ok(algorithm) = Algorithm::new(parsed.algorithm.as_str()) else { return false };
    let Ok(version) = parsed.version.map_or(Ok(Version::V0x13), Version::try_from) else { return false };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let Some(output) = buffer.get_mut(..expected.len()) else { return false };
    let block_count = params.block_count();
    if Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(secret, salt, &mut *output, blocks(memory, block_count))
        .is_err()
    {
        return false;
    }
    // `Output`'s equality runs in constant time.
    Output::new(output).is_ok_and(|computed| computed == *expected)
}

/// Hashes with argon2id on the pool. Holds a hash of a random password so
/// that checking an unknown user costs one real verification, like checking a
/// known one.
#[derive(Component)]
#[shaku(interface = crate::di::PasswordHasherPort)]
pub struct Argon2Hasher {
    pool: HashPool,
    /// Made at the first verification that needs it: a process that never
    /// checks a password (the notifier, `ctl`) never spends a hash or holds a
    /// 19 MiB buffer for it. That first unknown-user login costs two hashes,
    /// once per process.
    decoy: tokio::sync::OnceCell<String>,
}

impl Argon2Hasher {
    /// Starts the workers (their memory is allocated at their first job).
    ///
    /// # Errors
    /// `PortError::Unknown` if argon2 refuses its parameters or a thread cannot start.
    pub fn new(size: HashPoolSize) -> Result<Self, PortError> {
        Ok(Self { pool: HashPool::start(size)?, decoy: tokio::sync::OnceCell::new() })
    }

    /// A hash of a random password, that no candidate matches.
    async fn decoy(&self) -> Result<String, PortError> {
        self.decoy.get_or_try_init(|| hash_on(&self.pool, uuid::Uuid::now_v7().to_string())).await.cloned()
    }

    /// The `pool` label of this hasher's metrics.
    #[must_use]
    pub fn metrics_label(&self) -> &str {
        &self.pool.shared.label
    }
}

async fn hash_on(pool: &HashPool, secret: String) -> Result<String, PortError> {
    let (reply, answered) = oneshot::channel();
    pool.submit(Work::Hash { secret, reply })?;
    answer(answered).await
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: Password) -> Result<PasswordHash, PortError> {
        Ok(PasswordHash::new(hash_on(&self.pool, password.expose().to_owned()).await?))
    }

    async fn verify(&self, candidate: Option<Password>, hash: Option<PasswordHash>) -> Result<bool, PortError> {
        let genuine = candidate.is_some() && hash.is_some();
        let encoded = match hash {
            Some(hash) => hash.as_str().to_owned(),
            None => self.decoy().await?,
        };
        // An impossible password is still checked (against itself or the decoy) so it takes as long.
        let secret = candidate.map_or_else(|| "not a real password".to_owned(), |p| p.expose().to_owned());
        let (reply, answered) = oneshot::channel();
        self.pool.submit(Work::Verify { secret, encoded, reply })?;
        let matches = answer(answered).await?;
        Ok(genuine && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordHasher as _;

    const ONE: HashPoolSize = HashPoolSize { workers: 1, queue: 1 };

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let hasher = Argon2Hasher::new(ONE).unwrap();
        let password = Password::new("correct horse").unwrap();
        let hash = hasher.hash(password.clone()).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", hash.as_str());
        assert!(hasher.verify(Some(password), Some(hash.clone())).await.unwrap());
        let wrong = Password::new("wrong horse").unwrap();
        assert!(!hasher.verify(Some(wrong), Some(hash)).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_written_by_the_argon2_crate_still_verify() {
        let hasher = Argon2Hasher::new(ONE).unwrap();
        let stored = Argon2::new(Algorithm::Argon2id, Version::V0x13, params().unwrap())
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        let password = Password::new("correct horse").unwrap();
        assert!(hasher.verify(Some(password), Some(PasswordHash::new(stored.clone()))).await.unwrap());
        let wrong = Password::new("wrong horse").unwrap();
        assert!(!hasher.verify(Some(wrong), Some(PasswordHash::new(stored))).await.unwrap());
    }

    #[tokio::test]
    async fn our_hashes_verify_with_the_argon2_crate() {
        use argon2::PasswordVerifier as _;
        let hasher = Argon2Hasher::new(ONE).unwrap();
        let hash = hasher.hash(Password::new("correct horse").unwrap()).await.unwrap();
        let parsed = PhcHash::new(hash.as_str()).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
    }

    #[tokio::test]
    async fn missing_halves_and_garbage_hashes_never_verify() {
        let hasher = Argon2Hasher::new(ONE).unwrap();
        let password = Password::new("correct horse").unwrap();
        assert!(!hasher.verify(Some(password.clone()), None).await.unwrap());
        assert!(!hasher.verify(None, Some(PasswordHash::new(hasher.decoy().await.unwrap()))).await.unwrap());
        assert!(!hasher.verify(Some(password), Some(PasswordHash::new("garbage".into()))).await.unwrap());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_below_the_priority_of_requests() {
        let hasher = Argon2Hasher::new(ONE).unwrap();
        // Once it has answered a job, the worker has surely set its priority.
        hasher.hash(Password::new("correct horse").unwrap()).await.unwrap();
        let name = format!("argon2-{}-0", hasher.metrics_label());
        let mut niceness = None;
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let dir = task.unwrap().path();
            if std::fs::read_to_string(dir.join("comm")).unwrap().trim() == name {
                let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
                // Fields after the parenthesised name start at the 3rd; the nice value is the 19th.
                let after_name = stat.rsplit_once(')').unwrap().1;
                niceness = after_name.split_whitespace().nth(16).map(|n| n.parse::<i32>().unwrap());
            }
        }
        assert_eq!(niceness, Some(HASHING_NICENESS), "thread {name}");
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_the_pool_recovers() {
        let hasher = Argon2Hasher::new(ONE).unwrap();
        let password = Password::new("correct horse").unwrap();
        // One job runs, one waits; the others cannot fit and must not wait.
        let burst = (0..6).map(|_| hasher.hash(password.clone()));
        let started = Instant::now();
        let results = futures::future::join_all(burst).await;
        let busy = results.iter().filter(|r| matches!(r, Err(PortError::Busy))).count();
        let hashed = results.iter().filter(|r| r.is_ok()).count();
        assert!(busy >= 1, "some jobs are refused");
        assert_eq!(
            busy + hashed,
            6,
            "only Busy or a hash: {:?}",
            results.iter().map(Result::is_ok).collect::<Vec<_>>()
        );
        assert!(hashed <= 2 + 1, "at most a worker's job and the queue's are hashed, give or take one finishing");
        assert!(started.elapsed().as_secs() < 10);
        assert!(hasher.hash(password).await.is_ok(), "the pool works again once drained");
    }
}
