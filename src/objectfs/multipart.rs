//! S3's multipart uploads, as signed requests: the parts of an upload ([`super::upload`]), and
//! the uploads a node left open when it was killed mid-PUT (for the collector).
//!
//! Uploads go through these requests rather than OpenDAL's writer because that writer holds
//! two parts per upload (the one in flight and the next, cached) plus the client's body frames,
//! which kept whole read buffers alive: 4 uploads of 8 MiB parts peaked at 180 MiB. Here an
//! upload holds exactly one part.
//!
//! An open multipart upload is billed for its parts until it is aborted, and a node that is
//! SIGKILLed mid-upload never gets to abort its own. The collector knows the *key* of every
//! upload that never finished (its pending row), and S3 lists the uploads open on a key prefix:
//! listing on the exact key finds the ids, without touching any other node's upload. The
//! requests are signed with `reqsign` (the signer OpenDAL's S3 service itself uses, so nothing
//! new is built) and sent with the reqwest client davgate already has.

use reqsign::{AwsCredential, AwsV4Signer};
use serde::Deserialize;
use std::time::Duration;

use super::blob_error::BlobError;
use super::location::ObjectsLocation;

/// How long one of these requests may take before the bucket counts as unreachable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// How long the sending of one part may take (8 MiB at 30 KB/s).
const PART_TIMEOUT: Duration = Duration::from_secs(300);

/// Signed requests on the bucket's multipart uploads.
pub(super) struct Multipart {
    http: reqwest::Client,
    signer: AwsV4Signer,
    /// The keys (reqsign's type has no `Debug`; this struct has none either).
    credential: AwsCredential,
    /// `endpoint/bucket`, path-style as OpenDAL addresses it.
    bucket_url: url::Url,
    /// The location's key prefix with its trailing `/` (empty for none).
    prefix: String,
}

/// One page of ListMultipartUploads (the elements used; the rest is ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Listing {
    #[serde(default)]
    upload: Vec<Upload>,
    #[serde(default)]
    is_truncated: bool,
    next_key_marker: Option<String>,
    next_upload_id_marker: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Upload {
    key: String,
    upload_id: String,
}

/// The answer to CreateMultipartUpload (the element used).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Initiated {
    upload_id: String,
}

/// One answer of the bucket: the `ETag` header (of a part) and the body.
struct Answer {
    etag: Option<String>,
    text: String,
}

impl Multipart {
    /// The multipart uploads of the bucket at `location` (no request is made here).
    pub(super) fn new(location: &ObjectsLocation) -> Result<Self, BlobError> {
        let failed = |what: &str| BlobError::Failed(format!("multipart client: {what}"));
        let mut bucket_url = url::Url::parse(&location.endpoint).map_err(|_| failed("endpoint"))?;
        bucket_url
            .path_segments_mut()
            .map_err(|()| failed("endpoint cannot hold a path"))?
            .pop_if_empty()
            .push(&location.bucket);
        // reqsign parses the URL again as an `http::Uri` (and would panic on one it refuses).
        bucket_url.as_str().parse::<http::Uri>().map_err(|_| failed("endpoint"))?;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| failed(&e.to_string()))?;
        let credential = AwsCredential {
            access_key_id: location.access_key_id.clone(),
            secret_access_key: location.secret_access_key.expose().to_string(),
            session_token: None,
            expires_in: None,
        };
        let prefix = if location.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", location.prefix)
        };
        let signer = AwsV4Signer::new("s3", &location.region);
        Ok(Self { http, signer, credential, bucket_url, prefix })
    }

    /// The full object key of a blob (below the location's prefix), as S3 names it.
    fn object_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The ids of the multipart uploads open on `key` (a blob key below the prefix).
    pub(super) async fn open_on(&self, key: &str) -> Result<Vec<String>, BlobError> {
        let object = self.object_key(key);
        let mut ids = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut url = self.bucket_url.clone();
            {
                let mut query = url.query_pairs_mut();
                query.append_key_only("uploads").append_pair("prefix", &object);
                if let Some((key_marker, id_marker)) = &markers {
                    query.append_pair("key-marker", key_marker);
                    query.append_pair("upload-id-marker", id_marker);
                }
            }
            let answer = self.send(reqwest::Method::GET, url, None).await?;
            let page = parse_listing(&answer.text)?;
            ids.extend(page.upload.into_iter().filter(|u| u.key == object).map(|u| u.upload_id));
            match (page.is_truncated, page.next_key_marker, page.next_upload_id_marker) {
                (true, Some(k), Some(i)) if markers.as_ref() != Some(&(k.clone(), i.clone())) => {
                    markers = Some((k, i));
                }
                _ => return Ok(ids),
            }
        }
    }

    /// Aborts the multipart upload `upload_id` on `key` (one already gone is not an error).
    pub(super) async fn abort(&self, key: &str, upload_id: &str) -> Result<(), BlobError> {
        let mut url = self.object_url(key);
        url.query_pairs_mut().append_pair("uploadId", upload_id);
        match self.send(reqwest::Method::DELETE, url, None).await {
            Ok(_) | Err(BlobError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Starts a multipart upload on `key`; its upload id.
    pub(super) async fn create(&self, key: &str) -> Result<String, BlobError> {
        let mut url = self.object_url(key);
        url.query_pairs_mut().append_key_only("uploads");
        let answer = self.send(reqwest::Method::POST, url, None).await?;
        let initiated: Initiated = quick_xml::de::from_str(&answer.text).map_err(|e| {
            BlobError::Failed(format!("unreadable CreateMultipartUpload answer: {e}"))
        })?;
        Ok(initiated.upload_id)
    }

    /// Sends part `number` (from 1) of upload `upload_id`; the part's ETag, which completing
    /// the upload names.
    pub(super) async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: usize,
        body: bytes::Bytes,
    ) -> Result<String, BlobError> {
        let mut url = self.object_url(key);
        url.query_pairs_mut()
            .append_pair("partNumber", &number.to_string())
            .append_pair("uploadId", upload_id);
        let answer = self.send(reqwest::Method::PUT, url, Some(body)).await?;
        answer.etag.ok_or_else(|| BlobError::Failed("a part was stored without an ETag".into()))
    }

    /// Completes upload `upload_id` from its parts' ETags, in order: the blob appears whole.
    pub(super) async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
    ) -> Result<(), BlobError> {
        let mut url = self.object_url(key);
        url.query_pairs_mut().append_pair("uploadId", upload_id);
        let body = completion(etags);
        let answer = self.send(reqwest::Method::POST, url, Some(body.into())).await?;
        // S3 may answer 200 and put the failure in the body (it can fail after it began).
        match error_code(&answer.text) {
            Some(code) if answer.text.contains("<Error>") => {
                Err(BlobError::Unavailable(format!("CompleteMultipartUpload: {code}")))
            }
            _ => Ok(()),
        }
    }

    /// The URL of `key` (a blob key below the prefix), path-style.
    fn object_url(&self, key: &str) -> url::Url {
        let mut url = self.bucket_url.clone();
        let object = self.object_key(key);
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.extend(object.split('/'));
        }
        url
    }

    /// Signs and sends one request (with `body`, unsigned as OpenDAL sends them); the ETag and
    /// the body of a 2xx answer.
    async fn send(
        &self,
        method: reqwest::Method,
        url: url::Url,
        body: Option<bytes::Bytes>,
    ) -> Result<Answer, BlobError> {
        let mut request = reqwest::Request::new(method, url);
        if let Some(body) = body {
            *request.timeout_mut() = Some(PART_TIMEOUT);
            *request.body_mut() = Some(body.into());
        }
        self.signer
            .sign(&mut request, &self.credential)
            .map_err(|e| BlobError::Failed(format!("signing a multipart request: {e}")))?;
        let unreachable = |e: reqwest::Error| BlobError::Unavailable(e.without_url().to_string());
        let answer = self.http.execute(request).await.map_err(unreachable)?;
        let status = answer.status();
        let etag = answer.headers().get(reqwest::header::ETAG);
        let etag = etag.and_then(|v| v.to_str().ok()).map(str::to_string);
        let text = answer.text().await.map_err(unreachable)?;
        if status.is_success() {
            return Ok(Answer { etag, text });
        }
        let said = format!("{status}: {}", error_code(&text).unwrap_or("no error code"));
        Err(match status.as_u16() {
            404 => BlobError::NotFound(said),
            429 | 500.. => BlobError::Unavailable(said),
            _ => BlobError::Failed(said),
        })
    }
}

/// The body of CompleteMultipartUpload: every part by number with its ETag.
fn completion(etags: &[String]) -> String {
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (i, etag) in etags.iter().enumerate() {
        let etag = quick_xml::escape::escape(etag.as_str());
        xml += &format!("<Part><PartNumber>{}</PartNumber><ETag>{etag}</ETag></Part>", i + 1);
    }
    xml + "</CompleteMultipartUpload>"
}

fn parse_listing(text: &str) -> Result<Listing, BlobError> {
    quick_xml::de::from_str(text)
        .map_err(|e| BlobError::Failed(format!("unreadable ListMultipartUploads answer: {e}")))
}

/// The `<Code>` of an S3 error answer, for the log (the rest may echo the request).
fn error_code(text: &str) -> Option<&str> {
    let after = text.split_once("<Code>")?.1;
    let code = after.split_once("</Code>")?.0;
    code.chars().all(|c| c.is_ascii_alphanumeric()).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn location(endpoint: &str, prefix: &str) -> ObjectsLocation {
        ObjectsLocation {
            bucket: "files".into(),
            prefix: prefix.into(),
            endpoint: endpoint.into(),
            region: "eu-west-1".into(),
            access_key_id: "AK".into(),
            secret_access_key: Secret::new("SK".into()),
        }
    }

    #[test]
    fn a_listing_gives_every_upload_with_its_key_and_the_next_page() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
            <ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Bucket>files</Bucket><KeyMarker></KeyMarker>
              <NextKeyMarker>team/blobs/b</NextKeyMarker><NextUploadIdMarker>id-2</NextUploadIdMarker>
              <MaxUploads>1000</MaxUploads><IsTruncated>true</IsTruncated>
              <Upload><Key>team/blobs/a</Key><UploadId>id-1</UploadId>
                <Initiator><ID>x</ID></Initiator><Initiated>2026-01-01T00:00:00Z</Initiated></Upload>
              <Upload><Key>team/blobs/b</Key><UploadId>id-2</UploadId></Upload>
            </ListMultipartUploadsResult>"#;
        let page = parse_listing(xml).unwrap();
        let got: Vec<_> =
            page.upload.iter().map(|u| (u.key.as_str(), u.upload_id.as_str())).collect();
        assert_eq!(got, [("team/blobs/a", "id-1"), ("team/blobs/b", "id-2")]);
        assert!(page.is_truncated);
        assert_eq!(page.next_upload_id_marker.as_deref(), Some("id-2"));
        let empty = "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>";
        assert!(parse_listing(empty).unwrap().upload.is_empty());
    }

    #[test]
    fn keys_go_below_the_prefix_and_the_bucket_path_style() {
        let m = Multipart::new(&location("http://127.0.0.1:9000/", "team/a")).unwrap();
        assert_eq!(m.bucket_url.as_str(), "http://127.0.0.1:9000/files");
        assert_eq!(m.object_key("blobs/x"), "team/a/blobs/x");
        let bare = Multipart::new(&location("https://s3.example", "")).unwrap();
        assert_eq!(bare.object_key("blobs/x"), "blobs/x");
        assert!(Multipart::new(&location("not a url", "")).is_err());
    }

    #[test]
    fn completing_names_every_part_in_order_with_its_etag() {
        let xml = completion(&["\"a1\"".into(), "\"b&2\"".into()]);
        assert_eq!(
            xml,
            "<CompleteMultipartUpload>\
             <Part><PartNumber>1</PartNumber><ETag>&quot;a1&quot;</ETag></Part>\
             <Part><PartNumber>2</PartNumber><ETag>&quot;b&amp;2&quot;</ETag></Part>\
             </CompleteMultipartUpload>"
        );
        let initiated: Initiated = quick_xml::de::from_str(
            "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>\
             <UploadId>id-7</UploadId></InitiateMultipartUploadResult>",
        )
        .unwrap();
        assert_eq!(initiated.upload_id, "id-7");
        let m = Multipart::new(&location("http://127.0.0.1:9000", "team")).unwrap();
        assert_eq!(m.object_url("blobs/x").as_str(), "http://127.0.0.1:9000/files/team/blobs/x");
    }

    #[test]
    fn only_an_error_code_is_kept_of_an_error_answer() {
        let xml = "<Error><Code>NoSuchUpload</Code><Message>gone</Message></Error>";
        assert_eq!(error_code(xml), Some("NoSuchUpload"));
        assert_eq!(error_code("<Error><Code>a b</Code></Error>"), None);
    }
}
