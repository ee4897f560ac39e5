//! TLS to the fleet store through the project's rustls stack (the `ring` provider the HTTP
//! client installs; no OpenSSL, no second TLS library): a [`MakeTlsConnect`] for
//! `tokio-postgres` over `tokio-rustls`.
//!
//! The configuration is built the first time a server accepts TLS. The certificate is always
//! verified when TLS is used: against the CA certificates of
//! `sslrootcert` when the URL names a file, else against the system's roots (the platform
//! verifier the HTTP client shares, read once per process: [`crate::http::tls`]). `verify-ca` checks the chain but not the host name, as
//! libpq does; every other mode checks both. No channel binding is offered (SCRAM without
//! `-PLUS`, which PostgreSQL accepts).

use super::url::{SslMode, StoreUrl};
use crate::error::{Cause, Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// Makes TLS connections for `tokio-postgres` with one rustls configuration, built the first
/// time a server accepts TLS (reading the system's CA certificates costs milliseconds that a
/// server without TLS, on loopback or a socket, should not cost).
#[derive(Clone)]
pub(crate) struct RustlsMakeTls {
    setup: Arc<Setup>,
}

struct Setup {
    sslrootcert: Option<std::path::PathBuf>,
    verify_ca: bool,
    config: OnceLock<Arc<ClientConfig>>,
}

impl RustlsMakeTls {
    /// The connector for `url`: its roots and its `sslmode` (nothing is read yet).
    pub(crate) fn for_url(url: &StoreUrl) -> RustlsMakeTls {
        RustlsMakeTls {
            setup: Arc::new(Setup {
                sslrootcert: url.sslrootcert.clone(),
                verify_ca: url.sslmode == SslMode::VerifyCa,
                config: OnceLock::new(),
            }),
        }
    }
}

impl Setup {
    /// The rustls configuration, built once.
    fn config(&self) -> Result<Arc<ClientConfig>> {
        if let Some(c) = self.config.get() {
            return Ok(c.clone());
        }
        let built = Arc::new(self.build()?);
        Ok(self.config.get_or_init(|| built).clone())
    }

    fn build(&self) -> Result<ClientConfig> {
        crate::http::install_crypto_provider();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls_error = |what: String, e: rustls::Error| {
            Error::store(what)
                .with_cause(Cause::Tls)
                .with_hint("check `sslrootcert` in the store URL (a PEM file of the CA that signed the server's certificate)")
                .with_source(e)
        };
        let verifier: Arc<dyn ServerCertVerifier> = match &self.sslrootcert {
            Some(path) => {
                let mut roots = RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
                    .map_err(|e| {
                        Error::store(format!(
                            "cannot read the CA certificates of sslrootcert {}: {e}",
                            path.display()
                        ))
                        .with_cause(Cause::Tls)
                        .with_hint("point sslrootcert at a readable PEM file of CA certificates")
                    })?;
                for cert in certs {
                    roots.add(cert).map_err(|e| {
                        tls_error(
                            format!(
                                "sslrootcert {} holds a certificate rustls refuses",
                                path.display()
                            ),
                            e,
                        )
                    })?;
                }
                rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider.clone(),
                )
                .build()
                .map_err(|e| {
                    Error::store(format!(
                        "sslrootcert {} holds no usable CA certificate: {e}",
                        path.display()
                    ))
                    .with_cause(Cause::Tls)
                })?
            }
            // The same verifier as the HTTP client's: the system's CA certificates are read
            // once per process.
            None => crate::http::tls::system_verifier().map_err(|e| {
                tls_error("cannot load the system's CA certificates".to_string(), e)
            })?,
        };
        let verifier: Arc<dyn ServerCertVerifier> = if self.verify_ca {
            Arc::new(ChainOnly(verifier))
        } else {
            verifier
        };
        Ok(ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("cannot set up TLS".to_string(), e))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth())
    }
}

/// `verify-ca`: the chain must verify; a certificate for another name is accepted.
#[derive(Debug)]
struct ChainOnly(Arc<dyn ServerCertVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

impl<S> MakeTlsConnect<S> for RustlsMakeTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(
        &mut self,
        domain: &str,
    ) -> std::result::Result<RustlsConnect, Self::Error> {
        Ok(RustlsConnect {
            setup: self.setup.clone(),
            name: ServerName::try_from(domain.to_string())?,
        })
    }
}

/// One TLS handshake to come.
pub(crate) struct RustlsConnect {
    setup: Arc<Setup>,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            // A configuration that cannot be built is carried to the caller as the error.
            let config = self.setup.config().map_err(io::Error::other)?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(self.name, stream)
                .await?;
            Ok(RustlsStream(Box::new(stream)))
        })
    }
}

/// A TLS connection to the server.
pub(crate) struct RustlsStream<S>(Box<tokio_rustls::client::TlsStream<S>>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}
