//! Every table of the store, its key encoding, and the schema version.

use redb::{
    Key, ReadTransaction, ReadableTable, TableDefinition, TableHandle, Value, WriteTransaction,
};

use super::{Error, Result};

/// Bump when a table or record changes shape, and add the migration to [`initialise`].
pub const SCHEMA_VERSION: u64 = 5;

/// `"schema_version"` → version number.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// user name → JSON [`super::User`].
pub const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
/// app-password id → JSON [`super::AppPassword`].
pub const APP_PASSWORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("app_passwords");
/// (owner, id) → (): the index that lists one user's app passwords without a scan.
pub const APP_PASSWORDS_BY_OWNER: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("app_passwords_by_owner");
/// (user, path, `{namespace}name`) → JSON [`super::DeadProp`].
pub const DEAD_PROPS: TableDefinition<(&str, &str, &str), &[u8]> =
    TableDefinition::new("dead_props");
/// user → (count, bytes) of their dead properties that count towards the budget (see
/// [`super::PropLimits`]); kept in the same transaction as every change to `dead_props`.
/// Added in schema 2.
pub const DEAD_PROPS_USAGE: TableDefinition<&str, (u64, u64)> =
    TableDefinition::new("dead_props_usage");
/// SHA-256 of a session token → JSON session (see [`super::sessions`]). Added in schema 3.
pub const WEB_SESSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("web_sessions");
/// use counter → session token digest: the sessions from least to most recently used.
pub const WEB_SESSIONS_BY_USE: TableDefinition<u64, &[u8]> =
    TableDefinition::new("web_sessions_by_use");
/// (user, use counter) → session token digest: one account's sessions by use.
pub const WEB_SESSIONS_BY_USER: TableDefinition<(&str, u64), &[u8]> =
    TableDefinition::new("web_sessions_by_user");
/// (issuer, subject) → user name: the unique index of linked identities. Added in schema 4.
pub const EXTERNAL_IDENTITIES: TableDefinition<(&str, &str), &str> =
    TableDefinition::new("external_identities");
/// provider id → JSON [`super::OidcProvider`]. Added in schema 4.
pub const OIDC_PROVIDERS: TableDefinition<&str, &[u8]> = TableDefinition::new("oidc_providers");
/// user name → the provider's refresh token (the refresh check). Added in schema 4.
pub const OIDC_REFRESH: TableDefinition<&str, &str> = TableDefinition::new("oidc_refresh");
/// sequence number → JSON [`super::AuditEvent`]: the audit log, oldest first. Added in
/// schema 5.
pub const AUDIT_EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("audit_events");
/// (subject user, sequence number) → (): one account's events without a scan. Added in schema 5.
pub const AUDIT_EVENTS_BY_SUBJECT: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("audit_events_by_subject");
/// setting key → value as text.
pub const SETTINGS: TableDefinition<&str, &str> = TableDefinition::new("settings");

const VERSION_KEY: &str = "schema_version";

/// What opening found to migrate, for the caller to run in the same transaction (the migration
/// belongs to the file that owns the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Migration {
    /// The schema is current.
    None,
    /// Schema 1 → 2: the dead-property budget table is built from what is stored.
    PropsUsage,
}

/// Creates missing tables and checks (or records) the schema version, in `txn`.
pub fn initialise(txn: &WriteTransaction) -> Result<Migration> {
    let migration = {
        let mut meta = txn.open_table(META)?;
        let found = meta.get(VERSION_KEY)?.map(|v| v.value());
        match found {
            Some(v) if v > SCHEMA_VERSION => {
                return Err(Error::NewerSchema { found: v, supported: SCHEMA_VERSION });
            }
            Some(SCHEMA_VERSION) => Migration::None,
            Some(found) => {
                meta.insert(VERSION_KEY, SCHEMA_VERSION)?;
                // Schemas 3, 4 and 5 only add tables, created below (older users read with
                // serde defaults).
                if found < 2 { Migration::PropsUsage } else { Migration::None }
            }
            None => {
                meta.insert(VERSION_KEY, SCHEMA_VERSION)?;
                Migration::None
            }
        }
    };
    txn.open_table(USERS)?;
    txn.open_table(APP_PASSWORDS)?;
    txn.open_table(APP_PASSWORDS_BY_OWNER)?;
    txn.open_table(SETTINGS)?;
    txn.open_table(DEAD_PROPS)?;
    txn.open_table(DEAD_PROPS_USAGE)?;
    txn.open_table(WEB_SESSIONS)?;
    txn.open_table(WEB_SESSIONS_BY_USE)?;
    txn.open_table(WEB_SESSIONS_BY_USER)?;
    txn.open_table(EXTERNAL_IDENTITIES)?;
    txn.open_table(OIDC_PROVIDERS)?;
    txn.open_table(OIDC_REFRESH)?;
    txn.open_table(AUDIT_EVENTS)?;
    txn.open_table(AUDIT_EVENTS_BY_SUBJECT)?;
    Ok(migration)
}

/// What [`copy_all`] copied: the records of the tables a backup summary names.
#[derive(Debug, Clone, Copy, Default)]
pub struct Copied {
    /// Accounts.
    pub users: u64,
    /// App passwords, revoked and expired ones included.
    pub app_passwords: u64,
    /// Dead properties.
    pub dead_props: u64,
}

/// Copies every table of `from` (one read transaction: one consistent moment) into `to`, record
/// for record. A table this list does not know is refused rather than left out, so that a
/// table added to the schema without being added here cannot make a silent partial backup.
pub fn copy_all(from: &ReadTransaction, to: &WriteTransaction) -> Result<Copied> {
    const KNOWN: [&str; 15] = [
        "meta",
        "users",
        "app_passwords",
        "app_passwords_by_owner",
        "dead_props",
        "dead_props_usage",
        "web_sessions",
        "web_sessions_by_use",
        "web_sessions_by_user",
        "settings",
        "external_identities",
        "oidc_providers",
        "oidc_refresh",
        "audit_events",
        "audit_events_by_subject",
    ];
    if let Some(unknown) = from.list_tables()?.find(|t| !KNOWN.contains(&t.name())) {
        return Err(Error::UnknownTable(unknown.name().to_string()));
    }
    copy(from, to, META)?;
    let users = copy(from, to, USERS)?;
    let app_passwords = copy(from, to, APP_PASSWORDS)?;
    copy(from, to, APP_PASSWORDS_BY_OWNER)?;
    let dead_props = copy(from, to, DEAD_PROPS)?;
    copy(from, to, DEAD_PROPS_USAGE)?;
    copy(from, to, WEB_SESSIONS)?;
    copy(from, to, WEB_SESSIONS_BY_USE)?;
    copy(from, to, WEB_SESSIONS_BY_USER)?;
    copy(from, to, SETTINGS)?;
    copy(from, to, EXTERNAL_IDENTITIES)?;
    copy(from, to, OIDC_PROVIDERS)?;
    copy(from, to, OIDC_REFRESH)?;
    copy(from, to, AUDIT_EVENTS)?;
    copy(from, to, AUDIT_EVENTS_BY_SUBJECT)?;
    Ok(Copied { users, app_passwords, dead_props })
}

/// Copies one table; answers how many records it held.
fn copy<K: Key + 'static, V: Value + 'static>(
    from: &ReadTransaction,
    to: &WriteTransaction,
    table: TableDefinition<K, V>,
) -> Result<u64> {
    let source = from.open_table(table)?;
    let mut target = to.open_table(table)?;
    let mut records = 0;
    for entry in source.iter()? {
        let (key, value) = entry?;
        target.insert(key.value(), value.value())?;
        records += 1;
    }
    Ok(records)
}
