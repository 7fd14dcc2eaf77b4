//! Admin operations: the one place that changes users, app passwords and settings.
//!
//! [`Admin`] has one typed method per operation, each with its own result type and the one
//! error type [`OpError`]. Everyone calls the same methods: the server's pages and API (through
//! [`crate::web::portal`]), programs embedding davgate ([`crate::Server::admin`]), and the CLI
//! through a [`Client`], which runs them on the store itself when no server runs, or sends them
//! over the server's private admin socket ([`socket`]) when one does. Either way the same code
//! runs, so the CLI behaves the same whether or not a server holds the store, and a revoke
//! through the socket takes effect in the server at once. The socket's JSON lines are this
//! module's private business (`wire`): nothing else builds or reads them.

mod audit;
mod client;
mod error;
mod expiry;
mod files;
pub mod homes;
mod inventory;
mod inventory_csv;
mod operations;
pub mod socket;
mod sso;
mod views;
mod wire;

pub(crate) use audit::spawn_prune as spawn_audit_prune;
pub use client::Client;
pub use error::OpError;
pub(crate) use expiry::spawn_sweep as spawn_expiry_sweep;
pub use inventory::{
    BulkRevoke, FilterError, Inventory, InventoryFilter, MAX_INVENTORY_PAGE, ScopeTrait,
};
pub use inventory_csv::inventory_csv;
pub use operations::{Admin, Audit, Include, NewPassword};
pub use sso::{IdentityHint, ProviderInput, ProviderView};
pub use views::{
    AppPasswordSpec, AppPasswordView, CreatedAppPassword, PasswordChanged, ServerStatus,
    SettingValues, UserCreated, UserRemoved, UserView,
};

/// Shortest primary password accepted from a person.
pub const MIN_PASSWORD_LEN: usize = 8;
