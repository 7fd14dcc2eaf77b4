//! Issue 14's pages in a real browser: a read-only password limited to one folder is made in the
//! create form, and the "Connect your application" line the dialog gives for rclone is run, as
//! it is, by the real rclone binary, which must then see that folder's files and nothing else.
//!
//! Needs chromedriver and rclone (skipped only with `DAVGATE_SKIP_BROWSER`).

use crate::browser::{Browser, ChromeDriver, runtime};
use crate::util::*;
use std::process::{Command, Output};

/// Runs rclone with `args` against the config file in `scratch` only (never the user's own).
fn rclone(scratch: &std::path::Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("rclone");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RCLONE_") {
            cmd.env_remove(key);
        }
    }
    cmd.args(args)
        .arg("--config")
        .arg(scratch.join("rclone.conf"))
        .arg("--cache-dir")
        .arg(scratch.join("cache"))
        .args(["--low-level-retries", "1", "--retries", "1", "--contimeout", "10s"])
        .output()
        .expect("run rclone (apt-get install rclone)")
}

/// The values of the dialog's copy boxes, by element id.
async fn snippet(b: &Browser, id: &str) -> String {
    let field = b.find(&format!("#{id}")).await;
    field.prop("value").await.expect("value").unwrap_or_default()
}

#[test]
fn the_rclone_line_of_a_read_only_folder_password_lists_that_folder_only() {
    let Some(driver) = ChromeDriver::start() else { return };
    let server = TestServer::start();
    add_user_with_password(&server, "alice", "alice-pass-123");
    let home = server.home("alice");
    std::fs::create_dir_all(home.join("Projects/plans")).unwrap();
    std::fs::write(home.join("Projects/offer.txt"), "offer").unwrap();
    std::fs::write(home.join("Projects/budget.ods"), "budget").unwrap();
    std::fs::write(home.join("diary.txt"), "private").unwrap();
    let rt = runtime();
    let b = rt.block_on(Browser::open(&driver, &server.base));
    let dav = format!("{}/dav/", server.base);

    let (password, line) = rt.block_on(async {
        b.sign_in_to_profile("alice", "alice-pass-123").await;
        b.screenshot_of("#add-app-password", "create-app-password-form-en").await;
        b.fill("#name", "Photo frame").await;
        b.find("#access-read_only").await.click().await.expect("choose read only");
        b.fill("#folder", "/Projects").await;
        b.click("#add-app-password button[type=submit]").await;
        b.find("#shown").await;
        assert_eq!(b.text("#connect-title").await, "Connect your application");
        let password = snippet(&b, "new-password").await;
        assert!(password.starts_with("dgp-"), "{password}");
        let line = snippet(&b, "connect-rclone").await;
        assert_eq!(
            line,
            format!(
                "rclone config create davgate webdav url={dav} vendor=other user=alice \
                 pass={password} --obscure"
            )
        );
        assert_eq!(snippet(&b, "connect-finder").await, dav);
        assert_eq!(
            snippet(&b, "connect-windows").await,
            format!("net use Z: {dav} /user:alice {password} /persistent:yes")
        );
        assert_eq!(snippet(&b, "connect-davfs2").await, format!("{dav} alice {password}"));
        assert_eq!(
            snippet(&b, "connect-cadaver").await,
            format!("machine 127.0.0.1 login alice password {password}")
        );
        b.screenshot("connect-your-application-en", false).await;
        b.click("#done").await;
        b.screenshot_of("#app-password-list", "app-password-list-en").await;
        assert_eq!(b.cell("Photo frame", "td.scope").await, "Read only\n/Projects");
        assert_eq!(b.cell("Photo frame", "td.expires .status").await, "Active");
        (password, line)
    });

    // The line as the dialog gave it, word for word, then a listing through the remote it made.
    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(scratch.path().join("rclone.conf"), "").unwrap();
    let words: Vec<&str> = line.split_whitespace().skip(1).collect();
    let made = rclone(scratch.path(), &words);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let config = std::fs::read_to_string(scratch.path().join("rclone.conf")).unwrap();
    assert!(!config.contains(&password), "rclone stored the password obscured:\n{config}");
    let listed = rclone(scratch.path(), &["lsf", "davgate:"]);
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{stdout}{}", String::from_utf8_lossy(&listed.stderr));
    let mut names: Vec<&str> = stdout.lines().collect();
    names.sort_unstable();
    assert_eq!(names, ["budget.ods", "offer.txt", "plans/"], "the folder's files only");
    // Read-only: nothing can be written through it.
    std::fs::write(scratch.path().join("new.txt"), "new").unwrap();
    let src = scratch.path().join("new.txt");
    let put = rclone(scratch.path(), &["copyto", src.to_str().unwrap(), "davgate:new.txt"]);
    assert!(!put.status.success(), "a read-only password wrote a file");
    assert!(!home.join("Projects/new.txt").exists());

    rt.block_on(async {
        b.goto("/lang/fr?next=/profile").await;
        b.fill("#name", "Scanner").await;
        b.find("#access-upload_only").await.click().await.expect("choose upload only");
        b.click("#add-app-password button[type=submit]").await;
        b.find("#shown").await;
        assert_eq!(b.text("#connect-title").await, "Connecter votre application");
        assert_eq!(b.text("label[for=connect-windows]").await, "Windows (invite de commandes)");
        b.screenshot("connect-your-application-fr", false).await;
        b.click("#done").await;
        assert_eq!(b.cell("Scanner", "td.scope").await, "Dépôt seul\nTous les fichiers");
        assert_eq!(b.cell("Scanner", "td.expires .status").await, "Actif");
    });
    rt.block_on(b.close());
}

#[test]
fn an_admin_gives_a_user_a_scoped_password_from_the_security_tab_and_refusals_keep_the_form() {
    let Some(driver) = ChromeDriver::start() else { return };
    let server = TestServer::start();
    add_user_with_password(&server, "bob", "bob-pass-1234");
    let admin = first_admin_password(&server);
    let rt = runtime();
    let b = rt.block_on(Browser::open(&driver, &server.base));
    rt.block_on(async {
        b.sign_in_to_profile("admin", &admin).await;
        // The lifetimes offered stop at the default maximum of a year: no "never".
        let offered = b
            .eval("[...document.querySelectorAll('#lifetime option')].map(o => o.value).join(',')")
            .await;
        assert_eq!(offered, "default,7d,30d,90d,365d");
        b.goto("/admin/users/bob?tab=security").await;
        b.fill("#name", "Backup").await;
        b.fill("#networks", "10.0.0.0/8, not-a-network").await;
        b.click("#add-app-password button[type=submit]").await;
        assert_eq!(
            b.text(".error").await,
            "Check the folder (like /Projects) and the networks (like 10.0.0.0/8)."
        );
        assert_eq!(snippet(&b, "name").await, "Backup", "what was typed is kept");
        b.fill("#networks", "10.0.0.0/8").await;
        b.click("#add-app-password button[type=submit]").await;
        b.find("#shown").await;
        let line = snippet(&b, "connect-cadaver").await;
        assert!(line.starts_with("machine 127.0.0.1 login bob password dgp-"), "{line}");
        b.click("#done").await;
        assert_eq!(b.path().await, "/admin/users/bob?tab=security");
        assert_eq!(
            b.cell("Backup", "td.scope").await,
            "Read and write\nAll files\nOnly from 10.0.0.0/8"
        );
    });
    rt.block_on(b.close());
}
