//! The words of the profile's "Change password", in English and French: a part of
//! [`super::i18n::Texts`] kept in its own file so that each stays readable in one go.

/// The password-change words of one language.
#[allow(missing_docs)]
pub struct PasswordTexts {
    pub title: &'static str,
    pub intro: &'static str,
    pub current: &'static str,
    pub new: &'static str,
    pub new_again: &'static str,
    pub revoke_apps: &'static str,
    pub revoke_apps_hint: &'static str,
    pub submit: &'static str,
    pub done: &'static str,
    pub done_apps_revoked: &'static str,
    pub err_wrong_current: &'static str,
    pub err_differ: &'static str,
}

/// English.
pub static EN: PasswordTexts = PasswordTexts {
    title: "Change password",
    intro: "Your password signs you in to these pages. Your other browsers are signed out when \
            you change it.",
    current: "Current password",
    new: "New password",
    new_again: "New password again",
    revoke_apps: "Also sign out my applications",
    revoke_apps_hint: "Revokes all your app passwords: keep this ticked if someone else may know \
                       your old password. Your applications then need new app passwords.",
    submit: "Change password",
    done: "Your password was changed. Your other browsers were signed out.",
    done_apps_revoked: "Your password was changed. Your other browsers were signed out and all \
                        your app passwords were revoked.",
    err_wrong_current: "The current password is wrong.",
    err_differ: "The two new passwords are not the same.",
};

/// French.
pub static FR: PasswordTexts = PasswordTexts {
    title: "Changer le mot de passe",
    intro: "Votre mot de passe vous connecte à ces pages. Vos autres navigateurs sont \
            déconnectés quand vous le changez.",
    current: "Mot de passe actuel",
    new: "Nouveau mot de passe",
    new_again: "Nouveau mot de passe, à nouveau",
    revoke_apps: "Déconnecter aussi mes applications",
    revoke_apps_hint: "Révoque tous vos mots de passe d’application : laissez cette case cochée \
                       si quelqu’un d’autre peut connaître votre ancien mot de passe. Vos \
                       applications auront alors besoin de nouveaux mots de passe d’application.",
    submit: "Changer le mot de passe",
    done: "Votre mot de passe a été changé. Vos autres navigateurs ont été déconnectés.",
    done_apps_revoked: "Votre mot de passe a été changé. Vos autres navigateurs ont été \
                        déconnectés et tous vos mots de passe d’application ont été révoqués.",
    err_wrong_current: "Le mot de passe actuel est faux.",
    err_differ: "Les deux nouveaux mots de passe ne sont pas identiques.",
};
