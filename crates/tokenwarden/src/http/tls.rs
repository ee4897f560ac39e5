//! TLS for the connections tokenwarden makes (the HTTP client, the agent's proxy, the fleet
//! store): rustls with the process's crypto provider (ring, installed once), every server
//! certificate verified against the system's CA certificates by rustls-platform-verifier.
//!
//! Reading the system's CA certificates is what setting TLS up costs: on Linux every file of
//! the CA directory is read and parsed (147 files, 3.5–8 ms measured on a 2-core VM), against
//! about 5 µs for the rest of the rustls configuration and 50 µs for the reqwest client. So it
//! is done at most once per process (`system_verifier`, shared by every client and the fleet
//! store), and only when a certificate is first verified: a `LazyVerifier` stands in each
//! configuration from the start and loads the shared one on its first handshake. A client
//! that only talks plain http (a loopback issuer) never reads them; an http URL reached
//! through an https proxy still verifies the proxy's certificate (that handshake goes through
//! the same verifier). A process keeps the certificates it read: one that runs for days (the
//! agent) sees a CA added to the system after its first handshake once it restarts.

use crate::error::{Error, ErrorKind, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::sync::{Arc, Once, OnceLock};

/// Installs rustls's ring provider as the process default, once.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Another part of the process may have installed one already: that is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The process's crypto provider: the one installed (ring, unless the program installed
/// another first).
fn provider() -> Arc<CryptoProvider> {
    install_crypto_provider();
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// The verifier over the system's CA certificates, read on the first call in the process;
/// every later call (any client, any thread) gets the same one, or the same error when they
/// could not be read.
pub(crate) fn system_verifier() -> std::result::Result<Arc<dyn ServerCertVerifier>, rustls::Error> {
    static SYSTEM: OnceLock<std::result::Result<Arc<dyn ServerCertVerifier>, rustls::Error>> =
        OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            #[cfg(test)]
            tests::LOADS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let loaded = rustls_platform_verifier::Verifier::new(provider());
            tracing::debug!(ok = loaded.is_ok(), "read the system's CA certificates");
            match loaded {
                Ok(v) => Ok(Arc::new(v) as Arc<dyn ServerCertVerifier>),
                Err(e) => Err(rustls::Error::General(format!(
                    "cannot read the system's CA certificates: {e}"
                ))),
            }
        })
        .clone()
}

/// A certificate verifier that becomes [`system_verifier`] on its first handshake. What a
/// handshake asks before any certificate arrives (the signature schemes offered) comes from
/// the crypto provider, as the platform verifier's own answer does.
#[derive(Debug)]
pub(crate) struct LazyVerifier {
    provider: Arc<CryptoProvider>,
    system: OnceLock<Arc<dyn ServerCertVerifier>>,
}

impl LazyVerifier {
    fn new(provider: Arc<CryptoProvider>) -> LazyVerifier {
        LazyVerifier {
            provider,
            system: OnceLock::new(),
        }
    }

    /// True once a handshake made this verifier load the system's certificates.
    pub(crate) fn loaded(&self) -> bool {
        self.system.get().is_some()
    }

    fn system(&self) -> std::result::Result<&Arc<dyn ServerCertVerifier>, rustls::Error> {
        if let Some(v) = self.system.get() {
            return Ok(v);
        }
        let v = system_verifier()?;
        Ok(self.system.get_or_init(|| v))
    }
}

impl ServerCertVerifier for LazyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        self.system()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.system()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.system()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A reqwest client builder with this module's TLS, and the verifier in it (to tell whether
/// it was used).
pub(crate) fn builder_and_verifier() -> Result<(reqwest::ClientBuilder, Arc<LazyVerifier>)> {
    let provider = provider();
    let verifier = Arc::new(LazyVerifier::new(provider.clone()));
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| {
            Error::new(ErrorKind::Other, format!("cannot set up TLS: {e}")).with_source(e)
        })?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    // What reqwest offers itself with HTTP/1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((
        reqwest::Client::builder().tls_backend_preconfigured(config),
        verifier,
    ))
}

/// A reqwest client builder with tokenwarden's TLS (see the module documentation): what every
/// HTTP client of the project starts from, the token client's and the agent's proxy's.
pub fn client_builder() -> Result<reqwest::ClientBuilder> {
    Ok(builder_and_verifier()?.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Cause;
    use crate::http::{Body, HttpClient, HttpRequest, HttpSettings, Method, RequestKind};
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject as _;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncWriteExt as _;

    /// How many times this test process read the system's CA certificates.
    pub(super) static LOADS: AtomicUsize = AtomicUsize::new(0);

    /// A self-signed server certificate for 127.0.0.1 (not a CA) and its key, made for these
    /// tests alone: no system trusts it. Valid until 2126.
    const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBojCCAUigAwIBAgIUFnOoZGFqgqRAarqhHovle2Fs8bYwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTIwNzA2MDAyM1oYDzIxMjYxMTEz
MDYwMDIzWjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAATAl1EOlux2BPSnbjwX36bNC/HA7uLEPBWWEEULSbNb5FYLEUPta3Xv
uTlYNx6BAZlNNxUTdQp5R3ChsS8FCU2ko3YwdDAdBgNVHQ4EFgQUI+N5YaylwYlq
PaUHgRLG024jqGcwHwYDVR0jBBgwFoAUI+N5YaylwYlqPaUHgRLG024jqGcwDwYD
VR0RBAgwBocEfwAAATAMBgNVHRMBAf8EAjAAMBMGA1UdJQQMMAoGCCsGAQUFBwMB
MAoGCCqGSM49BAMCA0gAMEUCIEyo6KsdkCNlXc0YSWoHFAaZb9kwqNQ8Uj8YhxPH
WjxeAiEA3T8T+ZiyOUvPqVZBNm5oASffih57+r01sm6+h2Dklag=
-----END CERTIFICATE-----
";
    const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgh7Z8g9avxaBDljwa
Wohbt1tY1eJM2g53Roor1nK8P4mhRANCAATAl1EOlux2BPSnbjwX36bNC/HA7uLE
PBWWEEULSbNb5FYLEUPta3XvuTlYNx6BAZlNNxUTdQp5R3ChsS8FCU2k
-----END PRIVATE KEY-----
";

    /// An https server on 127.0.0.1 with [`CERT`] that answers `200 ok` to whoever completes
    /// the handshake; each handshake's outcome is sent on the channel.
    async fn https_server() -> (
        url::Url,
        tokio::sync::mpsc::UnboundedReceiver<std::result::Result<(), rustls::Error>>,
        tokio::task::JoinHandle<()>,
    ) {
        let cert = CertificateDer::from_pem_slice(CERT.as_bytes()).expect("certificate");
        let key = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).expect("key");
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = url::Url::parse(&format!(
            "https://{}/",
            listener.local_addr().expect("addr")
        ))
        .expect("url");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                match acceptor.accept(tcp).await {
                    Ok(mut tls) => {
                        let _ = tx.send(Ok(()));
                        let _ = tls
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                            .await;
                        let _ = tls.shutdown().await;
                    }
                    Err(e) => {
                        let found = e
                            .get_ref()
                            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                            .cloned()
                            .unwrap_or(rustls::Error::General(e.to_string()));
                        let _ = tx.send(Err(found));
                    }
                }
            }
        });
        (url, rx, task)
    }

    fn get(url: &url::Url) -> HttpRequest {
        HttpRequest {
            kind: RequestKind::Discovery,
            method: Method::Get,
            url: url.clone(),
            headers: Vec::new(),
            body: Body::None,
        }
    }

    #[tokio::test]
    async fn an_https_endpoint_is_verified_with_the_system_certificates_read_once() {
        let (url, mut handshakes, server) = https_server().await;
        let first = HttpClient::new(HttpSettings::default()).expect("client");
        let second = HttpClient::new(HttpSettings::default()).expect("client");
        assert!(!first.tls_set_up() && !second.tls_set_up());
        for client in [&first, &second] {
            let e = client
                .send(&get(&url), "tw-tls")
                .await
                .expect_err("a certificate no system trusts is refused");
            assert_eq!(e.cause(), Some(Cause::Tls), "{}", e.report());
            // The client refused the certificate itself, saying its issuer is unknown.
            assert_eq!(
                handshakes.recv().await.expect("a handshake"),
                Err(rustls::Error::AlertReceived(
                    rustls::AlertDescription::UnknownCA
                ))
            );
            assert!(client.tls_set_up());
        }
        assert_eq!(
            LOADS.load(Ordering::SeqCst),
            1,
            "the CA certificates are read once per process"
        );
        server.abort();
    }

    #[tokio::test]
    async fn a_refresh_against_an_http_issuer_sets_no_tls_up() {
        let server = mockauth::Server::start(mockauth::Config {
            auto_approve: true,
            ..mockauth::Config::default()
        })
        .await
        .expect("mockauth");
        let mut profile = crate::config::Profile::new("plain", "cli");
        profile.issuer = Some(server.issuer());
        let client = crate::http::TokenClient::new(profile).expect("client");
        let device = client.device_authorize().await.expect("device");
        let crate::http::DevicePoll::Granted(tokens) = client
            .poll_device_token(&device.device_code)
            .await
            .expect("poll")
        else {
            panic!("mockauth approves at once");
        };
        let refresh_token = tokens.refresh_token.clone().expect("a refresh token");
        client.refresh(&refresh_token).await.expect("refresh");
        assert!(
            !client.http().tls_set_up(),
            "discovery, login and refresh over http read no CA certificate"
        );
        server.shutdown().await.expect("stop");
    }
}
