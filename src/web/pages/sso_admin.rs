//! The admin's single sign-on pages: the providers' part of Settings, a provider's form (add,
//! edit: its secret a password field never filled back), the confirmation before removing one;
//! and what the users' pages post about it (login method, link, unlink, an account made for an
//! identity).

use http::StatusCode;
use std::collections::HashMap;

use super::templates::{
    IdentityFacts, ProviderFields, ProviderPage, ProviderRemovePage, ProviderRow, chrome, render,
};
use super::{Page, PageError, refusal};
use crate::admin::{IdentityHint, ProviderInput, ProviderView};
use crate::auth::token::Secret;
use crate::web::i18n::texts;
use crate::web::portal::{PortalError, ProviderState, Refusal, Viewer};
use crate::web::{Web, WebRequest, see_other};

/// The providers as the Settings page lists them, in the page's language.
pub(super) async fn rows(
    web: &Web,
    r: &WebRequest,
    viewer: &Viewer,
) -> Result<Vec<ProviderRow>, PortalError> {
    let words = texts(r.lang).sso;
    let list = web.portal.providers(viewer).await?;
    Ok(list
        .into_iter()
        .map(|p| ProviderRow {
            available: p.state == ProviderState::Available,
            state: words.state(&p.state),
            id: p.view.id,
            name: p.view.display_name,
            issuer: p.view.issuer,
        })
        .collect())
}

/// `GET /admin/settings/sso/new` and `/admin/settings/sso/{id}`: the form, empty or filled
/// (never with the secret).
pub(super) async fn form(web: &Web, r: &WebRequest, id: Option<&str>) -> Page {
    let viewer = web.portal.viewer(r.token.as_deref()).await?;
    let t = texts(r.lang);
    let (f, title) = match id {
        Some(id) => {
            let p = web.portal.provider(&viewer, id).await?;
            let title = t.with(t.sso.edit_provider, &p.view.display_name);
            (fields_of(&p.view), title)
        }
        None => {
            // Admins only, as the edit form.
            web.portal.providers(&viewer).await?;
            let defaults = ProviderFields {
                scopes: "openid, email, profile".into(),
                username_claim: "preferred_username".into(),
                groups_claim: "groups".into(),
                enabled: true,
                ..ProviderFields::default()
            };
            (defaults, t.sso.add_provider.to_string())
        }
    };
    let page = chrome(r, Some(&viewer), &title);
    Ok(render(StatusCode::OK, &ProviderPage { page, editing: id.is_some(), f }))
}

/// `POST /admin/settings/sso`: saves the form; a refusal shows the form again with what was
/// typed (but the secret) and the reason.
pub(super) async fn save(
    web: &Web,
    r: &WebRequest,
    viewer: &Viewer,
    form: &HashMap<String, String>,
) -> Page {
    let id = form.get("id").map_or("", |id| id.trim());
    // What is stored under this id (to tell an edit from an addition, and where its secret
    // comes from), before saving.
    let stored = web.portal.provider(viewer, id).await.ok();
    match web.portal.save_provider(viewer, input_of(form)).await {
        Ok(_) => Ok(see_other("/admin/settings?done=saved#sso")),
        Err(e @ PortalError::Refused { refusal: Refusal::InvalidProvider, .. }) => {
            let t = texts(r.lang);
            let title = match &stored {
                Some(p) => t.with(t.sso.edit_provider, &p.view.display_name),
                None => t.sso.add_provider.to_string(),
            };
            let mut page = chrome(r, Some(viewer), &title);
            let (status, words) = refusal(page.t, &e);
            page.error = Some(format!("{words} {e}"));
            let mut f = typed(form);
            let editing = stored.is_some();
            f.secret_state = stored.map_or_else(|| "none".into(), |p| p.view.client_secret);
            Ok(render(status, &ProviderPage { page, editing, f }))
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /admin/settings/sso/{id}/remove`: are you sure?
pub(super) async fn remove_confirmation(web: &Web, r: &WebRequest, id: &str) -> Page {
    let viewer = web.portal.viewer(r.token.as_deref()).await?;
    let p = web.portal.provider(&viewer, id).await?;
    let page = chrome(r, Some(&viewer), texts(r.lang).sso.remove_provider);
    let (id, name) = (p.view.id, p.view.display_name);
    Ok(render(StatusCode::OK, &ProviderRemovePage { page, id, name }))
}

/// `POST /admin/settings/sso/{id}/remove`.
pub(super) async fn remove(web: &Web, viewer: &Viewer, id: &str) -> Page {
    web.portal.remove_provider(viewer, id).await?;
    Ok(see_other("/admin/settings?done=saved#sso"))
}

/// The posts of a user's page about single sign-on (`login-method`, `link`, `unlink`), or
/// None for another action.
pub(super) async fn user_action(
    web: &Web,
    viewer: &Viewer,
    name: &str,
    action: &str,
    form: &HashMap<String, String>,
) -> Option<Page> {
    let field = |key: &str| form.get(key).map_or("", String::as_str);
    let portal = &web.portal;
    let done = match action {
        "login-method" => portal.set_login_method(viewer, name, field("login")).await,
        "link" => portal.link_identity(viewer, name, field("provider"), field("subject")).await,
        "unlink" => portal.unlink_identity(viewer, name).await,
        _ => return None,
    };
    Some(match done {
        Ok(_) => Ok(see_other(&format!("/admin/users/{name}?done=saved"))),
        Err(e) => Err(PageError::from(e)),
    })
}

/// Creates an account for an identity from the add-user form (`sso` a provider id,
/// `identity` an e-mail or a subject); lands on its page.
pub(super) async fn create_user(
    web: &Web,
    viewer: &Viewer,
    form: &HashMap<String, String>,
) -> Result<String, PortalError> {
    let field = |key: &str| form.get(key).map_or("", String::as_str).trim();
    let identity = field("identity").to_string();
    let hint = if identity.contains('@') {
        IdentityHint::Email(identity)
    } else {
        IdentityHint::Subject(identity)
    };
    let is_admin = field("admin") == "on";
    let user = web.portal.create_sso_user(viewer, field("name"), is_admin, field("sso"), hint);
    Ok(format!("/admin/users/{}?done=saved", user.await?.name))
}

/// The providers a user's page offers to link, as (id, display name).
pub(super) async fn choices(web: &Web, viewer: &Viewer) -> Vec<(String, String)> {
    let list = web.portal.providers(viewer).await.unwrap_or_default();
    list.into_iter().map(|p| (p.view.id, p.view.display_name)).collect()
}

fn fields_of(p: &ProviderView) -> ProviderFields {
    ProviderFields {
        id: p.id.clone(),
        display_name: p.display_name.clone(),
        issuer: p.issuer.clone(),
        client_id: p.client_id.clone(),
        secret_state: p.client_secret.clone(),
        client_secret_file: p
            .client_secret_file
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_default(),
        scopes: p.scopes.join(", "),
        username_claim: p.username_claim.clone(),
        groups_claim: p.groups_claim.clone(),
        allowed_domains: p.allowed_domains.join(", "),
        allowed_groups: p.allowed_groups.join(", "),
        admin_groups: p.admin_groups.join(", "),
        auto_provision: p.auto_provision,
        trust_xms_edov: p.trust_xms_edov,
        refresh_check: p.refresh_check,
        enabled: p.enabled,
    }
}

/// What was typed, to show the form again (never the secret).
fn typed(form: &HashMap<String, String>) -> ProviderFields {
    let field = |key: &str| form.get(key).cloned().unwrap_or_default();
    let on = |key: &str| form.contains_key(key);
    ProviderFields {
        id: field("id"),
        display_name: field("display_name"),
        issuer: field("issuer"),
        client_id: field("client_id"),
        secret_state: String::new(),
        client_secret_file: field("client_secret_file"),
        scopes: field("scopes"),
        username_claim: field("username_claim"),
        groups_claim: field("groups_claim"),
        allowed_domains: field("allowed_domains"),
        allowed_groups: field("allowed_groups"),
        admin_groups: field("admin_groups"),
        auto_provision: on("auto_provision"),
        trust_xms_edov: on("trust_xms_edov"),
        refresh_check: on("refresh_check"),
        enabled: on("enabled"),
    }
}

/// The operation's input from the form: empty texts are unset, lists split on commas (and
/// scopes on spaces too), an unchecked box is off.
fn input_of(form: &HashMap<String, String>) -> ProviderInput {
    let text = |key: &str| form.get(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let list = |key: &str| -> Vec<String> {
        let value = form.get(key).map_or("", String::as_str);
        value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
    };
    let scopes = text("scopes").map(|s| {
        s.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
    });
    ProviderInput {
        id: text("id").unwrap_or_default(),
        display_name: text("display_name"),
        issuer: text("issuer").unwrap_or_default(),
        client_id: text("client_id").unwrap_or_default(),
        client_secret: text("client_secret").map(Secret::new),
        client_secret_file: text("client_secret_file").map(std::path::PathBuf::from),
        scopes,
        username_claim: text("username_claim"),
        groups_claim: text("groups_claim"),
        allowed_domains: list("allowed_domains"),
        allowed_groups: list("allowed_groups"),
        admin_groups: list("admin_groups"),
        auto_provision: form.contains_key("auto_provision"),
        trust_xms_edov: form.contains_key("trust_xms_edov"),
        refresh_check: form.contains_key("refresh_check"),
        enabled: Some(form.contains_key("enabled")),
    }
}

/// The linked identity as the user's page shows it: provider (by its display name among
/// `providers`), subject, e-mail and the last sign-in through the provider, in the page's
/// language.
pub(super) fn identity_facts(
    r: &WebRequest,
    user: &crate::admin::UserView,
    providers: &[(String, String)],
) -> Option<IdentityFacts> {
    let x = user.external.as_ref()?;
    let id = x.provider.to_string();
    let provider = providers.iter().find(|(p, _)| *p == id).map_or(id, |(_, name)| name.clone());
    let words = texts(r.lang).sso;
    let now = chrono::Local::now();
    let last = x.last_sso_at.map(|d| super::templates::relative_time(r.lang, d, &now));
    Some(IdentityFacts {
        provider,
        subject: x.subject.clone().unwrap_or_else(|| words.pending.to_string()),
        email: x.email.clone().unwrap_or_default(),
        last_sign_in: last.unwrap_or_else(|| words.never.to_string()),
    })
}
