//! The admin inventory on the web: every user's app passwords, filtered, and the bulk revoke of
//! a filtered set (admins only; others get 403 whatever they ask). The pages and the API read
//! the same filter fields through [`filter_of`].

use super::{Portal, PortalError, Viewer};
use crate::admin::{BulkRevoke, FilterError, Inventory, InventoryFilter};

/// The filter the fields `field` answers ask for (an empty field: no filter): `user`,
/// `access_method`, `status`, `scope`, `used_before`, `never_used` (`true`, `on`, `1`),
/// `created_before`; dates as [`InventoryFilter::parse_date`] reads them, from `now`.
pub fn filter_of(
    field: impl Fn(&str) -> Option<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<InventoryFilter, FilterError> {
    let given = |name: &str| field(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let date = |name: &'static str| {
        given(name).map(|t| InventoryFilter::parse_date(name, &t, now)).transpose()
    };
    Ok(InventoryFilter {
        user: given("user").map(|u| InventoryFilter::parse_user(&u)).transpose()?,
        access_method: given("access_method"),
        status: given("status").map(|s| InventoryFilter::parse_status(&s)).transpose()?,
        scope: given("scope")
            .map(|s| InventoryFilter::parse_scope(&s))
            .transpose()?
            .unwrap_or_default(),
        used_before: date("used_before")?,
        never_used: given("never_used").is_some_and(|v| matches!(v.as_str(), "true" | "on" | "1")),
        created_before: date("created_before")?,
    })
}

impl Portal {
    /// A page of the passwords `filter` holds, everyone's.
    pub async fn inventory(
        &self,
        viewer: &Viewer,
        filter: &InventoryFilter,
        offset: usize,
        limit: usize,
    ) -> Result<Inventory, PortalError> {
        Ok(self.admin_only(viewer)?.inventory(filter, offset, limit).await?)
    }

    /// Revokes the set `filter` holds if it holds `expected` passwords to revoke, in the
    /// viewer's name (each revocation audited with them as the admin).
    pub async fn bulk_revoke(
        &self,
        viewer: &Viewer,
        filter: &InventoryFilter,
        expected: usize,
    ) -> Result<BulkRevoke, PortalError> {
        Ok(self.admin_only(viewer)?.bulk_revoke(filter, expected).await?)
    }
}
