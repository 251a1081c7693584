//! TLS for the lifecycle sinks: one rustls configuration for `https://`
//! (reqwest) and `wss://` (tokio-tungstenite).
//!
//! Trusted: the system's roots as `rustls-native-certs` finds them (so
//! `SSL_CERT_FILE` and `SSL_CERT_DIR` replace them when set), the Mozilla
//! roots of `webpki-roots` only when the system gave none and neither
//! variable is set, and the
//! certificates of a PEM file given with `root_certificates` (a self-signed
//! server's, or a private CA's). The crypto provider is named here
//! (aws-lc-rs, the one reqwest uses), never taken from the process default,
//! which cannot be decided when an app links two providers.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, pem::PemObject};
use rustls::{ClientConfig, RootCertStore};

/// The client configuration trusting the system's roots and those in
/// `extra` (a PEM file); an error says what is wrong with `extra`.
pub(crate) fn client_config(extra: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        crate::diag::warn(format_args!(
            "lifecycle: reading trusted certificates: {error}"
        ));
    }
    let _ = roots.add_parsable_certificates(native.certs);
    // webpki's roots only where the system has none: never when the operator
    // named the certificates to trust (a mistyped SSL_CERT_FILE must not
    // widen the trust to every public CA)
    let named =
        std::env::var_os("SSL_CERT_FILE").is_some() || std::env::var_os("SSL_CERT_DIR").is_some();
    if roots.is_empty() && !named {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(path) = extra {
        let shown = path.display();
        let certificates = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read the certificates in {shown}: {e}"))?;
        let mut added = 0usize;
        for certificate in certificates {
            let certificate =
                certificate.map_err(|e| format!("a certificate in {shown} is malformed: {e}"))?;
            roots
                .add(certificate)
                .map_err(|e| format!("a certificate in {shown} is not usable: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!("no certificate found in {shown}"));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // both clients speak HTTP/1.1 (a websocket starts as an HTTP/1.1 upgrade)
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_certificate_file_is_a_clear_error() {
        let missing = client_config(Some(Path::new("/nonexistent/ca.pem")));
        assert!(
            missing
                .as_ref()
                .is_err_and(|e| e.contains("/nonexistent/ca.pem")),
            "{missing:?}"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let none = client_config(Some(&empty));
        assert!(
            none.as_ref().is_err_and(|e| e.contains("no certificate")),
            "{none:?}"
        );
        assert!(
            client_config(None).is_ok(),
            "the system's roots or webpki's"
        );
    }
}
