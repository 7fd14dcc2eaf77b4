//! Single sign-on in the audit log, with a real OpenID Provider (tests/it/oidc_op.rs): a
//! sign-in through the provider is an event (its method and provider; a refusal its reason
//! class, naming nobody), and the provider's admin group promoting or demoting the account is a
//! `role_changed` by davgate itself, in order, once each. No token is ever in the log.

use crate::oidc_op::CLIENT_SECRET;
use crate::oidc_site::*;
use crate::util::ok;
use serde_json::{Value, json};

const GROUP_SCOPES: &str = "openid,email,profile,groups";

/// Every event (at most 200), oldest first.
fn events(server: &crate::util::TestServer) -> Vec<Value> {
    let out = ok(&server.cli(&["audit", "--json", "--limit", "200"]));
    let mut events: Vec<Value> = serde_json::from_str(&out).unwrap();
    events.reverse();
    events
}

#[test]
fn sso_sign_ins_and_the_role_changes_of_the_admin_group_are_recorded_in_order() {
    let policy = ["--auto-provision", "--allowed-domains", "example.com"];
    let groups = ["--admin-groups", "davgate-admins", "--scopes", GROUP_SCOPES];
    let Some(sso) = Sso::start(&[&policy[..], &groups].concat()) else {
        return;
    };
    let (b, page) = sso.sign_in("carol");
    assert_on_profile(&b, &page, sso.base(), "carol");
    let claims = json!({ "email": "carol@example.com", "email_verified": true, "groups": ["davgate-staff"] });
    sso.op.set_user("carol", &claims);
    let (b, page) = sso.sign_in("carol");
    assert_on_profile(&b, &page, sso.base(), "carol");
    let (b, page) = sso.sign_in("dave");
    assert_refused(&b, &page, sso.base(), None);

    let all = events(&sso.server);
    let carols: Vec<(String, String)> = all
        .iter()
        .filter(|e| e["subject"] == "carol")
        .map(|e| {
            let what = match e["kind"].as_str().unwrap() {
                "role_changed" => format!("{}->{}", e["detail"]["old"], e["detail"]["new"]),
                _ => e["actor_kind"].as_str().unwrap().to_string(),
            };
            (e["kind"].as_str().unwrap().to_string(), what.replace('"', ""))
        })
        .collect();
    let want = [
        ("account_created", "system"),
        ("role_changed", "user->admin"),
        ("sign_in", "user"),
        ("role_changed", "admin->user"),
        ("sign_in", "user"),
    ];
    let want: Vec<(String, String)> =
        want.iter().map(|(k, w)| (k.to_string(), w.to_string())).collect();
    assert_eq!(carols, want, "{all:#?}");
    for e in all.iter().filter(|e| e["subject"] == "carol" && e["kind"] == "sign_in") {
        assert_eq!(e["detail"]["method"], "sso");
        assert_eq!(e["detail"]["provider"], PROVIDER);
        assert_eq!(e["address"], "127.0.0.1");
    }
    let refused: Vec<&Value> =
        all.iter().filter(|e| e["kind"] == "sign_in" && e["outcome"] == "failure").collect();
    assert_eq!(refused.len(), 1, "{all:#?}");
    assert_eq!(refused[0]["detail"]["reason"], "domain_not_allowed");
    assert_eq!(refused[0]["detail"]["method"], "sso");
    assert!(refused[0]["subject"].is_null(), "a refused identity names no account");
    let text = serde_json::to_string(&all).unwrap();
    assert!(!text.contains(CLIENT_SECRET), "the client secret is in the audit log");
    assert!(!text.contains("eyJ"), "something like a JWT is in the audit log");
}
