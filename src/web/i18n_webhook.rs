//! The words of the Settings page's "Webhooks" card, in each language.

use super::i18n_time::Lang;

/// The card's labels.
pub struct WebhookTexts {
    pub title: &'static str,
    pub url_label: &'static str,
    pub url_help: &'static str,
    pub secret_label: &'static str,
    pub secret_help: &'static str,
    pub secret_set: &'static str,
}

const EN: WebhookTexts = WebhookTexts {
    title: "Webhooks",
    url_label: "Webhook URL",
    url_help: "Every audit event is POSTed here as JSON, signed (X-Davgate-Signature: \
               sha256=HMAC of \"timestamp.body\"). https://, or http:// to this machine only. \
               Empty: off.",
    secret_label: "Webhook secret",
    secret_help: "The signing key, at least 16 characters. It is never shown again: leave \
                  empty to keep the current one.",
    secret_set: "A secret is set.",
};

const FR: WebhookTexts = WebhookTexts {
    title: "Webhooks",
    url_label: "URL du webhook",
    url_help: "Chaque événement d’audit y est envoyé en JSON par POST, signé (X-Davgate-Signature : \
               sha256=HMAC de « horodatage.corps »). https://, ou http:// vers cette machine \
               seulement. Vide : désactivé.",
    secret_label: "Secret du webhook",
    secret_help: "La clé de signature, 16 caractères au moins. Elle n’est plus jamais affichée : \
                  laisser vide pour garder l’actuelle.",
    secret_set: "Un secret est défini.",
};

/// The labels in `lang`.
pub fn webhook_texts(lang: Lang) -> &'static WebhookTexts {
    match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}
