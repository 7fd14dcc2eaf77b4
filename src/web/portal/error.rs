//! [`PortalError`]: why a web or API action was refused, and the one mapping of each refusal to
//! its HTTP status and its API code. Operation refusals ([`OpError`]) become portal refusals here,
//! once, for the pages and the API alike; each of them words the answer its own way.

use std::time::Duration;

use crate::admin::OpError;
use crate::store;
use crate::web::session;

/// Why a web or API action was refused. Each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// Not signed in (or the session ended).
    #[error("sign in first")]
    SignedOut,
    /// Wrong user name or password: the same for both, and for a disabled account.
    #[error("wrong user name or password")]
    BadCredentials,
    /// The TOTP code is wrong, expired or already used.
    #[error("wrong or already used code")]
    BadCode,
    /// Signed in, but not allowed to do this.
    #[error("you are not allowed to do this")]
    Forbidden,
    /// Too many failed sign-ins from this network for this user, or too many sign-in attempts
    /// from this network for any user (the argon2 budget).
    #[error("too many failed sign-ins; try again later")]
    Throttled(Duration),
    /// The thing named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The input is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The change conflicts with the current state (an existing user, the last admin).
    #[error("{0}")]
    Conflict(String),
    /// The app-password name is empty, too long or unprintable (the pages word it their way).
    #[error("{0}")]
    BadName(String),
    /// The user already has an active app password with this name.
    #[error("{0}")]
    NameTaken(String),
    /// The server could not do it (store I/O, random source, a busy argon2 pool). The cause is
    /// for the server log ([`PortalError::log_cause`], where the answer is built), never for the
    /// client.
    #[error("the server could not complete this; try again")]
    Unavailable(String),
}

impl PortalError {
    /// The HTTP status that says this.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            PortalError::SignedOut | PortalError::BadCredentials | PortalError::BadCode => {
                S::UNAUTHORIZED
            }
            PortalError::Forbidden => S::FORBIDDEN,
            PortalError::Throttled(_) => S::TOO_MANY_REQUESTS,
            PortalError::NotFound(_) => S::NOT_FOUND,
            PortalError::Invalid(_) | PortalError::BadName(_) => S::BAD_REQUEST,
            PortalError::Conflict(_) | PortalError::NameTaken(_) => S::CONFLICT,
            PortalError::Unavailable(_) => S::SERVICE_UNAVAILABLE,
        }
    }

    /// A stable machine-readable code for the API (`"bad_code"`, `"forbidden"`...).
    pub fn code(&self) -> &'static str {
        match self {
            PortalError::SignedOut => "signed_out",
            PortalError::BadCredentials => "bad_credentials",
            PortalError::BadCode => "bad_code",
            PortalError::Forbidden => "forbidden",
            PortalError::Throttled(_) => "throttled",
            PortalError::NotFound(_) => "not_found",
            PortalError::Invalid(_) | PortalError::BadName(_) => "invalid",
            PortalError::Conflict(_) | PortalError::NameTaken(_) => "conflict",
            PortalError::Unavailable(_) => "unavailable",
        }
    }

    /// Logs why the server could not complete a request: called once, where the answer to it is
    /// built (the page or the API response), so that the log holds what the client is not told.
    pub fn log_cause(&self) {
        if let PortalError::Unavailable(cause) = self {
            tracing::error!(target: "davgate::web", "{cause}");
        }
    }
}

/// The one mapping of an operation's refusal to the web's: each kind of [`OpError`] to the
/// refusal (and so the status) a page or the API answers. No logging here: the edge that builds
/// the answer logs ([`PortalError::log_cause`]).
impl From<OpError> for PortalError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::InvalidAppPasswordName(m) => PortalError::BadName(m),
            OpError::DuplicateAppPasswordName(m) => PortalError::NameTaken(m),
            OpError::UnknownUser(m)
            | OpError::UnknownAppPassword(m)
            | OpError::UnknownSetting(m) => PortalError::NotFound(m),
            OpError::UserExists(m) | OpError::LastAdmin(m) => PortalError::Conflict(m),
            OpError::InvalidUserName(_)
            | OpError::InvalidAppPasswordId(_)
            | OpError::InvalidSetting(_)
            | OpError::WeakPassword => PortalError::Invalid(e.to_string()),
            OpError::HomeNotMoved(_)
            | OpError::NoServer(_)
            | OpError::Busy(_)
            | OpError::Channel(_)
            | OpError::UnexpectedReply(_)
            | OpError::Internal(_) => PortalError::Unavailable(format!("operation failed: {e}")),
        }
    }
}

impl From<store::Error> for PortalError {
    fn from(e: store::Error) -> Self {
        OpError::from(e).into()
    }
}

impl From<store::NameError> for PortalError {
    fn from(e: store::NameError) -> Self {
        OpError::from(e).into()
    }
}

impl From<store::SettingError> for PortalError {
    fn from(e: store::SettingError) -> Self {
        OpError::from(e).into()
    }
}

/// The server could not do it because of `e` (logged where the answer is built).
pub(super) fn unavailable(e: impl std::fmt::Display) -> PortalError {
    PortalError::Unavailable(e.to_string())
}

impl From<session::RandomError> for PortalError {
    fn from(e: session::RandomError) -> Self {
        unavailable(e)
    }
}
