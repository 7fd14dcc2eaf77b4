//! Folder listings (PROPFIND Depth 1) as Explorer, Finder and sync tools make them: every entry
//! with its properties, odd names intact, symlinks absent, whatever the size of the folder.

use std::os::unix::ffi::OsStrExt;

use xmltree::{Element, XMLNode};

use crate::util::*;

const ZNS: &str = "urn:schemas-microsoft-com:";

const WINDOWS: &str = r#"<?xml version="1.0" encoding="utf-8" ?><D:propfind xmlns:D="DAV:"><D:prop xmlns:Z="urn:schemas-microsoft-com:"><D:creationdate/><D:displayname/><D:getcontentlength/><D:getcontenttype/><D:getetag/><D:getlastmodified/><D:resourcetype/><Z:Win32CreationTime/><Z:Win32LastAccessTime/><Z:Win32LastModifiedTime/><Z:Win32FileAttributes/></D:prop></D:propfind>"#;

/// One `<D:response>`: its href and its properties with status 200, as (namespace, name, text).
struct Entry {
    href: String,
    found: Vec<(String, String, String)>,
    collection: bool,
}

fn text(e: &Element) -> String {
    e.children
        .iter()
        .filter_map(|c| if let XMLNode::Text(t) = c { Some(t.as_str()) } else { None })
        .collect()
}

fn children<'a>(e: &'a Element, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
    e.children.iter().filter_map(move |c| match c {
        XMLNode::Element(c) if c.name == name && c.namespace.as_deref() == Some("DAV:") => Some(c),
        _ => None,
    })
}

/// The multistatus `xml` as entries; panics if it is not well-formed XML.
fn entries(xml: &str) -> Vec<Entry> {
    let root = Element::parse(xml.as_bytes()).expect("a well-formed multistatus");
    assert_eq!(root.name, "multistatus");
    children(&root, "response")
        .map(|response| {
            let href = text(children(response, "href").next().expect("an href"));
            let mut found = Vec::new();
            let mut collection = false;
            for propstat in children(response, "propstat") {
                let status = text(children(propstat, "status").next().expect("a status"));
                if status != "HTTP/1.1 200 OK" {
                    continue;
                }
                for prop in children(propstat, "prop").flat_map(|p| p.children.iter()) {
                    let XMLNode::Element(prop) = prop else { continue };
                    if prop.name == "resourcetype" {
                        collection = children(prop, "collection").next().is_some();
                    }
                    let ns = prop.namespace.clone().unwrap_or_default();
                    found.push((ns, prop.name.clone(), text(prop)));
                }
            }
            Entry { href, found, collection }
        })
        .collect()
}

impl Entry {
    fn get(&self, ns: &str, name: &str) -> Option<&str> {
        self.found.iter().find(|(n, p, _)| n == ns && p == name).map(|(_, _, t)| t.as_str())
    }
}

fn listing(server: &TestServer, pw: &str, body: &str, agent: &str) -> Vec<Entry> {
    let res = server
        .as_user("alice", pw, "PROPFIND", "/dav/big/")
        .header("Depth", "1")
        .header("User-Agent", agent)
        .header("Content-Type", "application/xml; charset=utf-8")
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 207);
    entries(&res.text().unwrap())
}

#[test]
fn a_large_listing_has_every_entry_with_its_dead_properties_and_odd_names_intact() {
    let server = TestServer::start();
    server.add_user("alice");
    let pw = server.app_password("alice", "laptop");
    let big = server.home("alice").join("big");
    std::fs::create_dir_all(big.join("sub")).unwrap();
    for i in 0..3000 {
        std::fs::write(big.join(format!("f{i:04}.txt")), format!("file {i}\n")).unwrap();
    }
    std::fs::write(big.join("a&b<c>.txt"), "odd").unwrap();
    std::fs::write(big.join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt")), "latin-1").unwrap();
    std::os::unix::fs::symlink("/etc", big.join("escape")).unwrap();
    let body = r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x:tag xmlns:x="urn:x">v &amp; w</x:tag></D:prop></D:set></D:propertyupdate>"#;
    for path in ["/dav/big/f0007.txt", "/dav/big/f2999.txt", "/dav/big/sub/"] {
        let res = server.as_user("alice", &pw, "PROPPATCH", path).body(body).send().unwrap();
        assert_eq!(res.status().as_u16(), 207, "PROPPATCH {path}");
    }

    let allprop = r#"<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"#;
    let listed = listing(&server, &pw, allprop, "test");
    assert_eq!(listed.len(), 1 + 3000 + 2 + 1, "the folder, its files, sub/ and no symlink");
    assert!(listed.iter().all(|e| !e.href.contains("escape")), "a symlink is never listed");
    let find = |href: &str| listed.iter().find(|e| e.href == href);
    for tagged in ["/dav/big/f0007.txt", "/dav/big/f2999.txt", "/dav/big/sub/"] {
        let entry = find(tagged).unwrap_or_else(|| panic!("{tagged} listed"));
        assert_eq!(entry.get("urn:x", "tag"), Some("v & w"), "{tagged}'s dead property");
    }
    assert_eq!(find("/dav/big/f0008.txt").unwrap().get("urn:x", "tag"), None);
    assert!(find("/dav/big/sub/").unwrap().collection);
    let odd = find("/dav/big/a%26b%3Cc%3E.txt").expect("a&b<c>.txt, percent-encoded");
    assert_eq!(odd.get("DAV:", "getcontentlength"), Some("3"));
    let latin = find("/dav/big/caf%E9.txt").expect("a name that is not UTF-8, percent-encoded");
    assert_eq!(latin.get("DAV:", "getcontentlength"), Some("7"));
    let file = find("/dav/big/f0001.txt").unwrap();
    let got = server.as_user("alice", &pw, "GET", "/dav/big/f0001.txt").send().unwrap();
    let header = got.headers()["etag"].to_str().unwrap().to_string();
    // dav-server lists the entity tag without its quotes (as it always has); it is the GET's.
    assert_eq!(file.get("DAV:", "getetag"), Some(header.trim_matches('"')));
    assert!(file.get("DAV:", "getlastmodified").unwrap().ends_with(" GMT"));
    assert!(file.get("DAV:", "creationdate").unwrap().ends_with('Z'));
}

#[test]
fn windows_explorer_gets_the_win32_properties_of_every_entry() {
    let server = TestServer::start();
    server.add_user("alice");
    let pw = server.app_password("alice", "laptop");
    let big = server.home("alice").join("big");
    std::fs::create_dir_all(big.join("folder")).unwrap();
    for i in 0..200 {
        std::fs::write(big.join(format!("f{i:03}.txt")), "x").unwrap();
    }
    let listed = listing(&server, &pw, WINDOWS, "Microsoft-WebDAV-MiniRedir/10.0.19045");
    assert_eq!(listed.len(), 202);
    for entry in &listed {
        let attributes = entry.get(ZNS, "Win32FileAttributes").expect("Win32FileAttributes");
        assert_eq!(attributes, if entry.collection { "00000010" } else { "00000020" });
        for time in ["Win32CreationTime", "Win32LastAccessTime", "Win32LastModifiedTime"] {
            let value = entry.get(ZNS, time).unwrap_or_else(|| panic!("{time} of {}", entry.href));
            assert!(value.ends_with(" GMT"), "{time} is an HTTP date: {value}");
        }
        if !entry.collection {
            assert_eq!(entry.get("DAV:", "getcontentlength"), Some("1"));
        }
    }
}

#[test]
fn a_symlink_named_by_a_client_stays_absent_after_its_folder_was_listed() {
    let server = TestServer::start();
    server.add_user("alice");
    let pw = server.app_password("alice", "laptop");
    let big = server.home("alice").join("big");
    std::fs::create_dir_all(&big).unwrap();
    std::fs::write(big.join("a.txt"), "a").unwrap();
    std::os::unix::fs::symlink("/etc", big.join("escape")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", big.join("z-link")).unwrap();
    assert_eq!(listing(&server, &pw, WINDOWS, "test").len(), 2);
    for path in ["/dav/big/escape/", "/dav/big/escape/hostname", "/dav/big/z-link"] {
        let res = server.as_user("alice", &pw, "PROPFIND", path).header("Depth", "0").send();
        assert_eq!(status(res), 404, "PROPFIND {path}");
        assert_eq!(status(server.as_user("alice", &pw, "GET", path).send()), 404, "GET {path}");
    }
}
