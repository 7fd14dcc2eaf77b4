//! Embedding davgate as a library: start a server on a temporary data directory, create a user
//! and an app password through the admin operations, and serve until Ctrl-C.
//!
//! Run it with `cargo run --example embedded`, then for instance:
//! `curl -u alice:<printed password> -T README.md http://127.0.0.1:<port>/dav/README.md`

use davgate::{
    AppPasswordName, AppPasswordSpec, NewPassword, Role, Server, ServerOptions, UserName,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = std::env::temp_dir().join(format!("davgate-example-{}", std::process::id()));
    let mut options = ServerOptions::new(&data);
    options.listen = "127.0.0.1:0".parse()?;
    let server = Server::start(options).await?;

    // The same operations the CLI runs, on the server's own store.
    let alice = UserName::parse("alice")?;
    server.admin().add_user(&alice, Role::User, NewPassword::Generate).await?;
    let name = AppPasswordName::parse("example")?;
    let created = server.admin().create_app_password(&alice, &AppPasswordSpec::named(name)).await?;
    println!("WebDAV at http://{}/dav/", server.local_addr());
    println!("user alice, app password {}", created.password.expose());
    println!("data in {}; Ctrl-C to stop", data.display());
    server
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    Ok(())
}
