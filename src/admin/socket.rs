//! The local admin channel: how the CLI reaches a running server.
//!
//! redb lets one process open the store, so while `serve` runs, the CLI sends its request over
//! a unix socket in the data directory instead. The socket is mode 0600 inside a 0700 folder,
//! and the server also checks the caller's uid (the data directory's owner, or root), so only
//! whoever may read the store may use it. One JSON line in, one JSON line out
//! (the `wire` format).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::OpError;
use super::operations::{Admin, Audit};
use super::wire::{self, Answer, Reply, Request};

/// File name of the socket inside the data directory.
pub const FILE_NAME: &str = "admin.sock";
/// Longest request line accepted.
const MAX_REQUEST: u64 = 64 * 1024;
/// Longest the CLI waits for an answer (an operation waits its turn for argon2 and redb).
const ANSWER_WAIT: Duration = Duration::from_secs(120);

/// The socket's path for a data directory.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// The client end: a server found listening on the socket.
pub(crate) struct Connection {
    path: PathBuf,
    /// The connection made to find the server, kept for the first request.
    first: Mutex<Option<UnixStream>>,
}

impl Connection {
    /// Connects to the server listening on `socket`; `None` when no server is there (no socket,
    /// or a stale one), and the caller should open the store itself.
    pub(crate) async fn open(socket: &Path) -> Result<Option<Self>, OpError> {
        match connect(socket).await? {
            None => Ok(None),
            Some(stream) => {
                Ok(Some(Self { path: socket.to_path_buf(), first: Mutex::new(Some(stream)) }))
            }
        }
    }

    /// Sends `request` and reads the server's answer.
    pub(crate) async fn call(&self, request: &Request) -> Result<Reply, OpError> {
        let channel = |reason: &dyn std::fmt::Display| OpError::channel(&self.path, reason);
        let kept = self.first.lock().unwrap_or_else(|p| p.into_inner()).take();
        let stream = match kept {
            Some(stream) => stream,
            None => connect(&self.path)
                .await?
                .ok_or_else(|| channel(&"the server is gone (no one listens on the socket)"))?,
        };
        let mut line = serde_json::to_string(request).map_err(|e| channel(&e))?;
        line.push('\n');
        let (read, mut write) = stream.into_split();
        write.write_all(line.as_bytes()).await.map_err(|e| channel(&e))?;
        let mut answer = String::new();
        let mut reader = BufReader::new(read);
        match tokio::time::timeout(ANSWER_WAIT, reader.read_line(&mut answer)).await {
            Err(_) => return Err(channel(&"the server did not answer in time")),
            Ok(Err(e)) => return Err(channel(&e)),
            Ok(Ok(_)) => {}
        }
        match serde_json::from_str::<Answer>(&answer) {
            Ok(answer) => answer.into(),
            Err(_) if answer.is_empty() => {
                Err(channel(&"the server closed the connection without an answer"))
            }
            Err(e) => Err(channel(&format_args!("the server's answer is unreadable: {e}"))),
        }
    }
}

/// Connects to `socket`; `None` when no server listens there.
async fn connect(socket: &Path) -> Result<Option<UnixStream>, OpError> {
    match UnixStream::connect(socket).await {
        Ok(stream) => Ok(Some(stream)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(OpError::channel(socket, e)),
    }
}

/// The server side of the channel; removes its socket file when dropped.
pub struct AdminChannel {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl AdminChannel {
    /// Binds the socket (replacing a stale one) and serves `admin`'s operations on it, each
    /// recorded in the server log ([`Audit::Socket`]).
    pub fn open(data_dir: &Path, admin: &Admin) -> std::io::Result<Self> {
        let path = path(data_dir);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let owner = std::fs::metadata(data_dir)?.uid();
        let task = tokio::spawn(accept_loop(listener, admin.audited(Audit::Socket), owner));
        Ok(Self { path, task })
    }
}

impl Drop for AdminChannel {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn accept_loop(listener: UnixListener, admin: Admin, owner: u32) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!("admin channel accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let allowed = stream.peer_cred().is_ok_and(|c| c.uid() == owner || c.uid() == 0);
        if !allowed {
            tracing::warn!("admin channel: refused a caller that does not own the data directory");
            continue;
        }
        tokio::spawn(serve_one(stream, admin.clone()));
    }
}

async fn serve_one(stream: UnixStream, admin: Admin) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST));
    let result = match reader.read_line(&mut line).await {
        Err(e) => Err(OpError::Channel(format!("cannot read the request: {e}"))),
        Ok(_) => match serde_json::from_str::<Request>(&line) {
            Err(e) => Err(OpError::Channel(format!("malformed admin request: {e}"))),
            Ok(request) => wire::answer(&admin, request).await,
        },
    };
    // An answer that cannot be written is itself answered, so the CLI never meets silence.
    let mut text = serde_json::to_string(&Answer::from(result)).unwrap_or_else(|e| {
        let failed = OpError::Internal(format!("the server could not write its answer: {e}"));
        serde_json::json!({ "error": { "code": failed.code(), "message": failed.to_string() } })
            .to_string()
    });
    text.push('\n');
    let _ = write.write_all(text.as_bytes()).await;
}
