//! Issue 15's pages in a real browser: after WebDAV uses from two loopback addresses (127.0.0.1
//! and 127.0.0.2, the server listening on 127.0.0.1 and the second client binding its own
//! source address), the owner's profile shows them in Recent activity and under the password's
//! networks; then the admin filters the inventory to "never used", revokes that set through
//! the page's confirmation, and those passwords are refused over WebDAV while the used one
//! still works.
//!
//! Needs chromedriver (skipped only with `DAVGATE_SKIP_BROWSER`).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use crate::browser::{Browser, ChromeDriver, runtime};
use crate::util::*;

const EXPLORER: &str = "Microsoft-WebDAV-MiniRedir/10.0.19045";
const CURL: &str = "curl/8.7.1";

/// A PROPFIND Depth 0 on /dav/ as alice from the source address `local`; its status.
fn mount_from(server: &TestServer, local: Ipv4Addr, user_agent: &str, password: &str) -> u16 {
    let client = reqwest::blocking::Client::builder()
        .local_address(IpAddr::V4(local))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let url = format!("{}/dav/", server.base);
    let res = client
        .request(reqwest::Method::from_bytes(b"PROPFIND").expect("method"), url)
        .basic_auth("alice", Some(password))
        .header("Depth", "0")
        .header("User-Agent", user_agent)
        .send()
        .expect("PROPFIND");
    res.status().as_u16()
}

/// The text of the profile's row of `name` once it holds every one of `wanted` (networks are
/// written in the background: the page is reloaded until they show, for at most 15 s).
async fn row_once(b: &Browser, name: &str, wanted: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        b.goto("/profile").await;
        let text = b.row(name).await.text().await.expect("row text");
        if wanted.iter().all(|w| text.contains(w)) {
            return text;
        }
        assert!(Instant::now() < deadline, "the row of {name} never showed {wanted:?}: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn uses_from_two_addresses_show_on_the_profile_and_a_never_used_set_is_revoked_from_the_inventory()
{
    let Some(driver) = ChromeDriver::start() else { return };
    let server = TestServer::start();
    add_user_with_password(&server, "alice", "alice-pass-123");
    let (phone_id, phone) = create_app_password(server.dir(), "alice", "old phone");
    let (tablet_id, tablet) = create_app_password(server.dir(), "alice", "tablet");
    let rt = runtime();
    let b = rt.block_on(Browser::open(&driver, &server.base));

    let laptop = rt.block_on(async {
        b.sign_in_to_profile("alice", "alice-pass-123").await;
        let laptop = b.create_app_password("laptop").await;
        b.done(&laptop).await;
        laptop
    });
    let listed = list_app_passwords(server.dir(), Some("alice"));
    let laptop_id = listed
        .iter()
        .find(|p| p["name"] == "laptop")
        .and_then(|p| p["id"].as_str())
        .expect("laptop listed")
        .to_string();
    let laptop_id = laptop_id.as_str();
    assert_eq!(mount_from(&server, Ipv4Addr::new(127, 0, 0, 1), EXPLORER, &laptop), 207);
    assert_eq!(mount_from(&server, Ipv4Addr::new(127, 0, 0, 2), CURL, &laptop), 207);

    rt.block_on(async {
        let row =
            row_once(&b, "laptop", &["127.0.0.2/32 (curl)", "127.0.0.1/32 (Windows Explorer)"])
                .await;
        let (newer, older) = (row.find("127.0.0.2/32").unwrap(), row.find("127.0.0.1/32").unwrap());
        assert!(newer < older, "the newest network first: {row}");
        assert_eq!(b.method("laptop").await, "Windows Explorer", "the first use's client stays");
        let activity = b.text("#recent-activity").await;
        let first_use = activity
            .lines()
            .find(|l| l.contains("App password used for the first time"))
            .unwrap_or_else(|| panic!("no first use in Recent activity: {activity}"));
        assert!(first_use.contains(laptop_id), "{first_use}");
        assert!(first_use.contains("127.0.0.1") && first_use.contains(EXPLORER), "{first_use}");
        assert!(activity.contains("App password created"), "{activity}");
        b.screenshot_of("#recent-activity", "profile-recent-activity-en").await;
        b.sign_out().await;

        b.sign_in("admin", &first_admin_password(&server)).await;
        b.click("header nav a[href='/admin/app-passwords']").await;
        assert_eq!(b.text("h1").await, "App passwords of all users");
        assert_eq!(b.text("#matching").await, "Matching app passwords: 3");
        b.find("#f-never").await.click().await.expect("tick never used");
        b.click("#apply-filters").await;
        assert!(b.path().await.contains("never_used=true"), "the filter is in the address");
        assert_eq!(b.text("#matching").await, "Matching app passwords: 2");
        for id in [&phone_id, &tablet_id] {
            assert!(b.exists(&format!("#inventory tr[data-id='{id}']")).await, "{id} listed");
        }
        assert!(!b.exists(&format!("#inventory tr[data-id='{laptop_id}']")).await);
        let never = b.text(&format!("#inventory tr[data-id='{phone_id}']")).await;
        assert!(never.contains("Never") && never.contains("Not assigned"), "{never}");
        b.screenshot("admin-inventory-never-used-en", false).await;
        b.click("#revoke-these").await;
        assert_eq!(b.text("#confirm-question").await, "Revoke these 2 app passwords?");
        assert_eq!(b.text("#confirm-revoke").await, "Revoke 2 app passwords");
        b.click("#confirm-revoke").await;
        assert_eq!(b.text("#bulk-done").await, "App passwords revoked: 2.");
        assert!(!b.exists("#revoke-these").await, "nothing left to revoke in this set");
    });

    assert_eq!(server.probe("alice", &phone), 401, "a revoked never-used password");
    assert_eq!(server.probe("alice", &tablet), 401);
    assert_eq!(mount_from(&server, Ipv4Addr::new(127, 0, 0, 2), CURL, &laptop), 207);
    rt.block_on(b.close());
}
