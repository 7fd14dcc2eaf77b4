//! TLS with rustls: Windows Explorer sends Basic credentials only over HTTPS by default.
//!
//! The certificate is served through [`Certificates`], a resolver holding the pair in force:
//! [`Certificates::reload`] (on SIGHUP) reads the files again and swaps the pair for new
//! handshakes, while connections already open keep the session they negotiated. A new pair that
//! cannot be used (missing, unparsable, key not matching the certificate) leaves the old one in
//! force.

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio_rustls::TlsAcceptor;

use super::Error;

/// The certificate and key files and the pair read from them last, served to every handshake.
pub struct Certificates {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    /// Read once per handshake (a handshake costs far more than an uncontended read lock);
    /// written only by a reload.
    current: RwLock<Arc<CertifiedKey>>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates").field("cert", &self.cert).field("key", &self.key).finish()
    }
}

impl Certificates {
    /// Reads the PEM files: a certificate chain and its private key. Blocking.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let pair = read_pair(cert, key, &provider)?;
        Ok(Arc::new(Self {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider,
            current: RwLock::new(Arc::new(pair)),
        }))
    }

    /// Reads the files again; on success new handshakes get the new pair, and the SHA-256
    /// fingerprint of its certificate is returned. On failure the pair in force stays. Blocking.
    pub fn reload(&self) -> Result<String, Error> {
        let pair = Arc::new(read_pair(&self.cert, &self.key, &self.provider)?);
        let print = fingerprint(&pair);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = pair;
        Ok(print)
    }

    /// The certificate file, for log lines.
    pub fn cert_file(&self) -> &Path {
        &self.cert
    }

    /// An acceptor serving the pair in force. HTTP/2 and HTTP/1.1 are offered through ALPN.
    pub fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor, Error> {
        let provider = Arc::clone(&self.provider);
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls { file: self.cert.clone(), reason: e.to_string() })?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner())))
    }
}

/// The chain in `cert` and the key in `key`, checked to belong together.
fn read_pair(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, Error> {
    let tls_error = |file: &Path, reason: String| Error::Tls { file: file.to_path_buf(), reason };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls_error(cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(tls_error(cert, "no certificate found in the file".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_error(key, e.to_string()))?;
    CertifiedKey::from_der(certs, key_der, provider)
        .map_err(|e| tls_error(key, format!("certificate and key do not fit: {e}")))
}

/// The SHA-256 fingerprint of the end-entity certificate, as `openssl x509 -fingerprint
/// -sha256` prints it: what an admin compares to tell which certificate is served.
fn fingerprint(pair: &CertifiedKey) -> String {
    let Ok(der) = pair.end_entity_cert() else { return String::new() };
    let digest = Sha256::digest(der.as_ref());
    digest.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}
