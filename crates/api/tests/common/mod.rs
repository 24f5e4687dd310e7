//! Shared by the API tests: the router on loopback HTTP over the packaged
//! model, and a raw HTTP/1.1 client that can send anything.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use blindfold_api::ApiConfig;
use blindfold_engine::Engine;
use blindfold_engine_candle::{EmbeddedEngine, EmbeddedOptions, ModelSource};

/// The served model's name in these tests.
pub const MODEL: &str = "smollm2-135m-instruct";

pub use blindfold_testdata::packaged_model;

/// A running API server.
pub struct Server {
    pub addr: SocketAddr,
    pub engine: Arc<dyn Engine>,
    _runtime: tokio::runtime::Runtime,
}

/// Serves the API over `engine_options` on 127.0.0.1 (plain HTTP, tests only).
pub fn serve(options: EmbeddedOptions, config: ApiConfig) -> Server {
    let bytes = std::fs::read(packaged_model()).unwrap();
    let model = ModelSource::Gguf(&bytes).load(&candle_core::Device::Cpu).unwrap();
    let engine: Arc<dyn Engine> = Arc::new(
        EmbeddedEngine::start(
            model,
            EmbeddedOptions {
                model_id: MODEL.into(),
                ..options
            },
        )
        .unwrap(),
    );
    serve_engine(engine, config)
}

/// Serves the API over any engine.
pub fn serve_engine(engine: Arc<dyn Engine>, config: ApiConfig) -> Server {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let router = blindfold_api::router(engine.clone(), &config).unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move { axum::serve(listener, router).await.unwrap() });
    Server {
        addr,
        engine,
        _runtime: runtime,
    }
}

/// A raw HTTP/1.1 exchange: status and body.
pub fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading everything.
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let status: u16 = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .unwrap_or(out.len());
    let mut body = out[split..].to_vec();
    if text.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&b[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 || b.len() < eol + 4 + size {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
    out
}

/// POSTs JSON and parses the JSON answer.
pub fn post_json(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut h = vec![("content-type", "application/json")];
    h.extend_from_slice(headers);
    let (status, body) = raw(addr, "POST", path, &h, body.to_string().as_bytes());
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// Asserts the OpenAI error shape and returns `code`.
pub fn openai_error(body: &serde_json::Value) -> String {
    let e = &body["error"];
    assert!(e["message"].is_string(), "not an OpenAI error: {body}");
    assert!(e["type"].is_string(), "not an OpenAI error: {body}");
    assert!(e.get("param").is_some(), "not an OpenAI error: {body}");
    e["code"].as_str().unwrap_or_default().to_string()
}
