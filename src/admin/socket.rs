//! The local admin channel: how the CLI reaches a running server.
//!
//! redb lets one process open the store, so while `serve` runs, the CLI sends its request over
//! a unix socket in the data directory instead. The socket is mode 0600 inside a 0700 folder,
//! and the server also checks the caller's uid (the data directory's owner, or root), so only
//! whoever may read the store may use it. One JSON line in, one JSON line out.

use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use super::{Error, Operations, Reply, Request};
use crate::log_safe::escaped;

/// File name of the socket inside the data directory.
pub const FILE_NAME: &str = "admin.sock";
/// Longest request line accepted.
const MAX_REQUEST: u64 = 64 * 1024;

/// The socket's path for a data directory.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Ok(Reply),
    Error(String),
}

/// Sends `request` to the server listening on `socket`. `Ok(None)` means no server is there
/// (no socket, or a stale one), and the caller should open the store itself.
pub fn call(socket: &Path, request: &Request) -> Result<Option<Reply>, Error> {
    let channel = |reason: String| Error::Channel { path: socket.display().to_string(), reason };
    let stream = match StdUnixStream::connect(socket) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(channel(e.to_string())),
    };
    stream.set_read_timeout(Some(Duration::from_secs(120))).map_err(|e| channel(e.to_string()))?;
    let mut line = serde_json::to_string(request).map_err(|e| channel(e.to_string()))?;
    line.push('\n');
    (&stream).write_all(line.as_bytes()).map_err(|e| channel(e.to_string()))?;
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer).map_err(|e| channel(e.to_string()))?;
    match serde_json::from_str(&answer) {
        Ok(Answer::Ok(reply)) => Ok(Some(reply)),
        Ok(Answer::Error(message)) => Err(Error::Remote(message)),
        Err(_) => Err(channel("the server closed the connection without an answer".into())),
    }
}

/// The server side of the channel; removes its socket file when dropped.
pub struct AdminChannel {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl AdminChannel {
    /// Binds the socket (replacing a stale one) and serves the server's admin operations.
    pub fn open(data_dir: &Path, operations: Arc<Operations>) -> std::io::Result<Self> {
        let path = path(data_dir);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let owner = std::fs::metadata(data_dir)?.uid();
        let task = tokio::spawn(accept_loop(listener, operations, owner));
        Ok(Self { path, task })
    }
}

impl Drop for AdminChannel {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn accept_loop(listener: UnixListener, operations: Arc<Operations>, owner: u32) {
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
        tokio::spawn(serve_one(stream, Arc::clone(&operations)));
    }
}

async fn serve_one(stream: UnixStream, operations: Arc<Operations>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(read.take(MAX_REQUEST));
    let answer = match reader.read_line(&mut line).await {
        Err(e) => Answer::Error(format!("cannot read the request: {e}")),
        Ok(_) => match serde_json::from_str::<Request>(&line) {
            Err(e) => Answer::Error(format!("malformed admin request: {e}")),
            Ok(request) => {
                let summary = describe(&request);
                match operations.run(request).await {
                    Ok(reply) => {
                        tracing::info!(target: "davgate::admin", "{summary}");
                        Answer::Ok(reply)
                    }
                    Err(e) => Answer::Error(e.to_string()),
                }
            }
        },
    };
    if let Ok(mut text) = serde_json::to_string(&answer) {
        text.push('\n');
        let _ = write.write_all(text.as_bytes()).await;
    }
}

/// A log line for an admin change, never with a password in it. Every value the admin typed
/// is escaped ([`escaped`]): a newline in a setting cannot forge a second log line.
pub(crate) fn describe(request: &Request) -> String {
    let e = |s: &str| escaped(s);
    match request {
        Request::UserAdd { name, admin, .. } => format!("user add {} admin={admin}", e(name)),
        Request::UserList => "user list".into(),
        Request::UserSetDisabled { name, disabled } => {
            format!("user {} disabled={disabled}", e(name))
        }
        Request::UserRemove { name } => format!("user remove {}", e(name)),
        Request::UserPasswd { name, .. } => format!("user passwd {}", e(name)),
        Request::UserResetTotp { name } => format!("user reset-2fa {}", e(name)),
        Request::UserQuota { name, quota_bytes } => {
            format!("user quota {} {quota_bytes:?}", e(name))
        }
        Request::AppPasswordCreate { user, .. } => format!("app-password create for {}", e(user)),
        Request::AppPasswordList { .. } => "app-password list".into(),
        Request::AppPasswordRevoke { user, id } => {
            format!("app-password revoke {} {}", e(user), e(id))
        }
        Request::AppPasswordRevokeAll { user } => format!("app-password revoke {} --all", e(user)),
        Request::Status => "status".into(),
        Request::SettingsGet => "settings get".into(),
        Request::SettingsSet { key, value } => format!("settings set {} {}", e(key), e(value)),
    }
}
