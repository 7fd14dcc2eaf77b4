//! davgate patch: the fast PROPFIND writer against the old one, byte for byte, on real
//! requests (LocalFs on a temporary folder, MemFs for dead properties, MemLs for locks).

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};

use crate::handle_props::LEGACY_WRITER;
use crate::localfs::LocalFs;
use crate::memfs::MemFs;
use crate::memls::MemLs;
use crate::DavHandler;

fn request(method: &str, path: &str, depth: &str, agent: &str, body: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("Depth", depth)
        .header("User-Agent", agent)
        .header("Content-Type", "application/xml; charset=utf-8")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

async fn answer(dav: &DavHandler, req: Request<Full<Bytes>>, legacy: bool) -> (u16, String) {
    LEGACY_WRITER.with(|l| l.set(legacy));
    let res = dav.handle(req).await;
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    LEGACY_WRITER.with(|l| l.set(false));
    (status, String::from_utf8_lossy(&body).into_owned())
}

const WINDOWS: &str = "Microsoft-WebDAV-MiniRedir/10.0.19045";
const FINDER: &str = "WebDAVFS/3.0.0 (03008000) Darwin/22.0.0 (x86_64)";

/// (User-Agent, body) of the requests compared.
fn requests() -> Vec<(&'static str, String)> {
    let d = r#"<?xml version="1.0" encoding="utf-8"?>"#;
    vec![
        ("wrk", String::new()),
        ("wrk", format!(r#"{d}<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"#)),
        (WINDOWS, String::new()),
        (WINDOWS, format!(r#"{d}<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"#)),
        ("wrk", format!(
            r#"{d}<D:propfind xmlns:D="DAV:" xmlns:X="urn:x"><D:allprop/><D:include><X:color/><D:getetag/></D:include></D:propfind>"#
        )),
        (WINDOWS, format!(
            r#"{d}<D:propfind xmlns:D="DAV:"><D:prop xmlns:Z="urn:schemas-microsoft-com:"><D:creationdate/><D:displayname/><D:getcontentlength/><D:getcontenttype/><D:getetag/><D:getlastmodified/><D:resourcetype/><Z:Win32CreationTime/><Z:Win32LastAccessTime/><Z:Win32LastModifiedTime/><Z:Win32FileAttributes/><Z:Other/></D:prop></D:propfind>"#
        )),
        (FINDER, format!(
            r#"{d}<D:propfind xmlns:D="DAV:"><D:prop><D:getlastmodified/><D:getcontentlength/><D:creationdate/><D:resourcetype/><D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>"#
        )),
        ("curl", format!(
            r#"{d}<propfind xmlns="DAV:"><prop><resourcetype/><getetag/><displayname/><getcontentlanguage/><supportedlock/><lockdiscovery/><nosuch/><foo xmlns="urn:x"/><quota-used-bytes/><current-user-principal/></prop></propfind>"#
        )),
        ("curl", format!(
            r#"{d}<D:propfind xmlns:D="DAV:" xmlns:X="urn:x" xmlns:A="http://apache.org/dav/props/"><D:prop><D:resourcetype/><X:color/><X:missing/><A:executable/><A:other/><D:getcontenttype/></D:prop></D:propfind>"#
        )),
        ("curl", format!(r#"{d}<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>"#)),
    ]
}

/// Every request, at Depth 0 and 1, on `path`: the fast writer's answer is the old one's.
async fn compare(dav: &DavHandler, path: &str) {
    for (agent, body) in requests() {
        for depth in ["0", "1"] {
            let new = answer(dav, request("PROPFIND", path, depth, agent, &body), false).await;
            let old = answer(dav, request("PROPFIND", path, depth, agent, &body), true).await;
            assert_eq!(new.0, 207, "{agent} {body}: {}", new.1);
            assert_eq!(new, old, "{agent} Depth {depth} {body}");
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().unwrap()
}

#[test]
fn the_fast_writer_writes_the_old_writers_bytes_on_a_local_folder() {
    use std::os::unix::ffi::OsStrExt;
    let dir = std::env::temp_dir().join(format!("dav-server-live-props-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    for name in ["a.txt", "b&c<d>.html", ".hidden", "noext", "sub/x.pdf", "big.bin"] {
        std::fs::write(dir.join(name), name.repeat(7)).unwrap();
    }
    std::fs::write(dir.join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt")), "latin-1").unwrap();
    let dav = DavHandler::builder()
        .filesystem(LocalFs::new(&dir, false, false, false))
        .locksystem(MemLs::new())
        .build_handler();
    runtime().block_on(async {
        let lock = r#"<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>mailto:a@example.com</D:href></D:owner></D:lockinfo>"#;
        let locked = dav.handle(request("LOCK", "/a.txt", "0", "curl", lock)).await;
        assert_eq!(locked.status(), 200);
        compare(&dav, "/").await;
        compare(&dav, "/sub/").await;
        compare(&dav, "/a.txt").await;
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_fast_writer_writes_the_old_writers_bytes_with_dead_properties() {
    let dav = DavHandler::builder()
        .filesystem(MemFs::new())
        .locksystem(MemLs::new())
        .build_handler();
    runtime().block_on(async {
        for path in ["/f.txt", "/g.txt"] {
            let put = Request::builder().method("PUT").uri(path).body(Full::new(Bytes::from("x")));
            assert!(dav.handle(put.unwrap()).await.status().is_success());
        }
        let patch = r#"<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:" xmlns:X="urn:x"><D:set><D:prop><Z:Win32CreationTime>Mon, 01 Dec 2025 10:00:00 GMT</Z:Win32CreationTime><Z:Win32FileAttributes>00000021</Z:Win32FileAttributes><Z:Other>o</Z:Other><D:displayname>a &amp; b</D:displayname><X:color>blue &lt;3</X:color></D:prop></D:set></D:propertyupdate>"#;
        let res = dav.handle(request("PROPPATCH", "/f.txt", "0", "curl", patch)).await;
        assert_eq!(res.status(), 207);
        compare(&dav, "/").await;
        compare(&dav, "/f.txt").await;
    });
}
