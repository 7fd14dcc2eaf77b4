//! Handing one message to the SMTP server of the settings, over lettre with rustls (ring).

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

use super::messages::Message;
use super::url::{SmtpSecurity, SmtpUrl};
use crate::secret::Secret;
use crate::store::EmailAddress;

/// Longest one SMTP conversation may take: a stuck server delays the queue, never a request.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Where and as whom to send, read from the settings at each attempt (they may change).
#[derive(Debug, Clone)]
pub struct Relay {
    /// The server.
    pub url: SmtpUrl,
    /// The sender address.
    pub from: EmailAddress,
    /// The password of the URL's user (write-only setting; Debug shows `Secret(***)`).
    pub password: Option<Secret>,
}

/// Why a message was not handed over: a class, for the status counters and the log (a class
/// and the server's answer, never a credential).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The message could not be built (an address lettre refuses).
    #[error("the message cannot be built: {0}")]
    Build(String),
    /// The server could not be reached or the conversation failed.
    #[error("{class}: {text}")]
    Smtp {
        /// `connection`, `timeout`, `tls`, `rejected` or `temporary`.
        class: &'static str,
        /// lettre's description.
        text: String,
    },
}

impl SendError {
    /// The class shown as the last error in `davgate status`.
    pub fn class(&self) -> &'static str {
        match self {
            SendError::Build(_) => "message",
            SendError::Smtp { class, .. } => class,
        }
    }

    /// Whether trying again later can help (a refusal of the message itself cannot).
    pub fn retryable(&self) -> bool {
        !matches!(self, SendError::Build(_) | SendError::Smtp { class: "rejected", .. })
    }
}

impl From<lettre::transport::smtp::Error> for SendError {
    fn from(e: lettre::transport::smtp::Error) -> Self {
        let class = if e.is_timeout() {
            "timeout"
        } else if e.is_tls() {
            "tls"
        } else if e.is_permanent() {
            "rejected"
        } else if e.is_transient() {
            "temporary"
        } else {
            "connection"
        };
        SendError::Smtp { class, text: e.to_string() }
    }
}

/// Sends `message` to `to` through `relay`.
pub async fn send(relay: &Relay, to: &EmailAddress, message: &Message) -> Result<(), SendError> {
    let build = |e: &dyn std::fmt::Display| SendError::Build(e.to_string());
    let from: Mailbox = relay.from.as_str().parse().map_err(|e| build(&e))?;
    let to: Mailbox = to.as_str().parse().map_err(|e| build(&e))?;
    let email = lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(message.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        // Quoted-printable whatever the language: long lines and accents travel safely, and
        // the text stays readable in the raw message.
        .body(
            Body::new_with_encoding(message.body.clone(), ContentTransferEncoding::QuotedPrintable)
                .map_err(|_| SendError::Build("the text cannot be encoded".into()))?,
        )
        .map_err(|e| build(&e))?;
    let host = relay.url.host.as_str();
    let builder = match relay.url.security {
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
        SmtpSecurity::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?,
        SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
    };
    let mut builder = builder.port(relay.url.port).timeout(Some(TIMEOUT));
    if let (Some(user), Some(password)) = (&relay.url.user, &relay.password) {
        builder =
            builder.credentials(Credentials::new(user.clone(), password.expose().to_string()));
    }
    builder.build().send(email).await?;
    Ok(())
}
