//! Where the files live when they are not on a local disk: `s3://BUCKET[/PREFIX]?endpoint=URL&region=R`.
//!
//! The credentials are not in the URL (it is a flag, a config key, a `ps` line): they come
//! from `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, or `AWS_SECRET_ACCESS_KEY_FILE` (a
//! file holding the secret key, as container secrets are given). The secret key is a
//! [`Secret`]: it never shows in `Debug` or a log line.

use crate::secret::Secret;

/// A bucket (and a key prefix in it) on an S3-compatible server, with the keys to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectsLocation {
    /// The bucket's name.
    pub bucket: String,
    /// The key prefix every blob goes under (no leading or trailing `/`; may be empty).
    pub prefix: String,
    /// The server's base URL (`https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:9000`).
    pub endpoint: String,
    /// The region requests are signed for (`us-east-1` when the URL names none).
    pub region: String,
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
}

/// Why a files location cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LocationError {
    /// Not an `s3://` URL, or one without a bucket.
    #[error("an object storage location is s3://BUCKET[/PREFIX]?endpoint=URL[&region=R]")]
    Shape,
    /// A query parameter davgate does not know (a typo would otherwise be ignored).
    #[error("unknown parameter '{0}' in the s3:// location (known: endpoint, region)")]
    UnknownParameter(String),
    /// No `endpoint=` (davgate does not guess AWS's from the region).
    #[error("the s3:// location needs endpoint=URL (e.g. https://s3.eu-west-1.amazonaws.com)")]
    NoEndpoint,
    /// The credentials are not in the environment.
    #[error("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_SECRET_ACCESS_KEY_FILE)")]
    NoCredentials,
    /// The secret key file cannot be read.
    #[error("cannot read AWS_SECRET_ACCESS_KEY_FILE: {0}")]
    SecretFile(String),
}

/// What the credentials are read from: the process environment, or a test's.
pub trait Environment {
    /// The variable's value, if it is set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl ObjectsLocation {
    /// True for what `--files` gives as an object storage URL rather than a folder.
    pub fn is_object_url(text: &str) -> bool {
        text.starts_with("s3://")
    }

    /// Parses `s3://BUCKET[/PREFIX]?endpoint=URL[&region=R]`, with the credentials from `env`.
    pub fn parse(text: &str, env: &dyn Environment) -> Result<Self, LocationError> {
        let rest = text.strip_prefix("s3://").ok_or(LocationError::Shape)?;
        let (place, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = place.split_once('/').unwrap_or((place, ""));
        if bucket.is_empty() {
            return Err(LocationError::Shape);
        }
        let (mut endpoint, mut region) = (None, None);
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query).map_err(|_| LocationError::Shape)?;
        for (key, value) in pairs {
            match key.as_str() {
                "endpoint" => endpoint = Some(value),
                "region" => region = Some(value),
                _ => return Err(LocationError::UnknownParameter(key)),
            }
        }
        let endpoint = endpoint.filter(|e| !e.is_empty()).ok_or(LocationError::NoEndpoint)?;
        let access_key_id = env.var("AWS_ACCESS_KEY_ID").ok_or(LocationError::NoCredentials)?;
        let secret = match env.var("AWS_SECRET_ACCESS_KEY") {
            Some(secret) => secret,
            None => {
                let file =
                    env.var("AWS_SECRET_ACCESS_KEY_FILE").ok_or(LocationError::NoCredentials)?;
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| LocationError::SecretFile(e.kind().to_string()))?;
                text.trim().to_string()
            }
        };
        Ok(Self {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            endpoint,
            region: region.filter(|r| !r.is_empty()).unwrap_or_else(|| "us-east-1".to_string()),
            access_key_id,
            secret_access_key: Secret::new(secret),
        })
    }

    /// The location as a user wrote it, without credentials (for logs and the banner).
    pub fn display(&self) -> String {
        let slash = if self.prefix.is_empty() { "" } else { "/" };
        format!("s3://{}{slash}{}?endpoint={}", self.bucket, self.prefix, self.endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Vars(HashMap<&'static str, &'static str>);
    impl Environment for Vars {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
    }

    fn keys() -> Vars {
        Vars(HashMap::from([("AWS_ACCESS_KEY_ID", "AK"), ("AWS_SECRET_ACCESS_KEY", "hidden-sk")]))
    }

    #[test]
    fn a_bucket_prefix_endpoint_and_region_are_read() {
        let url = "s3://files/team/a/?endpoint=http://127.0.0.1:9000&region=eu-west-1";
        let l = ObjectsLocation::parse(url, &keys()).unwrap();
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("files", "team/a"));
        assert_eq!(
            (l.endpoint.as_str(), l.region.as_str()),
            ("http://127.0.0.1:9000", "eu-west-1")
        );
        assert_eq!(l.access_key_id, "AK");
    }

    #[test]
    fn the_secret_key_never_shows_in_debug_or_display() {
        let l = ObjectsLocation::parse("s3://b?endpoint=http://h", &keys()).unwrap();
        assert!(!format!("{l:?}").contains("hidden-sk"));
        assert!(!l.display().contains("hidden-sk"));
        assert_eq!(l.region, "us-east-1");
    }

    #[test]
    fn bad_locations_are_refused_with_their_reason() {
        let parse = |u| ObjectsLocation::parse(u, &keys()).unwrap_err();
        assert_eq!(parse("s3://?endpoint=http://h"), LocationError::Shape);
        assert_eq!(parse("s3://b"), LocationError::NoEndpoint);
        assert_eq!(parse("s3://b?endpont=x"), LocationError::UnknownParameter("endpont".into()));
        let none = Vars(HashMap::new());
        let e = ObjectsLocation::parse("s3://b?endpoint=http://h", &none).unwrap_err();
        assert_eq!(e, LocationError::NoCredentials);
    }
}
