//! A person's change of their own password, against the real server: on the profile (EN/FR)
//! and through `POST /api/v1/me/password`. With "Also sign out my applications" ticked (the
//! default) every app password stops on its next request; unticked they keep working. The
//! other web sessions end, the one that asked goes on; a wrong current password is a clear
//! refusal, throttled like a sign-in.

use crate::pages::{Visitor, primary};
use crate::policy_more::Api;
use crate::util::*;
use serde_json::{Value, json};

const NEW: &str = "a-brand-new-password";

fn change(api: &Api, body: Value) -> (u16, Value) {
    api.call("POST", "/me/password", Some(body))
}

#[test]
fn changing_my_password_with_the_box_ticked_ends_every_app_password_and_my_other_sessions() {
    let server = TestServer::start();
    add_user_with_password(&server, "alice", &primary("alice"));
    let (_, laptop) = create_app_password(server.dir(), "alice", "laptop");
    let (_, phone) = create_app_password(server.dir(), "alice", "phone");
    assert_eq!(server.probe("alice", &laptop), 207);
    let here = Api::sign_in(&server, "alice", &primary("alice"));
    let elsewhere = Api::sign_in(&server, "alice", &primary("alice"));

    let wrong = change(&here, json!({ "current_password": "not-it-at-all", "new_password": NEW }));
    assert_eq!((wrong.0, wrong.1["error"].as_str()), (403, Some("wrong_current_password")));
    let short =
        change(&here, json!({ "current_password": primary("alice"), "new_password": "short" }));
    assert_eq!((short.0, short.1["error"].as_str()), (400, Some("invalid")), "{}", short.1);
    assert!(short.1["message"].as_str().unwrap().contains("at least 8"), "{}", short.1);
    assert_eq!(server.probe("alice", &laptop), 207, "nothing changed yet");
    assert_eq!(elsewhere.call("GET", "/session", None).0, 200);

    let res = here
        .request("POST", "/me/password")
        .header("Content-Type", "application/json")
        .body(json!({ "current_password": primary("alice"), "new_password": NEW }).to_string())
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let cookie = session_cookie(res.headers()).expect("a new session cookie");
    let body: Value = serde_json::from_str(&res.text().unwrap()).unwrap();
    assert_eq!(body["app_passwords_revoked"], 2, "{body}");
    assert_eq!(server.probe("alice", &laptop), 401);
    assert_eq!(server.probe("alice", &phone), 401);

    // This session goes on under its new cookie and CSRF token; the old cookie and the other
    // session are signed out.
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    let goes_on = Api { server: &server, cookie, csrf };
    assert_eq!(goes_on.call("GET", "/session", None).0, 200);
    assert_eq!(goes_on.call("POST", "/me/app-passwords", Some(json!({ "name": "new" }))).0, 201);
    assert_eq!(here.call("GET", "/session", None).0, 401);
    assert_eq!(elsewhere.call("GET", "/session", None).0, 401);
    Api::sign_in(&server, "alice", NEW);
    let old = server
        .request("POST", "/api/v1/session")
        .header("Content-Type", "application/json")
        .body(json!({ "user": "alice", "password": primary("alice") }).to_string())
        .send();
    assert_eq!(status(old), 401, "the old password no longer signs in");
    let log = server.log();
    assert!(log.contains("web: wrong current password"), "{log}");
    assert!(log.contains("web: alice password change alice (2 app passwords revoked)"), "{log}");
}

#[test]
fn unticked_my_applications_keep_working_after_i_change_my_password_on_the_profile() {
    let server = TestServer::start();
    add_user_with_password(&server, "alice", &primary("alice"));
    let (_, laptop) = create_app_password(server.dir(), "alice", "laptop");
    let mut alice = Visitor::signed_in(&server, "alice", &primary("alice"));
    let profile = alice.get("/profile");
    profile.shows(200, &["Change password", "Current password", "New password again"]);
    profile.shows(200, &["Also sign out my applications"]);
    assert!(profile.checked("pw-revoke-apps"), "ticked by default");

    let current = primary("alice");
    let differ = alice.post(
        "/profile/password",
        &[("current_password", &current), ("new_password", NEW), ("new_password_again", "other")],
    );
    differ.shows(400, &["The two new passwords are not the same."]);
    let wrong = alice.post(
        "/profile/password",
        &[("current_password", "nope-nope"), ("new_password", NEW), ("new_password_again", NEW)],
    );
    wrong.shows(403, &["The current password is wrong."]);
    let short = alice.post(
        "/profile/password",
        &[
            ("current_password", &current),
            ("new_password", "short"),
            ("new_password_again", "short"),
        ],
    );
    assert_eq!(short.status, 400);

    // The box unticked: the form sends no revoke_app_passwords field.
    alice
        .post(
            "/profile/password",
            &[("current_password", &current), ("new_password", NEW), ("new_password_again", NEW)],
        )
        .redirects_to("/profile?done=password#password");
    let profile = alice.get("/profile?done=password");
    assert_eq!(profile.status, 200, "still signed in");
    assert!(
        profile.flash().unwrap().contains("Your password was changed."),
        "{:?}",
        profile.flash()
    );
    assert_eq!(server.probe("alice", &laptop), 207, "the laptop keeps working");

    // Ticked, in French: the laptop stops.
    let mut fr = Visitor::speaking(&server, "fr");
    fr.sign_in("alice", NEW);
    fr.get("/profile")
        .shows(200, &["Changer le mot de passe", "Déconnecter aussi mes applications"]);
    let again = "yet-another-password";
    let done = fr.post(
        "/profile/password",
        &[
            ("current_password", NEW),
            ("new_password", again),
            ("new_password_again", again),
            ("revoke_app_passwords", "on"),
        ],
    );
    done.redirects_to("/profile?done=password-apps#password");
    let profile = fr.get("/profile?done=password-apps");
    assert!(profile.flash().unwrap().contains("révoqués"), "{:?}", profile.flash());
    assert_eq!(server.probe("alice", &laptop), 401);
    // The English visitor's session was another one: it ended.
    alice.get("/profile").redirects_to("/");
}

#[test]
fn wrong_current_passwords_are_throttled_like_sign_ins() {
    let server = TestServer::start();
    add_user_with_password(&server, "alice", &primary("alice"));
    ok(&server.cli(&["settings", "set", "login_max_failures", "3"]));
    let api = Api::sign_in(&server, "alice", &primary("alice"));
    let wrong = json!({ "current_password": "guess-guess", "new_password": NEW });
    for _ in 0..3 {
        assert_eq!(change(&api, wrong.clone()).0, 403);
    }
    let (status, body) = change(&api, wrong);
    assert_eq!((status, body["error"].as_str()), (429, Some("throttled")), "{body}");
    let right = json!({ "current_password": primary("alice"), "new_password": NEW });
    assert_eq!(change(&api, right).0, 429, "even the right one waits");
    assert!(server.log().contains("Login throttled: 'alice' (Remote IP: '127.0.0.1') web"));
}
