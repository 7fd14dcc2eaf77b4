//! The words of the admin's "App passwords" screen (the inventory across users, its filters
//! and the bulk revoke's confirmation), in each language. Patterns hold `{}` for a number.

use super::i18n_time::Lang;
use crate::store::AppPasswordStatus;

/// The inventory screen's words.
pub struct InventoryTexts {
    pub nav: &'static str,
    pub title: &'static str,
    pub intro: &'static str,
    pub filters: &'static str,
    pub user: &'static str,
    pub access_method: &'static str,
    pub access_method_hint: &'static str,
    pub status: &'static str,
    pub any: &'static str,
    pub scope: &'static str,
    pub folder: &'static str,
    pub whole_home: &'static str,
    pub used_before: &'static str,
    pub never_used: &'static str,
    pub created_before: &'static str,
    pub apply: &'static str,
    pub clear: &'static str,
    pub owner: &'static str,
    pub name: &'static str,
    pub created: &'static str,
    pub last_used: &'static str,
    pub networks: &'static str,
    pub never: &'static str,
    pub not_assigned: &'static str,
    pub none: &'static str,
    /// `{}` passwords match.
    pub matching: &'static str,
    /// Only the first `{}` are shown.
    pub first_shown: &'static str,
    pub csv: &'static str,
    /// The button: revoke these `{}`.
    pub revoke_these: &'static str,
    pub confirm_title: &'static str,
    /// Revoke these `{}` app passwords?
    pub confirm_question: &'static str,
    pub confirm_consequence: &'static str,
    /// The confirming button, `{}` the count.
    pub confirm_button: &'static str,
    pub cancel: &'static str,
    /// `{}` app passwords were revoked.
    pub done: &'static str,
    /// The set changed: it now holds `{}`.
    pub count_changed: &'static str,
    pub nothing_to_revoke: &'static str,
    pub bad_filter: &'static str,
    statuses: [&'static str; 5],
}

const EN: InventoryTexts = InventoryTexts {
    nav: "App passwords",
    title: "App passwords of all users",
    intro: "Every app password of every account. Filter them, export them, or revoke a whole set at once.",
    filters: "Filters",
    user: "User",
    access_method: "Access method",
    access_method_hint: "As the list shows it, e.g. Windows Explorer; none: not used yet.",
    status: "Status",
    any: "Any",
    scope: "Scope",
    folder: "Confined to a folder",
    whole_home: "Whole home",
    used_before: "Last used before",
    never_used: "Never used",
    created_before: "Created before",
    apply: "Filter",
    clear: "Clear filters",
    owner: "Owner",
    name: "Name",
    created: "Created",
    last_used: "Last used",
    networks: "Networks",
    never: "Never",
    not_assigned: "Not assigned",
    none: "No app password matches these filters.",
    matching: "Matching app passwords: {}",
    first_shown: "The first {} are shown; the CSV export holds them all.",
    csv: "Download as CSV",
    revoke_these: "Revoke these {}",
    confirm_title: "Revoke app passwords",
    confirm_question: "Revoke these {} app passwords?",
    confirm_consequence: "The applications using them stop at once, and this cannot be undone. Their owners see them as revoked by an admin.",
    confirm_button: "Revoke {} app passwords",
    cancel: "Cancel",
    done: "App passwords revoked: {}.",
    count_changed: "The set changed in the meantime: it now holds {} app passwords to revoke. Nothing was revoked; confirm again.",
    nothing_to_revoke: "None of these can be revoked: they are all revoked already.",
    bad_filter: "This filter is not valid:",
    statuses: ["Active", "Expired", "Expired: unused", "Expired: never used", "Revoked"],
};

const FR: InventoryTexts = InventoryTexts {
    nav: "Mots de passe d’application",
    title: "Mots de passe d’application de tous les utilisateurs",
    intro: "Tous les mots de passe d’application de tous les comptes. Filtrez-les, exportez-les ou révoquez tout un ensemble d’un coup.",
    filters: "Filtres",
    user: "Utilisateur",
    access_method: "Méthode d’accès",
    access_method_hint: "Comme la liste l’affiche, p. ex. Windows Explorer ; none : pas encore utilisé.",
    status: "État",
    any: "Tous",
    scope: "Portée",
    folder: "Limité à un dossier",
    whole_home: "Tout le dossier personnel",
    used_before: "Dernière utilisation avant le",
    never_used: "Jamais utilisé",
    created_before: "Créé avant le",
    apply: "Filtrer",
    clear: "Effacer les filtres",
    owner: "Propriétaire",
    name: "Nom",
    created: "Créé",
    last_used: "Dernière utilisation",
    networks: "Réseaux",
    never: "Jamais",
    not_assigned: "Non attribuée",
    none: "Aucun mot de passe d’application ne correspond à ces filtres.",
    matching: "Mots de passe d’application correspondants : {}",
    first_shown: "Les {} premiers sont affichés ; l’export CSV les contient tous.",
    csv: "Télécharger en CSV",
    revoke_these: "Révoquer ces {}",
    confirm_title: "Révoquer des mots de passe d’application",
    confirm_question: "Révoquer ces {} mots de passe d’application ?",
    confirm_consequence: "Les applications qui les utilisent s’arrêtent aussitôt, et c’est irréversible. Leurs propriétaires les voient révoqués par un administrateur.",
    confirm_button: "Révoquer {} mots de passe d’application",
    cancel: "Annuler",
    done: "Mots de passe d’application révoqués : {}.",
    count_changed: "L’ensemble a changé entre-temps : il contient maintenant {} mots de passe d’application à révoquer. Rien n’a été révoqué ; confirmez à nouveau.",
    nothing_to_revoke: "Aucun ne peut être révoqué : ils le sont tous déjà.",
    bad_filter: "Ce filtre n’est pas valable :",
    statuses: ["Actif", "Expiré", "Expiré : inutilisé", "Expiré : jamais utilisé", "Révoqué"],
};

impl InventoryTexts {
    /// A status's name in the filter and the table.
    pub fn status_name(&self, status: AppPasswordStatus) -> &'static str {
        let [active, expired, unused, never_used, revoked] = self.statuses;
        match status {
            AppPasswordStatus::Active => active,
            AppPasswordStatus::Expired => expired,
            AppPasswordStatus::ExpiredUnused => unused,
            AppPasswordStatus::ExpiredNeverUsed => never_used,
            AppPasswordStatus::Revoked => revoked,
        }
    }

    /// `pattern` with its `{}` replaced by `n`.
    pub fn count(&self, pattern: &str, n: impl std::borrow::Borrow<usize>) -> String {
        pattern.replacen("{}", &n.borrow().to_string(), 1)
    }
}

/// The words in `lang`.
pub fn inventory_texts(lang: Lang) -> &'static InventoryTexts {
    match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}

/// The navigation link's word in `lang` (the frame every page shares names the screen).
pub fn nav_word(lang: &Lang) -> &'static str {
    inventory_texts(*lang).nav
}
