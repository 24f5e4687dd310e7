//! Time from TCP connect to a verified session (handshake + evidence +
//! appraisal) against a plain TLS 1.3 handshake to the same enclave, and
//! the cost of one request on a kept-alive attested session against one on
//! a plain TLS session. Local platform (swtpm, RSA-2048 AK).
//! Run with `cargo bench -p blindfold-runtime`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use blindfold_atls::{connect, ClientPolicy};
use blindfold_attest::runtime_log::{RuntimeEvent, RuntimeLog};
use blindfold_attest::{PcrReference, ReferenceFormat, ReferenceKind, ReferenceValues};
use blindfold_attester::platform;
use blindfold_crypto::{default_provider, HashAlg};
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

#[derive(Debug)]
struct Plain;
impl ServerCertVerifier for Plain {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            m,
            c,
            d,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

async fn plain_session(addr: &str) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Plain))
            .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("x").unwrap(), tcp)
        .await
        .unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

async fn request(sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>) {
    sender.ready().await.unwrap();
    let req = hyper::Request::get("/v1/models")
        .header("host", "x")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let _ = sender
        .send_request(req)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let info = platform::init(&d.join("platform"), blindfold_attester::AkAlgorithm::Rsa2048).unwrap();
    let swtpm = platform::start(&d.join("platform")).unwrap();
    std::fs::create_dir(d.join("app")).unwrap();
    std::fs::write(d.join("app/runtime.json"), "{}").unwrap();
    let disk = blindfold_measure::app_disk::build_app_disk(
        &d.join("app"),
        &d.join("app.img"),
        0,
        blindfold_measure::app_disk::DEFAULT_FS_UUID,
    )
    .unwrap();
    let config = serde_json::to_vec(&serde_json::json!({
        "tcti": swtpm.tcti(), "listen": "127.0.0.1:0", "platform": "local",
        "app_disk": d.join("app.img"), "app_disk_root_hash": hex::encode(&disk.root_hash),
        "app_disk_hash_offset": disk.data_size, "evidence_per_second": 1000000,
    }))
    .unwrap();
    std::fs::write(d.join("enclave.json"), &config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_blindfold-enclave"))
        .arg("--config")
        .arg(d.join("enclave.json"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let log = RuntimeLog {
        events: vec![
            RuntimeEvent::AppDisk {
                root_hash: disk.root_hash.clone(),
            },
            RuntimeEvent::Config {
                sha256: default_provider()
                    .hash(HashAlg::Sha256, &[&config])
                    .as_bytes()
                    .to_vec(),
            },
            RuntimeEvent::Ready,
        ],
        banks: vec![HashAlg::Sha256, HashAlg::Sha384],
    };
    let mut pcrs = BTreeMap::new();
    for (bank, values) in log.replay().banks() {
        for (i, v) in values {
            pcrs.insert(
                (bank, *i),
                PcrReference {
                    allowed: vec![*v],
                    revoked: vec![],
                },
            );
        }
    }
    let policy = ClientPolicy {
        reference: ReferenceValues {
            format: ReferenceFormat::Blindfold,
            kind: ReferenceKind::Development,
            pcrs,
            app_disk_root_hash: None,
        },
        platform_ca: Some(blindfold_x509::parse_certificates(&std::fs::read(&info.ca_pem).unwrap()).unwrap()),
        allow_dev: true,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let mut g = c.benchmark_group("session");
    g.sample_size(20);
    g.bench_function("plain_tls13_handshake", |b| {
        b.iter(|| rt.block_on(plain_session(&addr)))
    });
    g.bench_function("attested_session", |b| {
        b.iter(|| rt.block_on(connect(&addr, &policy)).unwrap())
    });
    let mut plain = rt.block_on(plain_session(&addr));
    g.bench_function("request_plain_keepalive", |b| {
        b.iter(|| rt.block_on(request(&mut plain)))
    });
    let mut attested = rt.block_on(connect(&addr, &policy)).unwrap();
    g.bench_function("request_attested_keepalive", |b| {
        b.iter(|| rt.block_on(request(&mut attested.sender)))
    });
    g.finish();
    let _ = child.kill();
    let _ = child.wait();
    drop(swtpm);
}

criterion_group!(benches, bench);
criterion_main!(benches);
