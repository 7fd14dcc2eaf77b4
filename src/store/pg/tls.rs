//! TLS to PostgreSQL with rustls (ring, as the rest of davgate), as the URL's `sslmode` asks.
//!
//! libpq's words, libpq's meanings: `disable` (plain), `prefer` (the default: encrypted when the
//! server offers it, unverified), `require` (encrypted or refused, unverified, unless
//! `sslrootcert` is given: then as `verify-ca`, as libpq does), `verify-ca` (the chain must end
//! at a trusted root; any host name) and `verify-full` (the chain and the host name).
//!
//! The trusted roots are `sslrootcert=FILE` (PEM), or else the system's store (what
//! `update-ca-certificates` installs, so a company CA an admin added works; libpq would look for
//! `~/.postgresql/root.crt`, which a service account rarely has). `sslrootcert=system` says
//! the same explicitly, as in libpq 16.
//!
//! tokio-postgres asks for TLS itself (SSLRequest) and falls back to plain for `prefer` only;
//! this module only wraps the socket. Channel binding is not offered (SCRAM still works; it is
//! what `channel_binding=prefer`, the default, falls back to).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

/// What the URL asked of TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsPolicy {
    /// Whether TLS is tried, and whether it is required (what tokio-postgres acts on).
    pub(crate) mode: SslMode,
    /// What is checked of the server's certificate.
    pub(crate) verify: Verify,
    /// Where the trusted roots come from (used only when something is verified).
    pub(crate) roots: Roots,
}

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    /// Nothing: encryption against passive listening only (`prefer`, `require`).
    Nothing,
    /// The chain up to a trusted root, any host name (`verify-ca`).
    Chain,
    /// The chain and the host name of the URL (`verify-full`).
    ChainAndName,
}

/// Where the trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Roots {
    /// The operating system's store.
    System,
    /// `sslrootcert=FILE`: PEM certificates.
    File(PathBuf),
}

impl Default for TlsPolicy {
    /// libpq's default, `prefer`.
    fn default() -> Self {
        Self { mode: SslMode::Prefer, verify: Verify::Nothing, roots: Roots::System }
    }
}

/// Why TLS to PostgreSQL could not be set up (before any connection).
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The `sslrootcert` file could not be read or holds no certificate.
    #[error("sslrootcert {path}: {reason}")]
    RootFile {
        /// The file named in the URL.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// Verification was asked for and the system has no root certificates.
    #[error("no system root certificates found; name the CA with sslrootcert=FILE")]
    NoSystemRoots,
    /// rustls refused the configuration.
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The connector handed to tokio-postgres and deadpool (cheap to clone).
#[derive(Clone)]
pub(crate) struct Tls {
    config: Arc<ClientConfig>,
}

impl Tls {
    /// Builds the connector for `policy`, reading the roots it needs. Blocking (reads files):
    /// call it off the async runtime.
    pub(crate) fn new(policy: &TlsPolicy) -> Result<Self, TlsSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let algorithms = provider.signature_verification_algorithms;
        let verifier: Arc<dyn ServerCertVerifier> = match policy.verify {
            Verify::Nothing => Arc::new(Unverified(algorithms)),
            Verify::Chain => {
                Arc::new(ChainOnly { roots: Arc::new(roots(&policy.roots)?), algorithms })
            }
            Verify::ChainAndName => {
                let roots = Arc::new(roots(&policy.roots)?);
                WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
                    .build()
                    .map_err(|e| TlsSetupError::Rustls(rustls::Error::General(e.to_string())))?
            }
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Self { config: Arc::new(config) })
    }
}

fn roots(roots: &Roots) -> Result<RootCertStore, TlsSetupError> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::File(path) => {
            let fail = |reason: String| TlsSetupError::RootFile { path: path.clone(), reason };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| fail(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| fail(e.to_string()))?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(fail("no certificate in it".into()));
            }
        }
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(TlsSetupError::NoSystemRoots);
            }
        }
    }
    Ok(store)
}

/// `prefer` and `require`: any certificate, but the handshake's signatures are still checked
/// (so the session is with whoever holds the certificate's key).
#[derive(Debug)]
struct Unverified(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `verify-ca`: the chain must end at a trusted root; the host name is not compared.
#[derive(Debug)]
struct ChainOnly {
    roots: Arc<RootCertStore>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        let algorithms = self.algorithms.all;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            algorithms,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl<S> MakeTlsConnect<S> for Tls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type TlsConnect = Connect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<Connect> {
        // A bad name (a Unix socket's path) fails only if TLS is actually attempted.
        let name = ServerName::try_from(domain.to_string()).ok();
        Ok(Connect { config: Arc::clone(&self.config), name })
    }
}

/// One connection's handshake.
pub(crate) struct Connect {
    config: Arc<ClientConfig>,
    name: Option<ServerName<'static>>,
}

impl<S> TlsConnect<S> for Connect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let name = self.name.ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "the host is not a TLS server name")
            })?;
            let connector = tokio_rustls::TlsConnector::from(self.config);
            Ok(TlsStream(connector.connect(name, stream).await?))
        })
    }
}

/// The encrypted stream tokio-postgres reads and writes.
pub(crate) struct TlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for TlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_root_file_is_refused_in_one_line() {
        let policy = TlsPolicy {
            mode: SslMode::Require,
            verify: Verify::ChainAndName,
            roots: Roots::File("/nonexistent/ca.pem".into()),
        };
        let e = Tls::new(&policy).err().unwrap().to_string();
        assert!(e.starts_with("sslrootcert /nonexistent/ca.pem") && !e.contains('\n'), "{e}");
    }
}
