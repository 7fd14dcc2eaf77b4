//! Integration tests: the real `davgate` binary on a loopback port, a real HTTP client, a real
//! store in a temporary directory. One test binary, modules grouped by area.

// The production lints (Cargo.toml) are for the server: here a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod util;

mod admin_client;
mod api;
mod audit;
mod audit_events;
mod audit_mail;
mod audit_sso;
mod auth;
mod backup;
mod bigfile;
mod browser;
mod browser_inventory;
mod browser_scopes;
mod cli;
mod clients;
mod clock;
mod cluster;
mod config;
mod connections;
mod conns;
mod content;
mod fail2ban;
mod fragment;
mod hardening_auth;
mod in_process;
mod inventory;
mod isolation;
mod limits;
mod litmus;
mod mail;
mod metrics;
mod node;
mod oidc;
mod oidc_accounts;
mod oidc_admin;
mod oidc_browser;
mod oidc_client;
mod oidc_clock;
mod oidc_core;
mod oidc_fix;
mod oidc_op;
mod oidc_site;
mod own_password;
mod pages;
mod pg;
mod pg_down;
mod pg_tls;
mod pg_writes;
mod policy;
mod policy_more;
mod propfind;
mod props;
mod proxy;
mod rclone;
mod revoke_nodes;
mod s3;
mod s3_util;
mod scope_pages;
mod scopes;
mod scopes_folder;
mod serve;
mod shared_locks;
mod shared_sessions;
mod store;
mod store_copy;
mod throttle;
mod tls_reload;
mod uploads;
mod webhook;
mod writes;
