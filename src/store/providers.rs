//! The configured identity providers and the refresh tokens kept for the refresh check.
//!
//! This file writes `oidc_providers` and `oidc_refresh` only.

use redb::ReadableTable;

use super::tables::{OIDC_PROVIDERS, OIDC_REFRESH, USERS};
use super::{Change, Error, OidcProvider, ProviderId, Result, Store, UserName, decode, encode};
use crate::secret::Secret;

impl Store {
    /// Adds `provider`, or replaces the one with its id. Published: the server reloads its
    /// providers from the change feed.
    pub async fn put_provider(&self, provider: OidcProvider) -> Result<()> {
        if let Some(pg) = self.postgres() {
            return pg.put_provider(provider).await;
        }
        self.write(Change::TakesCredentials, move |txn| {
            let record = encode(&provider)?;
            txn.open_table(OIDC_PROVIDERS)?.insert(provider.id.as_str(), record.as_slice())?;
            Ok(())
        })
        .await
    }

    /// Every configured provider, sorted by id.
    pub async fn providers(&self) -> Result<Vec<OidcProvider>> {
        if let Some(pg) = self.postgres() {
            return pg.providers().await;
        }
        self.read(|txn| {
            let table = txn.open_table(OIDC_PROVIDERS)?;
            table.iter()?.map(|e| decode(e?.1.value())).collect()
        })
        .await
    }

    /// The provider `id`, if configured.
    pub async fn provider(&self, id: &ProviderId) -> Result<Option<OidcProvider>> {
        Ok(self.providers().await?.into_iter().find(|p| &p.id == id))
    }

    /// Removes the provider `id`; [`Error::UnknownProvider`] if there is none. Accounts linked
    /// through it keep their identity (re-adding the provider brings them back).
    pub async fn remove_provider(&self, id: &ProviderId) -> Result<()> {
        if let Some(pg) = self.postgres() {
            return pg.remove_provider(id).await;
        }
        let id = id.clone();
        self.write(Change::TakesCredentials, move |txn| {
            match txn.open_table(OIDC_PROVIDERS)?.remove(id.as_str())? {
                Some(_) => Ok(()),
                None => Err(Error::UnknownProvider(id.to_string())),
            }
        })
        .await
    }

    /// Keeps (or forgets, with None) the refresh token of `name`'s last sign-in.
    pub async fn set_refresh_token(&self, name: &UserName, token: Option<Secret>) -> Result<()> {
        if let Some(pg) = self.postgres() {
            return pg.set_refresh_token(name, token).await;
        }
        let name = name.clone();
        self.write(Change::Harmless, move |txn| {
            if txn.open_table(USERS)?.get(name.as_str())?.is_none() {
                return Err(Error::UnknownUser(name.to_string()));
            }
            let mut table = txn.open_table(OIDC_REFRESH)?;
            match token {
                Some(token) => table.insert(name.as_str(), token.expose())?,
                None => table.remove(name.as_str())?,
            };
            Ok(())
        })
        .await
    }

    /// Every kept refresh token, by account.
    pub async fn refresh_tokens(&self) -> Result<Vec<(UserName, Secret)>> {
        if let Some(pg) = self.postgres() {
            return pg.refresh_tokens().await;
        }
        self.read(|txn| {
            let table = txn.open_table(OIDC_REFRESH)?;
            let mut out = Vec::new();
            for entry in table.iter()? {
                let (name, token) = entry?;
                out.push((UserName::parse(name.value())?, Secret::new(token.value().to_string())));
            }
            Ok(out)
        })
        .await
    }
}
