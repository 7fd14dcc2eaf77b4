//! The refresh-token check: each kept refresh token is presented to its provider; a definite
//! refusal (`invalid_grant`: the person was disabled or removed there) disables the account
//! through the usual path (its app passwords are refused at the next request, its sessions
//! end), while a network or server failure never does.

use openidconnect::core::CoreErrorResponseType;
use openidconnect::{OAuth2TokenResponse, RefreshToken, RequestTokenError};
use serde::{Deserialize, Serialize};

use super::discovery::{discover, with_causes};
use crate::secret::Secret;
use crate::store::{Store, UserName};

/// What one run of the check did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Rechecked {
    /// Accounts whose token the provider still accepted.
    pub accepted: usize,
    /// Accounts the provider refused, now disabled.
    pub disabled: Vec<String>,
    /// Accounts that could not be checked this time (provider unreachable, gone).
    pub unchecked: usize,
}

/// Checks every kept refresh token; `disable` is the existing disable path.
pub async fn run<F, Fut>(store: &Store, http: &reqwest::Client, disable: F) -> Rechecked
where
    F: Fn(UserName) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut done = Rechecked::default();
    let tokens = match store.refresh_tokens().await {
        Ok(tokens) => tokens,
        Err(e) => {
            tracing::warn!(target: "davgate::oidc", "refresh check: cannot read the tokens: {e}");
            return done;
        }
    };
    for (name, token) in tokens {
        match check_one(store, http, &name, &token).await {
            Verdict::Accepted(rotated) => {
                done.accepted += 1;
                if let Some(rotated) = rotated {
                    let _ = store.set_refresh_token(&name, Some(rotated)).await;
                }
            }
            Verdict::Refused => {
                tracing::warn!(
                    target: "davgate::auth",
                    "refresh check: the provider refused '{name}' (invalid_grant): account disabled"
                );
                if disable(name.clone()).await {
                    let _ = store.set_refresh_token(&name, None).await;
                    done.disabled.push(name.to_string());
                } else {
                    done.unchecked += 1;
                }
            }
            Verdict::Unknown(why) => {
                tracing::info!(target: "davgate::oidc", "refresh check: '{name}' not checked: {why}");
                done.unchecked += 1;
            }
        }
    }
    done
}

enum Verdict {
    Accepted(Option<Secret>),
    Refused,
    Unknown(String),
}

async fn check_one(
    store: &Store,
    http: &reqwest::Client,
    name: &UserName,
    token: &Secret,
) -> Verdict {
    let user = match store.user(name).await {
        Ok(Some(user)) => user,
        Ok(None) => return Verdict::Unknown("no such account".into()),
        Err(e) => return Verdict::Unknown(e.to_string()),
    };
    if user.disabled {
        return Verdict::Unknown("already disabled".into());
    }
    let Some(x) = user.external else { return Verdict::Unknown("not linked".into()) };
    let mut provider = match store.provider(&x.provider).await {
        Ok(Some(p)) => p,
        Ok(None) => return Verdict::Unknown("its provider is gone".into()),
        Err(e) => return Verdict::Unknown(e.to_string()),
    };
    if let Some(file) = provider.client_secret_file.clone() {
        let read = tokio::task::spawn_blocking(move || std::fs::read_to_string(file)).await;
        match read {
            Ok(Ok(text)) => {
                provider.client_secret =
                    Some(Secret::new(text.lines().next().unwrap_or("").trim().to_string()));
            }
            _ => return Verdict::Unknown("the client secret file is unreadable".into()),
        }
    }
    let found = match discover(&provider.issuer, http, chrono::Utc::now()).await {
        Ok(found) => found,
        Err(e) => return Verdict::Unknown(e.to_string()),
    };
    // The redirect URI plays no part in a refresh.
    let client = match super::token::client(&provider, &found.metadata, "http://localhost/") {
        Ok(client) => client,
        Err(e) => return Verdict::Unknown(e.to_string()),
    };
    let refresh = RefreshToken::new(token.expose().to_string());
    let request = match client.exchange_refresh_token(&refresh) {
        Ok(request) => request,
        Err(e) => return Verdict::Unknown(e.to_string()),
    };
    match request.request_async(http).await {
        Ok(answer) => {
            Verdict::Accepted(answer.refresh_token().map(|t| Secret::new(t.secret().clone())))
        }
        Err(RequestTokenError::ServerResponse(r))
            if *r.error() == CoreErrorResponseType::InvalidGrant =>
        {
            Verdict::Refused
        }
        Err(e) => Verdict::Unknown(with_causes(&e)),
    }
}
