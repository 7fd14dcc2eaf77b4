//! What each e-mail says, in English and French. A message names the app password by the name
//! its owner gave it and says what happened, from where and with which client; it never holds
//! a secret (the audit event it is made from holds none).

use crate::store::{ActorKind, AuditEvent, EventKind, MailLang};

/// Which e-mail an audit event becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// An app password was made (informational).
    Created,
    /// It opened WebDAV for the first time (informational).
    FirstUse,
    /// It was used from a network it had not been used from (security).
    NewNetwork,
    /// It was used by another kind of client than at its first use (security).
    DifferentClient,
    /// An admin revoked it (security).
    RevokedByAdmin,
    /// It expires within a week (informational).
    Expiring,
}

impl MailKind {
    /// The e-mail an event becomes, if any.
    pub fn of(event: &AuditEvent) -> Option<Self> {
        match event.kind {
            EventKind::AppPasswordCreated => Some(MailKind::Created),
            EventKind::AppPasswordFirstUsed => Some(MailKind::FirstUse),
            EventKind::AppPasswordNewNetwork => Some(MailKind::NewNetwork),
            EventKind::AppPasswordNewClient => Some(MailKind::DifferentClient),
            EventKind::AppPasswordExpiring => Some(MailKind::Expiring),
            EventKind::AppPasswordRevoked
                if event.actor_kind == ActorKind::Admin
                    && event.actor.as_deref() != event.subject.as_ref().map(|s| s.as_str()) =>
            {
                Some(MailKind::RevokedByAdmin)
            }
            _ => None,
        }
    }

    /// Whether the user may turn it off: the informational ones, not the security ones.
    pub fn informational(self) -> bool {
        matches!(self, MailKind::Created | MailKind::FirstUse | MailKind::Expiring)
    }
}

/// A composed message: subject and plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The subject line (no line breaks).
    pub subject: String,
    /// The text.
    pub body: String,
}

/// The message for `kind` about the password called `name`, from `event`, in `lang`.
pub fn compose(kind: MailKind, lang: MailLang, name: &str, event: &AuditEvent) -> Message {
    let name = one_line(name);
    let word = |key: &str| event.detail.get(key).and_then(|v| v.as_str()).map(one_line);
    let address = event.address.map(|a| a.to_string()).or_else(|| word("network"));
    let address = address.unwrap_or_else(|| "?".into());
    let client = word("client").or_else(|| word("access_method")).unwrap_or_else(|| "?".into());
    let first = word("first_client").unwrap_or_else(|| "?".into());
    let at = event.at.format("%Y-%m-%d %H:%M UTC");
    let expires = event.detail.get("expires_at").and_then(|v| v.as_str());
    let expires = expires
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "?".into());
    let (subject, text) = match (lang, kind) {
        (MailLang::En, MailKind::Created) => (
            format!("New app password \"{name}\""),
            format!("An app password called \"{name}\" was created for your account at {at}."),
        ),
        (MailLang::Fr, MailKind::Created) => (
            format!("Nouveau mot de passe d’application « {name} »"),
            format!(
                "Un mot de passe d’application nommé « {name} » a été créé pour votre compte le {at}."
            ),
        ),
        (MailLang::En, MailKind::FirstUse) => (
            format!("App password \"{name}\" used for the first time"),
            format!(
                "Your app password \"{name}\" was used for the first time at {at}, by {client} from {address}."
            ),
        ),
        (MailLang::Fr, MailKind::FirstUse) => (
            format!("Première utilisation du mot de passe d’application « {name} »"),
            format!(
                "Votre mot de passe d’application « {name} » a été utilisé pour la première fois le {at}, par {client} depuis {address}."
            ),
        ),
        (MailLang::En, MailKind::NewNetwork) => (
            format!("App password \"{name}\" used from a new network"),
            format!(
                "Your app password \"{name}\" was used from a network it had not been used from before: {address} ({client}), at {at}."
            ),
        ),
        (MailLang::Fr, MailKind::NewNetwork) => (
            format!("Mot de passe d’application « {name} » utilisé depuis un nouveau réseau"),
            format!(
                "Votre mot de passe d’application « {name} » a été utilisé depuis un réseau inhabituel : {address} ({client}), le {at}."
            ),
        ),
        (MailLang::En, MailKind::DifferentClient) => (
            format!("App password \"{name}\" used by a different client"),
            format!(
                "Your app password \"{name}\", first used by {first}, was used by {client} from {address} at {at}."
            ),
        ),
        (MailLang::Fr, MailKind::DifferentClient) => (
            format!("Mot de passe d’application « {name} » utilisé par un autre client"),
            format!(
                "Votre mot de passe d’application « {name} », utilisé d’abord par {first}, a été utilisé par {client} depuis {address} le {at}."
            ),
        ),
        (MailLang::En, MailKind::RevokedByAdmin) => (
            format!("App password \"{name}\" revoked by an administrator"),
            format!(
                "An administrator revoked your app password \"{name}\" at {at}. Clients using it can no longer connect."
            ),
        ),
        (MailLang::Fr, MailKind::RevokedByAdmin) => (
            format!("Mot de passe d’application « {name} » révoqué par un administrateur"),
            format!(
                "Un administrateur a révoqué votre mot de passe d’application « {name} » le {at}. Les clients qui l’utilisent ne peuvent plus se connecter."
            ),
        ),
        (MailLang::En, MailKind::Expiring) => (
            format!("App password \"{name}\" expires on {expires}"),
            format!(
                "Your app password \"{name}\" expires on {expires}. After that, the client using it can no longer connect: create a new app password on your profile before then and enter it in that client."
            ),
        ),
        (MailLang::Fr, MailKind::Expiring) => (
            format!("Le mot de passe d’application « {name} » expire le {expires}"),
            format!(
                "Votre mot de passe d’application « {name} » expire le {expires}. Ensuite, le client qui l’utilise ne pourra plus se connecter : créez un nouveau mot de passe d’application sur votre profil d’ici là et saisissez-le dans ce client."
            ),
        ),
    };
    let footer = match (lang, kind.informational()) {
        (MailLang::En, true) if kind == MailKind::Expiring => {
            "You can turn these informational e-mails off on your profile."
        }
        (MailLang::Fr, true) if kind == MailKind::Expiring => {
            "Vous pouvez désactiver ces e-mails d’information sur votre profil."
        }
        (MailLang::En, true) => {
            "If this was you, there is nothing to do. You can turn these informational e-mails off on your profile."
        }
        (MailLang::Fr, true) => {
            "Si c’était vous, il n’y a rien à faire. Vous pouvez désactiver ces e-mails d’information sur votre profil."
        }
        (MailLang::En, false) => {
            "If this was not you, revoke this app password on your profile now."
        }
        (MailLang::Fr, false) => {
            "Si ce n’était pas vous, révoquez ce mot de passe d’application sur votre profil dès maintenant."
        }
    };
    Message { subject, body: format!("{text}\n\n{footer}\n\n-- davgate\n") }
}

/// `text` without line breaks or other control characters, bounded: a name or a User-Agent
/// can never start a header or a new line in the mail.
fn one_line(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::UserName;

    fn event(kind: EventKind, actor_kind: ActorKind, actor: Option<&str>) -> AuditEvent {
        let alice = UserName::parse("alice").unwrap();
        AuditEvent::new(chrono::Utc::now(), kind, actor_kind, actor).about(&alice)
    }

    #[test]
    fn only_an_admin_revoking_someone_elses_password_is_mailed() {
        let by_admin = event(EventKind::AppPasswordRevoked, ActorKind::Admin, None);
        assert_eq!(MailKind::of(&by_admin), Some(MailKind::RevokedByAdmin));
        let by_owner = event(EventKind::AppPasswordRevoked, ActorKind::User, Some("alice"));
        assert_eq!(MailKind::of(&by_owner), None);
        assert_eq!(MailKind::of(&event(EventKind::SignIn, ActorKind::User, None)), None);
    }

    #[test]
    fn a_name_with_line_breaks_cannot_add_a_header() {
        let e = event(EventKind::AppPasswordCreated, ActorKind::User, Some("alice"));
        let m = compose(MailKind::Created, MailLang::Fr, "Mac\r\nBcc: eve@x.org", &e);
        assert!(!m.subject.contains('\n') && !m.subject.contains('\r'), "{}", m.subject);
        assert!(m.subject.starts_with("Nouveau"), "{}", m.subject);
    }
}
