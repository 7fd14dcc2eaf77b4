//! The library embedded in a program, measuring what the gate costs: argon2 verifications are
//! counted through the server's own counter.

use davgate::NewPassword;
use davgate::{AppPasswordName, Role, UserName};
use davgate::{Server, ServerOptions};

async fn started() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = ServerOptions::new(dir.path());
    options.listen = "127.0.0.1:0".parse().unwrap();
    (Server::start(options).await.unwrap(), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_costs_one_verification_however_many_requests_use_it() {
    let (server, _dir) = started().await;
    let alice = UserName::parse("alice").unwrap();
    let admin = server.admin().clone();
    admin.add_user(&alice, Role::User, NewPassword::Generate).await.unwrap();
    let laptop = AppPasswordName::parse("laptop").unwrap();
    let created =
        admin.create_app_password(&alice, &davgate::AppPasswordSpec::named(laptop)).await.unwrap();
    let counter = server.verification_counter();
    let url = format!("http://{}/dav/", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let propfind = || {
        client
            .request(reqwest::Method::from_bytes(b"PROPFIND").unwrap(), &url)
            .header("Depth", "0")
            .basic_auth("alice", Some(created.password.expose()))
            .send()
    };

    // 16 concurrent first requests with the same credential: one verification.
    let burst = futures_util::future::join_all((0..16).map(|_| propfind())).await;
    assert!(burst.iter().all(|r| r.as_ref().unwrap().status() == 207));
    assert_eq!(counter.get(), 1);
    for _ in 0..20 {
        assert_eq!(propfind().await.unwrap().status(), 207);
    }
    assert_eq!(counter.get(), 1, "cached: no further verification");

    // A revoked password is refused from its record: its retries cost no argon2.
    let id = davgate::AppPasswordId::parse(&created.id).unwrap();
    admin.revoke_app_password(&alice, &id).await.unwrap();
    for _ in 0..20 {
        assert_eq!(propfind().await.unwrap().status(), 401);
    }
    assert_eq!(counter.get(), 1, "revoked retries verified nothing");

    // A wrong password of unknown id costs exactly one (dummy) verification, like a wrong secret.
    let unknown = "dgp-00000-00000-00000-00000-00000-00000-00000-00000-00000";
    let res = client.get(&url).basic_auth("alice", Some(unknown)).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let _ = stop.send(());
    serving.await.unwrap();
}
