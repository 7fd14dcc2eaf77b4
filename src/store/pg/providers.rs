//! Identity providers and refresh tokens in PostgreSQL: the redb file `providers.rs`'s
//! operations, with the same answers.

use super::users::unknown;
use super::{Pg, bump};
use crate::secret::Secret;
use crate::store::{Error, OidcProvider, ProviderId, Result, UserName};

impl Pg {
    pub(in crate::store) async fn put_provider(&self, provider: OidcProvider) -> Result<()> {
        let record = serde_json::to_vec(&provider)?;
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let generation = bump(&txn).await?;
        txn.execute(
            "INSERT INTO oidc_providers (id, record) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record",
            &[&provider.id.as_str(), &record],
        )
        .await?;
        self.commit_published(txn, generation).await?;
        drop(client);
        self.await_acks(generation).await;
        Ok(())
    }

    pub(in crate::store) async fn providers(&self) -> Result<Vec<OidcProvider>> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT record FROM oidc_providers ORDER BY id COLLATE \"C\"", &[])
            .await?;
        rows.iter().map(|r| Ok(serde_json::from_slice(r.try_get::<_, &[u8]>(0)?)?)).collect()
    }

    pub(in crate::store) async fn remove_provider(&self, id: &ProviderId) -> Result<()> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let generation = bump(&txn).await?;
        let removed =
            txn.execute("DELETE FROM oidc_providers WHERE id = $1", &[&id.as_str()]).await?;
        if removed == 0 {
            return Err(Error::UnknownProvider(id.to_string()));
        }
        self.commit_published(txn, generation).await?;
        drop(client);
        self.await_acks(generation).await;
        Ok(())
    }

    pub(in crate::store) async fn set_refresh_token(
        &self,
        name: &UserName,
        token: Option<Secret>,
    ) -> Result<()> {
        let client = self.client().await?;
        let exists = "SELECT 1 FROM users WHERE name = $1";
        if client.query_opt(exists, &[&name.as_str()]).await?.is_none() {
            return Err(unknown(name));
        }
        match token {
            Some(token) => {
                client
                    .execute(
                        "INSERT INTO oidc_refresh (username, token) VALUES ($1, $2)
                         ON CONFLICT (username) DO UPDATE SET token = EXCLUDED.token",
                        &[&name.as_str(), &token.expose()],
                    )
                    .await?
            }
            None => {
                client
                    .execute("DELETE FROM oidc_refresh WHERE username = $1", &[&name.as_str()])
                    .await?
            }
        };
        Ok(())
    }

    pub(in crate::store) async fn refresh_tokens(&self) -> Result<Vec<(UserName, Secret)>> {
        let client = self.client().await?;
        let rows =
            client.query("SELECT username, token FROM oidc_refresh ORDER BY username", &[]).await?;
        rows.iter()
            .map(|r| Ok((UserName::parse(r.try_get(0)?)?, Secret::new(r.try_get(1)?))))
            .collect()
    }
}
