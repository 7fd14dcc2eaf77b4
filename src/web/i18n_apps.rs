//! The words of app passwords' scopes, lifetimes and statuses and of "Connect your
//! application", in English and French: a part of [`super::i18n::Texts`] kept in its own file
//! so that each stays readable in one go. A missing translation is a compile error here too.

use crate::connect::ConnectClient;
use crate::duration::HumanDuration;
use crate::store::{Access, AppPasswordStatus};

/// The app-password words of one language.
#[allow(missing_docs)]
pub struct AppTexts {
    pub lifetime: &'static str,
    /// `{}` is the admin's default lifetime in words ("90 days").
    pub lifetime_default: &'static str,
    pub lifetime_7d: &'static str,
    pub lifetime_30d: &'static str,
    pub lifetime_90d: &'static str,
    pub lifetime_1y: &'static str,
    pub lifetime_never: &'static str,
    pub access: &'static str,
    pub read_write: &'static str,
    pub read_write_hint: &'static str,
    pub read_only: &'static str,
    pub read_only_hint: &'static str,
    pub upload_only: &'static str,
    pub upload_only_hint: &'static str,
    pub folder: &'static str,
    pub folder_hint: &'static str,
    pub networks: &'static str,
    pub networks_hint: &'static str,
    pub optional: &'static str,
    pub col_scope: &'static str,
    pub whole_home: &'static str,
    /// `{}` is the networks, comma-separated.
    pub only_from: &'static str,
    /// `{}`s: the network, the client, its last use and its first use, relative.
    pub used_from: &'static str,
    pub active: &'static str,
    pub expired: &'static str,
    /// `{}` is the idle setting in words ("30 days").
    pub expired_unused: &'static str,
    pub expired_never_used: &'static str,
    pub revoked: &'static str,
    pub connect_title: &'static str,
    pub connect_intro: &'static str,
    pub client_windows: &'static str,
    pub client_finder: &'static str,
    pub client_rclone: &'static str,
    pub client_davfs2: &'static str,
    pub client_cadaver: &'static str,
    /// Unit words, singular and plural: day, hour, minute, second.
    pub units: [(&'static str, &'static str); 4],
    pub max_ttl_label: &'static str,
    pub max_ttl_help: &'static str,
    pub idle_label: &'static str,
    pub idle_help: &'static str,
    pub activation_label: &'static str,
    pub activation_help: &'static str,
    pub max_per_user_label: &'static str,
    pub max_per_user_unit: &'static str,
}

impl AppTexts {
    /// What an access is called.
    pub fn access_name(&self, access: &Access) -> &'static str {
        match access {
            Access::ReadWrite => self.read_write,
            Access::ReadOnly => self.read_only,
            Access::UploadOnly => self.upload_only,
        }
    }

    /// The one line saying what an access allows.
    pub fn access_hint(&self, access: &Access) -> &'static str {
        match access {
            Access::ReadWrite => self.read_write_hint,
            Access::ReadOnly => self.read_only_hint,
            Access::UploadOnly => self.upload_only_hint,
        }
    }

    /// A status in words; `idle` is `app_credentials_idle_ttl`, which "unused for …" names.
    pub fn status(&self, status: AppPasswordStatus, idle: Option<HumanDuration>) -> String {
        match status {
            AppPasswordStatus::Active => self.active.to_string(),
            AppPasswordStatus::Expired => self.expired.to_string(),
            AppPasswordStatus::ExpiredUnused => match idle {
                Some(idle) => self.expired_unused.replacen("{}", &self.span(idle), 1),
                None => self.expired.to_string(),
            },
            AppPasswordStatus::ExpiredNeverUsed => self.expired_never_used.to_string(),
            AppPasswordStatus::Revoked => self.revoked.to_string(),
        }
    }

    /// Which application a connection line is for.
    pub fn client(&self, client: ConnectClient) -> &'static str {
        match client {
            ConnectClient::Windows => self.client_windows,
            ConnectClient::Finder => self.client_finder,
            ConnectClient::Rclone => self.client_rclone,
            ConnectClient::Davfs2 => self.client_davfs2,
            ConnectClient::Cadaver => self.client_cadaver,
        }
    }

    /// A duration in words, in its largest whole unit: "30 days", "12 hours", "1 minute".
    pub fn span(&self, d: HumanDuration) -> String {
        let s = d.as_seconds();
        let (n, unit) = [(86_400, 0), (3_600, 1), (60, 2), (1, 3)]
            .into_iter()
            .find(|(size, _)| s.is_multiple_of(*size))
            .map_or((s, 3), |(size, unit)| (s / size, unit));
        let (one, many) = self.units.get(unit).copied().unwrap_or(("s", "s"));
        format!("{n} {}", if n == 1 { one } else { many })
    }
}

/// English.
pub static EN: AppTexts = AppTexts {
    lifetime: "Lifetime",
    lifetime_default: "Default ({})",
    lifetime_7d: "7 days",
    lifetime_30d: "30 days",
    lifetime_90d: "90 days",
    lifetime_1y: "1 year",
    lifetime_never: "Never expires",
    access: "Access",
    read_write: "Read and write",
    read_write_hint: "Everything: read, add, change and delete files.",
    read_only: "Read only",
    read_only_hint: "List and download files; nothing can be changed.",
    upload_only: "Upload only",
    upload_only_hint: "Add new files and folders; no listing, reading back, overwriting or deleting.",
    folder: "Folder",
    folder_hint: "Only this folder is reachable, e.g. /Projects. Empty: all your files.",
    networks: "Allowed networks",
    networks_hint: "Only from these addresses, e.g. 10.0.0.0/8, 192.168.1.5. Empty: from anywhere.",
    optional: "optional",
    col_scope: "Access",
    whole_home: "All files",
    only_from: "Only from {}",
    used_from: "Used from {} ({}) {}; first {}",
    active: "Active",
    expired: "Expired",
    expired_unused: "Expired: unused for {}",
    expired_never_used: "Expired: never used",
    revoked: "Revoked",
    connect_title: "Connect your application",
    connect_intro: "Paste the line for your application; each holds the address, your user name and this password.",
    client_windows: "Windows (command prompt)",
    client_finder: "macOS Finder (Go › Connect to Server)",
    client_rclone: "rclone",
    client_davfs2: "Linux davfs2 (/etc/davfs2/secrets)",
    client_cadaver: "cadaver (~/.netrc)",
    units: [("day", "days"), ("hour", "hours"), ("minute", "minutes"), ("second", "seconds")],
    max_ttl_label: "Longest app password lifetime",
    max_ttl_help: "The longest lifetime a user may choose when creating one; none: no maximum \
                   (passwords that never expire are allowed).",
    idle_label: "Unused app passwords expire after",
    idle_help: "An app password not used for this long stops working; off: never.",
    activation_label: "Activation window",
    activation_help: "A new app password not used within this time after its creation stops \
                      working; off: no window.",
    max_per_user_label: "App passwords per user",
    max_per_user_unit: "at most, 1 to 10000",
};

/// French.
pub static FR: AppTexts = AppTexts {
    lifetime: "Durée de validité",
    lifetime_default: "Par défaut ({})",
    lifetime_7d: "7 jours",
    lifetime_30d: "30 jours",
    lifetime_90d: "90 jours",
    lifetime_1y: "1 an",
    lifetime_never: "N’expire jamais",
    access: "Accès",
    read_write: "Lecture et écriture",
    read_write_hint: "Tout : lire, ajouter, modifier et supprimer des fichiers.",
    read_only: "Lecture seule",
    read_only_hint: "Lister et télécharger les fichiers ; rien ne peut être modifié.",
    upload_only: "Dépôt seul",
    upload_only_hint: "Ajouter des fichiers et des dossiers ; ni liste, ni relecture, ni remplacement, ni suppression.",
    folder: "Dossier",
    folder_hint: "Seul ce dossier est accessible, par exemple /Projets. Vide : tous vos fichiers.",
    networks: "Réseaux autorisés",
    networks_hint: "Seulement depuis ces adresses, par exemple 10.0.0.0/8, 192.168.1.5. Vide : depuis partout.",
    optional: "facultatif",
    col_scope: "Accès",
    whole_home: "Tous les fichiers",
    only_from: "Seulement depuis {}",
    used_from: "Utilisé depuis {} ({}) {} ; la première fois {}",
    active: "Actif",
    expired: "Expiré",
    expired_unused: "Expiré : inutilisé depuis {}",
    expired_never_used: "Expiré : jamais utilisé",
    revoked: "Révoqué",
    connect_title: "Connecter votre application",
    connect_intro: "Collez la ligne de votre application ; chacune contient l’adresse, votre nom d’utilisateur et ce mot de passe.",
    client_windows: "Windows (invite de commandes)",
    client_finder: "Finder de macOS (Aller › Se connecter au serveur)",
    client_rclone: "rclone",
    client_davfs2: "Linux davfs2 (/etc/davfs2/secrets)",
    client_cadaver: "cadaver (~/.netrc)",
    units: [("jour", "jours"), ("heure", "heures"), ("minute", "minutes"), ("seconde", "secondes")],
    max_ttl_label: "Durée de validité maximale des mots de passe d’application",
    max_ttl_help: "La plus longue durée qu’un utilisateur peut choisir à la création ; none : \
                   aucun maximum (les mots de passe sans expiration sont permis).",
    idle_label: "Les mots de passe d’application inutilisés expirent après",
    idle_help: "Un mot de passe d’application inutilisé pendant cette durée cesse de \
                fonctionner ; off : jamais.",
    activation_label: "Délai d’activation",
    activation_help: "Un nouveau mot de passe d’application non utilisé dans ce délai après sa \
                      création cesse de fonctionner ; off : aucun délai.",
    max_per_user_label: "Mots de passe d’application par utilisateur",
    max_per_user_unit: "au plus, de 1 à 10000",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_names_the_idle_time_in_words_in_each_language() {
        let idle = Some(HumanDuration::from_seconds(30 * 86_400));
        assert_eq!(
            EN.status(AppPasswordStatus::ExpiredUnused, idle),
            "Expired: unused for 30 days"
        );
        assert_eq!(
            FR.status(AppPasswordStatus::ExpiredUnused, idle),
            "Expiré : inutilisé depuis 30 jours"
        );
        assert_eq!(EN.status(AppPasswordStatus::Active, None), "Active");
        assert_eq!(FR.status(AppPasswordStatus::Active, None), "Actif");
        assert_eq!(EN.status(AppPasswordStatus::ExpiredNeverUsed, None), "Expired: never used");
        assert_eq!(FR.status(AppPasswordStatus::Revoked, None), "Révoqué");
    }

    #[test]
    fn a_duration_is_said_in_its_largest_whole_unit() {
        assert_eq!(EN.span(HumanDuration::from_seconds(86_400)), "1 day");
        assert_eq!(EN.span(HumanDuration::from_seconds(12 * 3_600)), "12 hours");
        assert_eq!(FR.span(HumanDuration::from_seconds(90 * 60)), "90 minutes");
        assert_eq!(FR.span(HumanDuration::from_seconds(45)), "45 secondes");
    }
}
