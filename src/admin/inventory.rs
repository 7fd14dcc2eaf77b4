//! The admin inventory: every app password of every user in one listing, filtered, and the bulk
//! revoke of a filtered set. One store read answers a listing whatever the number of users
//! (`Store::app_passwords(None)` is one read transaction on redb and one query on PostgreSQL);
//! the filters run on what came back. A bulk revoke revokes each password through
//! [`Admin::revoke_app_password`], so the gate's cache, the locks and the audit log follow as
//! for one revoke.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::views::AppPasswordView;
use super::{Admin, OpError};
use crate::store::{Access, AppPassword, AppPasswordStatus, UsePolicy, UserName};

/// Most passwords one page of the API's and the pages' inventory holds (the CSV export and
/// the CLI have no page).
pub const MAX_INVENTORY_PAGE: usize = 10_000;

/// Which app passwords an inventory holds; every filter given must hold (none: all of them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryFilter {
    /// Only this user's.
    #[serde(default)]
    pub user: Option<UserName>,
    /// Only those whose first use was by this client ("Windows Explorer", compared without
    /// regard to case); `none`: those not used yet.
    #[serde(default)]
    pub access_method: Option<String>,
    /// Only those of this status as of now.
    #[serde(default)]
    pub status: Option<AppPasswordStatus>,
    /// Only those whose scope has every one of these traits.
    #[serde(default)]
    pub scope: Vec<ScopeTrait>,
    /// Only those last used before this time (never-used ones are not "used before").
    #[serde(default)]
    pub used_before: Option<DateTime<Utc>>,
    /// Only those never used.
    #[serde(default)]
    pub never_used: bool,
    /// Only those created before this time.
    #[serde(default)]
    pub created_before: Option<DateTime<Utc>>,
}

/// One trait of a scope a filter can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeTrait {
    /// Its access is this one.
    Access(Access),
    /// Confined to a folder of the home.
    Folder,
    /// The whole home.
    WholeHome,
}

/// Why a filter's text was refused (the API answers 400, the CLI exits with it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A status that is none of the five.
    #[error(
        "'{0}' is not a status: use active, expired, expired_unused, expired_never_used or revoked"
    )]
    Status(String),
    /// A scope trait that is none of those offered.
    #[error(
        "'{0}' is not a scope: use read_write, read_only, upload_only, folder or whole_home \
         (several comma-separated)"
    )]
    Scope(String),
    /// A date that does not parse.
    #[error(
        "{field}: '{text}' is not a date: write 2026-03-01, an RFC 3339 time or a duration back from now such as 90d"
    )]
    Date {
        /// Which filter.
        field: &'static str,
        /// What was given.
        text: String,
    },
    /// A user name that is not one.
    #[error("{0}")]
    User(String),
}

impl InventoryFilter {
    /// Whether `p` is in the set as of `now` under `policy`.
    pub fn matches(&self, p: &AppPassword, now: DateTime<Utc>, policy: &UsePolicy) -> bool {
        let last_use = p.last_used_at.or(p.first_used_at);
        self.user.as_ref().is_none_or(|u| &p.owner == u)
            && self.access_method.as_deref().is_none_or(|m| match &p.access_method {
                None => m.eq_ignore_ascii_case("none"),
                Some(have) => have.eq_ignore_ascii_case(m),
            })
            && self.status.is_none_or(|s| p.status(now, policy) == s)
            && self.scope.iter().all(|t| match t {
                ScopeTrait::Access(a) => p.scope.access == *a,
                ScopeTrait::Folder => p.scope.folder.is_some(),
                ScopeTrait::WholeHome => p.scope.folder.is_none(),
            })
            && self.used_before.is_none_or(|at| last_use.is_some_and(|used| used < at))
            && (!self.never_used || p.first_used_at.is_none())
            && self.created_before.is_none_or(|at| p.created_at < at)
    }

    /// A status as the API and the CLI write it.
    pub fn parse_status(text: &str) -> Result<AppPasswordStatus, FilterError> {
        AppPasswordStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == text.trim())
            .ok_or_else(|| FilterError::Status(crate::log_safe::escaped(text)))
    }

    /// Scope traits, comma-separated (`read_only,folder`).
    pub fn parse_scope(text: &str) -> Result<Vec<ScopeTrait>, FilterError> {
        text.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| match t {
                "folder" => Ok(ScopeTrait::Folder),
                "whole_home" => Ok(ScopeTrait::WholeHome),
                other => Access::ALL
                    .into_iter()
                    .find(|a| a.as_str() == other)
                    .map(ScopeTrait::Access)
                    .ok_or_else(|| FilterError::Scope(crate::log_safe::escaped(other))),
            })
            .collect()
    }

    /// A date: `2026-03-01` (midnight UTC), an RFC 3339 time, or a duration back from `now`.
    pub fn parse_date(
        field: &'static str,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, FilterError> {
        let text = text.trim();
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Ok(at.with_timezone(&Utc));
        }
        if let Some(midnight) =
            NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0))
        {
            return Ok(midnight.and_utc());
        }
        match text.parse::<crate::duration::HumanDuration>() {
            Ok(back) => Ok(now - back.as_chrono()),
            Err(_) => Err(FilterError::Date { field, text: crate::log_safe::escaped(text) }),
        }
    }

    /// A user name filter.
    pub fn parse_user(text: &str) -> Result<UserName, FilterError> {
        UserName::parse(text.trim()).map_err(|e| FilterError::User(e.to_string()))
    }
}

/// One page of the inventory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Inventory {
    /// How many passwords the filter holds in all.
    pub total: usize,
    /// How many of them a bulk revoke would revoke: those not revoked yet (what its
    /// `expected_count` must say).
    pub revocable: usize,
    /// The page asked (`offset`, at most `limit`), ordered by owner then creation.
    pub app_passwords: Vec<AppPasswordView>,
}

/// What a bulk revoke did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum BulkRevoke {
    /// The set held the expected number: all of them are revoked now.
    Revoked {
        /// How many.
        count: usize,
    },
    /// The set holds another number than the confirmation said: nothing was revoked.
    CountDiffers {
        /// What the caller expected.
        expected: usize,
        /// How many the set holds now.
        actual: usize,
    },
}

impl Admin {
    /// The passwords `filter` holds, everyone's, the page from `offset` of at most `limit`
    /// (the web caps it at [`MAX_INVENTORY_PAGE`]), with the counts of the whole set.
    pub async fn inventory(
        &self,
        filter: &InventoryFilter,
        offset: usize,
        limit: usize,
    ) -> Result<Inventory, OpError> {
        let (set, now, policy) = self.filtered(filter).await?;
        self.record(super::operations::Kind::Read, || "app-password inventory".into());
        let revocable = set.iter().filter(|p| p.revoked_at.is_none()).count();
        let app_passwords = set
            .iter()
            .skip(offset)
            .take(limit)
            .map(|p| AppPasswordView::new(p, now, &policy))
            .collect();
        Ok(Inventory { total: set.len(), revocable, app_passwords })
    }

    /// Revokes every not yet revoked password `filter` holds, if they are `expected` in number;
    /// otherwise revokes nothing and says how many there are.
    pub async fn bulk_revoke(
        &self,
        filter: &InventoryFilter,
        expected: usize,
    ) -> Result<BulkRevoke, OpError> {
        let (set, _, _) = self.filtered(filter).await?;
        let set: Vec<AppPassword> = set.into_iter().filter(|p| p.revoked_at.is_none()).collect();
        if set.len() != expected {
            return Ok(BulkRevoke::CountDiffers { expected, actual: set.len() });
        }
        for p in &set {
            match self.revoke_app_password(&p.owner, &p.id).await {
                // Removed with its account since the read: nothing left to revoke.
                Ok(()) | Err(OpError::UnknownAppPassword(_) | OpError::UnknownUser(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(BulkRevoke::Revoked { count: set.len() })
    }

    async fn filtered(
        &self,
        filter: &InventoryFilter,
    ) -> Result<(Vec<AppPassword>, DateTime<Utc>, UsePolicy), OpError> {
        let all = self.store().app_passwords(filter.user.as_ref()).await?;
        let now = self.clock().now();
        let policy = self.store().settings().use_policy();
        let set = all.into_iter().filter(|p| filter.matches(p, now, &policy)).collect();
        Ok((set, now, policy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_as_the_api_and_the_cli_write_them() {
        let now: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            InventoryFilter::parse_scope("read_only, folder").unwrap(),
            vec![ScopeTrait::Access(Access::ReadOnly), ScopeTrait::Folder]
        );
        assert!(InventoryFilter::parse_scope("everything").is_err());
        assert_eq!(
            InventoryFilter::parse_status("expired_never_used").unwrap(),
            AppPasswordStatus::ExpiredNeverUsed
        );
        assert!(InventoryFilter::parse_status("gone").is_err());
        let day = |t: &str| InventoryFilter::parse_date("created_before", t, now).unwrap();
        assert_eq!(day("2026-03-01"), "2026-03-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(day("2026-03-01T10:00:00+02:00").to_rfc3339(), "2026-03-01T08:00:00+00:00");
        assert_eq!(day("30d"), "2026-05-02T00:00:00Z".parse::<DateTime<Utc>>().unwrap());
        let e = InventoryFilter::parse_date("used_before", "yesterday", now).unwrap_err();
        assert!(e.to_string().starts_with("used_before: 'yesterday'"), "{e}");
    }
}
