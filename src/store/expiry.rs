//! Which app passwords expired, or come within a week of expiring, since the audit log last said
//! so: each is told once, on whichever node asks first and never again after a restart, because
//! the mark ("expiries told up to T", one per notice) moves in the same transaction that reads
//! them. The mark is a row of the settings
//! table under a name no setting has (the settings loader skips it), so it needs no new table,
//! travels with a backup and a `store copy`, and is invisible to `settings get`.

use chrono::{DateTime, TimeDelta, Utc};
use redb::{ReadableTable, WriteTransaction};

use super::tables::{APP_PASSWORDS, SETTINGS};
use super::{AppPassword, AppPasswordId, Change, Result, Store, UserName, decode};

/// The settings row holding the "expired" mark (RFC 3339).
pub(super) const MARK: &str = "_audit_expiries_told_until";
/// The settings row holding the "expires soon" mark (RFC 3339).
pub(super) const SOON_MARK: &str = "_audit_expiring_told_until";

/// An app password that reached its expiry date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// Its id (never its secret).
    pub id: AppPasswordId,
    /// Whose it is.
    pub owner: UserName,
    /// When it expired.
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// The app passwords (not revoked) that expired after the mark and at or before `now`,
    /// oldest first; the mark moves to `now`. The first call only sets the mark: passwords that
    /// expired before this davgate told expiries are not told.
    pub async fn take_expired(&self, now: DateTime<Utc>) -> Result<Vec<Expired>> {
        if let Some(pg) = self.postgres() {
            return pg.take_expiring(MARK, now, TimeDelta::zero()).await;
        }
        self.write(Change::Harmless, move |txn| take(txn, MARK, now, TimeDelta::zero())).await
    }

    /// The app passwords (not revoked, not yet expired) whose expiry came within `lead` of the
    /// clock since the last call, i.e. that expire after mark + `lead` and at or before `now` +
    /// `lead`, oldest first; the mark moves to `now`. As with [`Store::take_expired`], the first
    /// call only sets the mark.
    pub async fn take_expiring(&self, now: DateTime<Utc>, lead: TimeDelta) -> Result<Vec<Expired>> {
        if let Some(pg) = self.postgres() {
            return pg.take_expiring(SOON_MARK, now, lead).await;
        }
        self.write(Change::Harmless, move |txn| take(txn, SOON_MARK, now, lead)).await
    }
}

/// The mark as stored, if there is one that parses.
pub(super) fn parse_mark(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

fn take(
    txn: &WriteTransaction,
    key: &str,
    now: DateTime<Utc>,
    lead: TimeDelta,
) -> Result<Vec<Expired>> {
    let mut settings = txn.open_table(SETTINGS)?;
    let mark = settings.get(key)?.and_then(|v| parse_mark(v.value()));
    settings.insert(key, now.to_rfc3339().as_str())?;
    let Some(mark) = mark.filter(|m| *m < now) else { return Ok(Vec::new()) };
    let mut expired = Vec::new();
    for entry in txn.open_table(APP_PASSWORDS)?.iter()? {
        let password: AppPassword = decode(entry?.1.value())?;
        if let Some(at) = password.expires_at
            && password.revoked_at.is_none()
            && at > mark + lead
            && (lead.is_zero() || at > now)
            && at <= now + lead
        {
            expired.push(Expired { id: password.id, owner: password.owner, expires_at: at });
        }
    }
    expired.sort_by_key(|e| e.expires_at);
    Ok(expired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{TestStore, conformance};
    use crate::store::{NewAppPassword, Role, Scope};
    use chrono::TimeDelta;

    /// A new app password `n` of alice (made if need be) expiring at `at`.
    async fn expiring(t: &TestStore, n: u8, at: DateTime<Utc>) -> AppPasswordId {
        let alice = UserName::parse("alice").unwrap();
        if t.store.user(&alice).await.unwrap().is_none() {
            t.store.create_user(&alice, Role::User, "hash".into(), Utc::now()).await.unwrap();
        }
        let id = AppPasswordId::parse(&format!("00000000e{n}")).unwrap();
        let new = NewAppPassword {
            id: id.clone(),
            owner: alice,
            name: format!("p{n}"),
            secret_hash: "hash".into(),
            expires_at: Some(at),
            scope: Scope::default(),
        };
        t.store.create_app_password(new, at - TimeDelta::days(1)).await.unwrap();
        id
    }

    /// Each expired password is told once, by whichever node asks; revoked ones never.
    async fn each_expiry_is_told_once_on_any_node(t: TestStore) {
        let start = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        assert!(t.store.take_expired(start).await.unwrap().is_empty(), "the first sets the mark");
        let soon = expiring(&t, 1, start + TimeDelta::hours(1)).await;
        let later = expiring(&t, 2, start + TimeDelta::hours(3)).await;
        let revoked = expiring(&t, 3, start + TimeDelta::hours(1)).await;
        let alice = UserName::parse("alice").unwrap();
        t.store.revoke_app_password(&alice, &revoked, start).await.unwrap();
        let other = if t.is_shared() { t.second_node().await } else { t.store.clone() };
        let two_hours = start + TimeDelta::hours(2);
        let told = t.store.take_expired(two_hours).await.unwrap();
        assert_eq!(told.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), [soon]);
        assert!(other.take_expired(two_hours).await.unwrap().is_empty(), "told once");
        let told = other.take_expired(start + TimeDelta::hours(4)).await.unwrap();
        assert_eq!(told.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), [later]);
        assert!(t.store.take_expired(start + TimeDelta::hours(5)).await.unwrap().is_empty());
    }
    conformance!(each_expiry_is_told_once_on_any_node);

    /// "Expires within a week" is told once per password, a week ahead, on any node; not for a
    /// revoked one, and apart from the "expired" notice.
    async fn each_coming_expiry_is_told_once_a_week_ahead(t: TestStore) {
        let week = TimeDelta::days(7);
        let start = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        assert!(t.store.take_expiring(start, week).await.unwrap().is_empty(), "sets the mark");
        let soon = expiring(&t, 4, start + week + TimeDelta::hours(1)).await;
        let later = expiring(&t, 5, start + week + TimeDelta::days(2)).await;
        let revoked = expiring(&t, 6, start + week + TimeDelta::hours(1)).await;
        let alice = UserName::parse("alice").unwrap();
        t.store.revoke_app_password(&alice, &revoked, start).await.unwrap();
        let other = if t.is_shared() { t.second_node().await } else { t.store.clone() };
        let two_hours = start + TimeDelta::hours(2);
        let told = t.store.take_expiring(two_hours, week).await.unwrap();
        assert_eq!(told.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), [soon]);
        assert!(other.take_expiring(two_hours, week).await.unwrap().is_empty(), "told once");
        assert!(t.store.take_expired(two_hours).await.unwrap().is_empty(), "its own mark");
        let told = other.take_expiring(start + TimeDelta::days(3), week).await.unwrap();
        assert_eq!(told.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), [later]);
        assert!(t.store.take_expiring(start + TimeDelta::days(4), week).await.unwrap().is_empty());
    }
    conformance!(each_coming_expiry_is_told_once_a_week_ahead);
}
