//! [`PortalError`]: why a web or API action was refused, and the one mapping of each refusal to
//! its HTTP status and its API code. Operation refusals ([`OpError`]) become portal refusals here,
//! once, for the pages and the API alike: the API answers with the operation's own (English)
//! sentence, the pages with their words for the [`Refusal`] in the page's language.

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
    /// What was asked cannot be done: something named does not exist, the input is malformed,
    /// or the change conflicts with the current state (an existing user, the last admin).
    #[error("{message}")]
    Refused {
        /// Which refusal: it decides the status, the API code and the words a page shows.
        refusal: Refusal,
        /// The account the refusal is about, as the pages' words name it (empty when it is
        /// about none): the name as typed when it is malformed, else as the store knows it.
        subject: String,
        /// The operation's own sentence, the API's message.
        message: String,
    },
    /// The server could not do it (store I/O, random source, a busy argon2 pool). The cause is
    /// for the server log ([`PortalError::log_cause`], where the answer is built), never for the
    /// client.
    #[error("the server could not complete this; try again")]
    Unavailable(String),
}

/// What was refused, told apart by kind (never by the words of a message), so that each surface
/// words it in its own way and language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No account of that name.
    UnknownUser,
    /// The account has no app password of that id (or no longer).
    UnknownAppPassword,
    /// A setting davgate does not know.
    UnknownSetting,
    /// A user name that breaks the naming rules.
    InvalidUserName,
    /// An app-password name that is empty, too long or unprintable.
    InvalidAppPasswordName,
    /// An app-password id that is not one davgate could have drawn.
    InvalidAppPasswordId,
    /// A setting value that does not parse for its setting.
    InvalidSetting,
    /// A primary password typed by a person that is too short.
    WeakPassword,
    /// An account of that name exists already.
    UserExists,
    /// Removing or disabling the account would leave no enabled admin.
    LastAdmin,
    /// The account already has an active app password of that name.
    AppPasswordNameTaken,
    /// The asked lifetime is over the admin's maximum.
    InvalidLifetime,
    /// The folder or the networks of a new password do not parse.
    InvalidScope,
    /// An e-mail address that is not one.
    InvalidEmail,
    /// The user holds as many live app passwords as allowed.
    TooManyAppPasswords,
    /// A code was sent for a session that is already signed in.
    AlreadySignedIn,
    /// The current password given to change one's own password is wrong.
    WrongCurrentPassword,
    /// The new password and its repetition differ (the pages' form).
    PasswordsDiffer,
    /// Enrolment was asked while two-factor sign-in is on.
    TwoFactorOn,
    /// Turning two-factor sign-in off was asked while it is off.
    TwoFactorOff,
    /// A code confirmed an enrolment that was never started (or has ended with the session).
    NoEnrolment,
    /// An identity provider's settings do not validate (issuer, client, secret, id).
    InvalidProvider,
    /// No identity provider of that id.
    UnknownProvider,
    /// The identity is linked to another account already.
    IdentityTaken,
    /// An `sso` account's provider sign-in is too old to create an app password: sign in
    /// through the provider again.
    SignInAgain,
}

impl Refusal {
    /// The HTTP status that says this: 404 for what does not exist, 400 for what is malformed
    /// or asked at the wrong time, 409 for what the current state forbids, 403 for a wrong
    /// current password (the session is fine: 401 would read as signed out).
    pub fn status(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Refusal::UnknownUser
            | Refusal::UnknownAppPassword
            | Refusal::UnknownSetting
            | Refusal::UnknownProvider => S::NOT_FOUND,
            Refusal::InvalidUserName
            | Refusal::InvalidAppPasswordName
            | Refusal::InvalidAppPasswordId
            | Refusal::InvalidSetting
            | Refusal::InvalidLifetime
            | Refusal::InvalidScope
            | Refusal::InvalidEmail
            | Refusal::WeakPassword
            | Refusal::PasswordsDiffer
            | Refusal::AlreadySignedIn
            | Refusal::TwoFactorOff
            | Refusal::NoEnrolment
            | Refusal::InvalidProvider => S::BAD_REQUEST,
            Refusal::UserExists
            | Refusal::LastAdmin
            | Refusal::AppPasswordNameTaken
            | Refusal::TooManyAppPasswords
            | Refusal::TwoFactorOn
            | Refusal::IdentityTaken => S::CONFLICT,
            Refusal::WrongCurrentPassword | Refusal::SignInAgain => S::FORBIDDEN,
        }
    }
}

impl PortalError {
    /// A refusal of the portal's own (not an operation's), worded `message` for the API.
    pub(crate) fn refused(refusal: Refusal, message: &str) -> Self {
        PortalError::Refused { refusal, subject: String::new(), message: message.into() }
    }

    /// This refusal, about the account `subject` (the pages' words name it).
    pub(super) fn about(self, subject: &str) -> Self {
        match self {
            PortalError::Refused { refusal, message, .. } => {
                PortalError::Refused { refusal, subject: subject.to_string(), message }
            }
            other => other,
        }
    }

    /// The HTTP status that says this.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            PortalError::SignedOut | PortalError::BadCredentials | PortalError::BadCode => {
                S::UNAUTHORIZED
            }
            PortalError::Forbidden => S::FORBIDDEN,
            PortalError::Throttled(_) => S::TOO_MANY_REQUESTS,
            PortalError::Refused { refusal, .. } => refusal.status(),
            PortalError::Unavailable(_) => S::SERVICE_UNAVAILABLE,
        }
    }

    /// A stable machine-readable code for the API (`"bad_code"`, `"forbidden"`...): for a
    /// refusal, its status's (`"not_found"`, `"invalid"`, `"conflict"`).
    pub fn code(&self) -> &'static str {
        use http::StatusCode as S;
        match self {
            PortalError::SignedOut => "signed_out",
            PortalError::BadCredentials => "bad_credentials",
            PortalError::BadCode => "bad_code",
            PortalError::Forbidden => "forbidden",
            PortalError::Throttled(_) => "throttled",
            PortalError::Refused { refusal: Refusal::WrongCurrentPassword, .. } => {
                "wrong_current_password"
            }
            PortalError::Refused { refusal: Refusal::SignInAgain, .. } => "sign_in_again",
            PortalError::Refused { refusal, .. } => match refusal.status() {
                S::NOT_FOUND => "not_found",
                S::CONFLICT => "conflict",
                _ => "invalid",
            },
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

/// `e` as a refusal about the account `subject`, for `map_err`: what a page says of an unknown
/// user, an existing one or the last admin names them.
pub(super) fn about<E: Into<PortalError>>(subject: &str) -> impl FnOnce(E) -> PortalError + '_ {
    move |e| e.into().about(subject)
}

/// The one mapping of an operation's refusal to the web's: each kind of [`OpError`] to the
/// [`Refusal`] (and so the status) a page or the API answers, keeping the operation's sentence
/// for the API. No logging here: the edge that builds the answer logs
/// ([`PortalError::log_cause`]).
impl From<OpError> for PortalError {
    fn from(e: OpError) -> Self {
        let refusal = match e {
            OpError::UnknownUser(_) => Refusal::UnknownUser,
            OpError::UnknownAppPassword(_) => Refusal::UnknownAppPassword,
            OpError::UnknownSetting(_) => Refusal::UnknownSetting,
            OpError::InvalidUserName(_) => Refusal::InvalidUserName,
            OpError::InvalidAppPasswordName(_) => Refusal::InvalidAppPasswordName,
            OpError::InvalidAppPasswordId(_) => Refusal::InvalidAppPasswordId,
            OpError::InvalidSetting(_) => Refusal::InvalidSetting,
            OpError::WeakPassword => Refusal::WeakPassword,
            OpError::UserExists(_) => Refusal::UserExists,
            OpError::LastAdmin(_) => Refusal::LastAdmin,
            OpError::DuplicateAppPasswordName(_) => Refusal::AppPasswordNameTaken,
            OpError::InvalidLifetime(_) => Refusal::InvalidLifetime,
            OpError::InvalidScope(_) => Refusal::InvalidScope,
            OpError::InvalidEmail(_) => Refusal::InvalidEmail,
            OpError::TooManyAppPasswords(_) => Refusal::TooManyAppPasswords,
            OpError::InvalidProvider(_) => Refusal::InvalidProvider,
            OpError::UnknownProvider(_) => Refusal::UnknownProvider,
            OpError::IdentityTaken(_) => Refusal::IdentityTaken,
            OpError::HomeNotMoved(_)
            | OpError::NoServer(_)
            | OpError::Busy(_)
            | OpError::Channel(_)
            | OpError::UnexpectedReply(_)
            | OpError::BackupRefused(_)
            | OpError::BackupFailed(_)
            | OpError::NoObjectStorage(_)
            | OpError::Internal(_) => {
                return PortalError::Unavailable(format!("operation failed: {e}"));
            }
        };
        PortalError::refused(refusal, &e.to_string())
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

impl From<session::SessionError> for PortalError {
    fn from(e: session::SessionError) -> Self {
        match e {
            session::SessionError::Random(e) => e.into(),
            session::SessionError::Store(e) => e.into(),
        }
    }
}
