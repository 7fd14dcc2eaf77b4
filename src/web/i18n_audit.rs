//! The words of the "Recent activity" lists (the profile and the admin's user page), in each
//! language: one phrase per kind of audit event, and the list's own labels.

use super::i18n_time::Lang;
use crate::store::EventKind;

/// The activity list's labels.
pub struct ActivityTexts {
    pub title: &'static str,
    pub when: &'static str,
    pub what: &'static str,
    pub by: &'static str,
    pub from: &'static str,
    pub failed: &'static str,
    pub none: &'static str,
    pub older: &'static str,
    pub newest: &'static str,
    pub system: &'static str,
}

const EN: ActivityTexts = ActivityTexts {
    title: "Recent activity",
    when: "When",
    what: "What",
    by: "By",
    from: "From",
    failed: "failed",
    none: "No activity yet.",
    older: "Older activity",
    newest: "Newest activity",
    system: "davgate",
};

const FR: ActivityTexts = ActivityTexts {
    title: "Activité récente",
    when: "Quand",
    what: "Quoi",
    by: "Par",
    from: "Depuis",
    failed: "échec",
    none: "Aucune activité pour l’instant.",
    older: "Activité plus ancienne",
    newest: "Activité la plus récente",
    system: "davgate",
};

/// The labels in `lang`.
pub fn activity_texts(lang: Lang) -> &'static ActivityTexts {
    match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}

/// What an event of `kind` says happened, in `lang`.
pub fn event_phrase(lang: Lang, kind: EventKind) -> &'static str {
    use EventKind as K;
    match (lang, kind) {
        (Lang::En, K::SignIn) => "Signed in on the web",
        (Lang::Fr, K::SignIn) => "Connexion au site",
        (Lang::En, K::SecondFactorEnrolled) => "Two-factor sign-in turned on",
        (Lang::Fr, K::SecondFactorEnrolled) => "Double authentification activée",
        (Lang::En, K::SecondFactorRemoved) => "Two-factor sign-in turned off",
        (Lang::Fr, K::SecondFactorRemoved) => "Double authentification désactivée",
        (Lang::En, K::SecondFactorReset) => "Second factor reset by an admin",
        (Lang::Fr, K::SecondFactorReset) => "Second facteur réinitialisé par un admin",
        (Lang::En, K::AppPasswordCreated) => "App password created",
        (Lang::Fr, K::AppPasswordCreated) => "Mot de passe d’application créé",
        (Lang::En, K::AppPasswordFirstUsed) => "App password used for the first time",
        (Lang::Fr, K::AppPasswordFirstUsed) => {
            "Mot de passe d’application utilisé pour la première fois"
        }
        (Lang::En, K::AppPasswordRevoked) => "App password revoked",
        (Lang::Fr, K::AppPasswordRevoked) => "Mot de passe d’application révoqué",
        (Lang::En, K::AppPasswordRenamed) => "App password renamed",
        (Lang::Fr, K::AppPasswordRenamed) => "Mot de passe d’application renommé",
        (Lang::En, K::AccountCreated) => "Account created",
        (Lang::Fr, K::AccountCreated) => "Compte créé",
        (Lang::En, K::AccountDisabled) => "Account disabled",
        (Lang::Fr, K::AccountDisabled) => "Compte désactivé",
        (Lang::En, K::AccountEnabled) => "Account enabled",
        (Lang::Fr, K::AccountEnabled) => "Compte réactivé",
        (Lang::En, K::AccountRemoved) => "Account removed",
        (Lang::Fr, K::AccountRemoved) => "Compte supprimé",
        (Lang::En, K::PasswordReset) => "Password reset by an admin",
        (Lang::Fr, K::PasswordReset) => "Mot de passe réinitialisé par un admin",
        (Lang::En, K::QuotaChanged) => "Quota changed",
        (Lang::Fr, K::QuotaChanged) => "Quota modifié",
        (Lang::En, K::SettingChanged) => "Setting changed",
        (Lang::Fr, K::SettingChanged) => "Réglage modifié",
        (Lang::En, K::Lockout) => "Sign-ins locked out after too many failures",
        (Lang::Fr, K::Lockout) => "Connexions bloquées après trop d’échecs",
        (Lang::En, K::AppPasswordNewNetwork) => "App password used from a new network",
        (Lang::Fr, K::AppPasswordNewNetwork) => {
            "Mot de passe d’application utilisé depuis un nouveau réseau"
        }
        (Lang::En, K::AppPasswordNewClient) => "App password used by a different client",
        (Lang::Fr, K::AppPasswordNewClient) => {
            "Mot de passe d’application utilisé par un autre client"
        }
        (Lang::En, K::RoleChanged) => "Role changed",
        (Lang::Fr, K::RoleChanged) => "Rôle modifié",
        (Lang::En, K::AppPasswordExpired) => "App password expired",
        (Lang::Fr, K::AppPasswordExpired) => "Mot de passe d’application expiré",
        (Lang::En, K::AppPasswordExpiring) => "App password expires within a week",
        (Lang::Fr, K::AppPasswordExpiring) => "Mot de passe d’application expirant dans la semaine",
        (Lang::En, K::IdentityLinked) => "Linked to a single sign-on identity",
        (Lang::Fr, K::IdentityLinked) => "Lié à une identité d’authentification unique",
        (Lang::En, K::IdentityUnlinked) => "Single sign-on identity unlinked",
        (Lang::Fr, K::IdentityUnlinked) => "Identité d’authentification unique déliée",
        (Lang::En, K::LoginMethodChanged) => "Sign-in method changed",
        (Lang::Fr, K::LoginMethodChanged) => "Méthode de connexion modifiée",
        (Lang::En, K::ProviderAdded) => "Identity provider added",
        (Lang::Fr, K::ProviderAdded) => "Fournisseur d’identité ajouté",
        (Lang::En, K::ProviderRemoved) => "Identity provider removed",
        (Lang::Fr, K::ProviderRemoved) => "Fournisseur d’identité supprimé",
    }
}
