//! "Connect your application": the lines a person pastes to mount davgate in Windows, macOS
//! Finder, rclone, davfs2 and cadaver, with the WebDAV URL, the user name and a new app password
//! filled in. The one-time dialog and `davgate app-password create` show the same lines, so they
//! are built here, once.
//!
//! Quoting: an app password is `dgp-` and Crockford base 32 in lower case, grouped with `-`, so
//! it is one plain word everywhere; user names are `a-z0-9._-`, also plain. Only the URL can
//! carry something a shell reads (a public URL's path may hold `&`, `'`, `;`, a browser's `Host`
//! anything): it is quoted for the shell line that holds it when it is not plain.

use std::fmt;

/// The applications the lines are for, in the order they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectClient {
    /// `net use` in a Windows command prompt: a drive letter, remembered across sign-ins.
    Windows,
    /// The address typed in macOS Finder's Go › Connect to Server.
    Finder,
    /// `rclone config create`: a remote named `davgate`.
    Rclone,
    /// A line of `/etc/davfs2/secrets`, so `mount -t davfs` asks nothing.
    Davfs2,
    /// A line of `~/.netrc`, which cadaver reads.
    Cadaver,
}

impl ConnectClient {
    /// Every client, in the order the dialog and the CLI show them.
    pub const ALL: [ConnectClient; 5] = [
        ConnectClient::Windows,
        ConnectClient::Finder,
        ConnectClient::Rclone,
        ConnectClient::Davfs2,
        ConnectClient::Cadaver,
    ];

    /// A stable identifier (element ids, tests): `windows`, `finder`, `rclone`, …
    pub fn id(self) -> &'static str {
        match self {
            ConnectClient::Windows => "windows",
            ConnectClient::Finder => "finder",
            ConnectClient::Rclone => "rclone",
            ConnectClient::Davfs2 => "davfs2",
            ConnectClient::Cadaver => "cadaver",
        }
    }
}

/// One line to paste. It holds the password (except Finder's address), so its `Debug` shows
/// only which client it is for.
#[derive(Clone)]
pub struct ConnectLine {
    /// Which application it is for.
    pub client: ConnectClient,
    /// The line itself.
    pub text: String,
}

impl fmt::Debug for ConnectLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectLine").field("client", &self.client).finish_non_exhaustive()
    }
}

/// The WebDAV URL under `base`, the address users reach davgate at (`https://host/webdav` or
/// `https://host/webdav/`): `https://host/webdav/dav/`.
pub fn dav_url(base: &str) -> String {
    format!("{}/dav/", base.trim_end_matches('/'))
}

/// The lines that connect each client to `dav_url` as `user` with `password`.
pub fn connect_lines(dav_url: &str, user: &str, password: &str) -> Vec<ConnectLine> {
    let host = host_of(dav_url);
    ConnectClient::ALL
        .iter()
        .map(|&client| {
            let text = match client {
                ConnectClient::Windows => format!(
                    "net use Z: {} /user:{user} {password} /persistent:yes",
                    cmd_word(dav_url)
                ),
                ConnectClient::Finder => dav_url.to_string(),
                // `--obscure`: rclone obscures `pass` itself only when it does not look obscured
                // already, and a long password of base64 characters (ours) can look so.
                ConnectClient::Rclone => format!(
                    "rclone config create davgate webdav {} vendor=other user={user} \
                     pass={password} --obscure",
                    sh_word(&format!("url={dav_url}"))
                ),
                ConnectClient::Davfs2 => format!("{} {user} {password}", davfs_word(dav_url)),
                ConnectClient::Cadaver => {
                    format!("machine {host} login {user} password {password}")
                }
            };
            ConnectLine { client, text }
        })
        .collect()
}

/// The host of `url` without scheme, port or path (`.netrc` matches the host name alone).
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if authority.starts_with('[') {
        // An IPv6 address: the port, if any, follows the bracket.
        return authority.split_once(']').map_or(authority, |(h, _)| h.trim_start_matches('['));
    }
    authority.split(':').next().unwrap_or(authority)
}

/// Characters no shell or command prompt treats specially.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/._:=@,+-[]".contains(c)
}

/// `word` for a POSIX shell: as is when plain, else in single quotes.
fn sh_word(word: &str) -> String {
    if word.chars().all(is_plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `word` for a Windows command prompt: as is when plain, else in double quotes (a URL holds no
/// `"`; `%` is refused in a public URL).
fn cmd_word(word: &str) -> String {
    if word.chars().all(is_plain) { word.to_string() } else { format!("\"{word}\"") }
}

/// `word` for davfs2's secrets file, which splits on blanks, reads `#` as a comment and takes
/// `"…"` with `\` escapes.
fn davfs_word(word: &str) -> String {
    if word.chars().any(|c| c.is_whitespace() || "#\"\\".contains(c)) {
        format!("\"{}\"", word.replace('\\', r"\\").replace('"', "\\\""))
    } else {
        word.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "dgp-0123a-bcdef-ghjkm-npqrs-tvwxy-z0123-45678-9abcd-efghj";

    fn line(url: &str, client: ConnectClient) -> String {
        let lines = connect_lines(url, "alice.b-2", PASSWORD);
        lines.into_iter().find(|l| l.client == client).map(|l| l.text).unwrap_or_default()
    }

    #[test]
    fn each_client_gets_its_line_with_url_user_and_password() {
        let url = "https://files.example.com/dav/";
        assert_eq!(
            line(url, ConnectClient::Windows),
            format!("net use Z: {url} /user:alice.b-2 {PASSWORD} /persistent:yes")
        );
        assert_eq!(line(url, ConnectClient::Finder), url);
        assert_eq!(
            line(url, ConnectClient::Rclone),
            format!(
                "rclone config create davgate webdav url={url} vendor=other user=alice.b-2 \
                 pass={PASSWORD} --obscure"
            )
        );
        assert_eq!(line(url, ConnectClient::Davfs2), format!("{url} alice.b-2 {PASSWORD}"));
        assert_eq!(
            line(url, ConnectClient::Cadaver),
            format!("machine files.example.com login alice.b-2 password {PASSWORD}")
        );
    }

    #[test]
    fn a_public_url_with_a_prefix_and_a_port_keeps_them_but_netrc_names_the_host_only() {
        let url = dav_url("https://files.example.com:8443/webdav/");
        assert_eq!(url, "https://files.example.com:8443/webdav/dav/");
        assert!(line(&url, ConnectClient::Rclone).contains(&format!(" url={url} ")));
        assert!(line(&url, ConnectClient::Cadaver).starts_with("machine files.example.com login"));
        assert_eq!(host_of("http://[::1]:8080/dav/"), "::1");
        assert_eq!(host_of("http://127.0.0.1:8080/dav/"), "127.0.0.1");
    }

    #[test]
    fn a_url_a_shell_would_read_is_quoted_and_the_password_never_is() {
        let url = "https://h/it's&me/dav/";
        assert!(line(url, ConnectClient::Rclone).contains(r"'url=https://h/it'\''s&me/dav/'"));
        assert!(line(url, ConnectClient::Windows).contains("\"https://h/it's&me/dav/\""));
        let spaced = "https://h/a b/dav/";
        assert!(line(spaced, ConnectClient::Davfs2).starts_with("\"https://h/a b/dav/\" "));
        // The password's alphabet is plain in every one of them.
        assert!(PASSWORD.chars().all(is_plain));
        for l in connect_lines(url, "alice", PASSWORD) {
            assert!(
                l.client == ConnectClient::Finder
                    || l.text.contains(&format!(" {PASSWORD}"))
                    || l.text.contains(&format!("={PASSWORD}")),
                "{}",
                l.text
            );
        }
    }

    #[test]
    fn a_line_never_shows_the_password_in_debug() {
        let lines = connect_lines("https://h/dav/", "alice", PASSWORD);
        assert!(!format!("{lines:?}").contains(PASSWORD));
    }
}
