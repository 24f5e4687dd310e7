//! Time from TCP connect to a verified session (handshake + evidence +
//! appraisal) against a plain TLS 1.3 handshake to the same enclave, and
//! the cost of one request on a kept-alive attested session against one on
//! a plain TLS session. Local platform (swtpm, RSA-2048 AK).
//! Run with `cargo bench -p blindfold-runtime`.
#![allow(missing_docs, clippy::unwrap_used)]
#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use blindfold_atls::connect;
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;

async fn plain_session(addr: &str) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(common::attacker::AcceptAnything))
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

async fn request(sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>) {
    sender.ready().await.unwrap();
    let req = hyper::Request::get("/v1/models")
        .header("host", "x")
        .body(Full::new(Bytes::new()))
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
    let setup = common::local_setup(d, 1_000_000, blindfold_attester::AkAlgorithm::Rsa2048);
    let enclave = common::start_enclave(&d.join("enclave.json"), &[]);
    let addr = enclave.addr.clone();
    let policy = common::dev_policy(&setup, Default::default());
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
    drop(enclave);
    drop(setup);
}

criterion_group!(benches, bench);
criterion_main!(benches);
