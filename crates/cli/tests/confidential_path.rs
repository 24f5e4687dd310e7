//! The confidential path at GPU token rates, short versions of the bench
//! (`bench/compare-confidential-path.sh`): a fast stand-in engine behind a
//! real enclave (upstream mode) and `blindfold proxy`. The time to the
//! first token through the proxy stays within a few milliseconds of the
//! stand-in's own (a delayed-ACK stall alone adds ~40 ms), and a cold burst
//! of new clients through one proxy, against an enclave that allows few
//! evidence requests per second, gets every answer (the proxy opens
//! sessions at a bounded rate and waits out 429s). An attested session
//! whose answer was read to its end takes the next request, through the
//! proxy and through the SDK's streams that stop at `[DONE]`; one whose
//! reader went away mid-answer is closed, not reused.

#![allow(clippy::unwrap_used, missing_docs)]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use blindfold_testdata::standin::{ResponseBody, StandIn};
use common::*;
use serde_json::json;

struct Enclave {
    dir: tempfile::TempDir,
    addr: String,
    child: Child,
}

impl Drop for Enclave {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = run(blindfold()
            .args(["platform", "stop"])
            .arg(self.dir.path().join("platform")));
    }
}

/// A local enclave forwarding to `upstream`, with its signed reference.
fn enclave(upstream: std::net::SocketAddr, evidence_per_second: u32) -> Enclave {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let platform = d.join("platform");
    assert!(run(blindfold().args(["platform", "init"]).arg(&platform))
        .status
        .success());
    let start = run(blindfold().args(["platform", "start"]).arg(&platform));
    assert!(start.status.success(), "{}", text(&start.stderr));
    let tcti = text(&start.stdout).trim().to_string();
    assert!(run(blindfold().arg("keygen").arg("-o").arg(d.join("publisher")))
        .status
        .success());
    std::fs::create_dir(d.join("app")).unwrap();
    std::fs::write(d.join("app/runtime.json"), "{}").unwrap();
    let b = run(blindfold()
        .args(["disk", "build"])
        .arg(d.join("app"))
        .arg("-o")
        .arg(d.join("app.img")));
    assert!(b.status.success(), "{}", text(&b.stderr));
    let engine = blindfold_engine::EngineConfig::Upstream(blindfold_engine::UpstreamConfig {
        address: upstream,
        upstream_model: "standin".into(),
        model_id: "standin".into(),
        context_length: 4096,
        command: None,
        weights: None,
    });
    common::write_enclave_config(d, &tcti, Some(engine), |c| {
        c.evidence_per_second = evidence_per_second;
    });
    let m = run(blindfold()
        .args(["measure", "--app-disk"])
        .arg(d.join("app.img.json"))
        .arg("--enclave-config")
        .arg(d.join("enclave.json"))
        .arg("--sign")
        .arg(d.join("publisher.key"))
        .arg("-o")
        .arg(d.join("ref.json")));
    assert!(m.status.success(), "{}", text(&m.stderr));
    let mut child =
        Command::new(Path::new(env!("CARGO_BIN_EXE_blindfold")).with_file_name("blindfold-enclave"))
            .arg("--config")
            .arg(d.join("enclave.json"))
            .arg("--launch")
            .arg(d.join("launch.json"))
            .env("RUST_LOG", "warn")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("enclave exited").unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    Enclave { dir, addr, child }
}

struct Proxy(Child, String, std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Proxy {
    /// How many sessions the proxy has attested so far, once it has logged
    /// at least `expected` (or after 2 s).
    fn attested(&self, expected: usize) -> usize {
        let count = || {
            let lines = self.2.lock().unwrap();
            lines
                .iter()
                .filter(|l| l.contains("blindfold proxy: verified"))
                .count()
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        while count() < expected && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(50));
        count()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn proxy(e: &Enclave) -> Proxy {
    let d = e.dir.path();
    let mut child = blindfold()
        .args(["proxy", &format!("https://{}", e.addr), "--listen", "127.0.0.1:0"])
        .arg("--reference")
        .arg(d.join("ref.json"))
        .arg("--publisher-key")
        .arg(d.join("publisher.pub"))
        .arg("--platform-ca")
        .arg(d.join("platform/ca.pem"))
        .args(["--allow-dev", "--allow-dev-reference"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let base = loop {
        let line = lines.next().expect("proxy exited").unwrap();
        let listening = line
            .split("listening on http://")
            .nth(1)
            .map(|rest| rest.split_whitespace().next().unwrap().to_string());
        log.lock().unwrap().push(line);
        if let Some(base) = listening {
            break base;
        }
    };
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    Proxy(child, base, log)
}

/// Sends one streamed chat request for `tokens` tokens to `addr`.
fn send_stream(addr: &str, tokens: u32) -> (TcpStream, Instant) {
    let body = json!({"model": "standin", "stream": true, "max_tokens": tokens,
                      "messages": [{"role": "user", "content": "hi"}]})
    .to_string();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_nodelay(true).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let started = Instant::now();
    write!(
        tcp,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    (tcp, started)
}

/// One streamed chat request to `host:port`: (time to the first token,
/// tokens, whether it ended with `[DONE]`).
fn stream(addr: &str, tokens: u32) -> (Duration, u32, bool) {
    let (tcp, started) = send_stream(addr, tokens);
    let (_, body) = ResponseBody::new(BufReader::new(tcp)).unwrap();
    let mut reader = BufReader::new(body);
    let (mut first, mut count, mut done) = (None, 0, false);
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap_or(0) > 0 {
        if line.contains("\"content\":\"t") {
            first.get_or_insert_with(|| started.elapsed());
            count += 1;
        }
        done |= line.starts_with("data: [DONE]");
        line.clear();
    }
    let _ = reader.read_to_end(&mut Vec::new());
    (first.unwrap_or(Duration::MAX), count, done)
}

/// A loopback relay to `to` that counts the bytes coming back from it.
fn counting_relay(to: std::net::SocketAddr) -> (std::net::SocketAddr, Arc<AtomicU64>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicU64::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            let server = TcpStream::connect(to).unwrap();
            let (mut up_in, mut up_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut up_in, &mut up_out);
                let _ = up_out.shutdown(std::net::Shutdown::Write);
            });
            let counted = counted.clone();
            let (mut down_in, mut down_out) = (server, client);
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n @ 1..) = down_in.read(&mut buf) {
                    counted.fetch_add(n as u64, Ordering::SeqCst);
                    if down_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = down_out.shutdown(std::net::Shutdown::Both);
                let _ = down_in.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    (addr, count)
}

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn the_first_token_through_the_proxy_is_not_held_back() {
    let standin = StandIn {
        token_interval: Duration::from_millis(2),
    }
    .spawn();
    let e = enclave(standin, 100);
    let p = proxy(&e);
    let direct_addr = standin.to_string();
    // Warm up: the proxy's first session, the enclave's upstream path.
    for _ in 0..3 {
        assert_eq!(stream(&p.1, 4).1, 4);
    }
    let (mut direct, mut proxied) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        direct.push(stream(&direct_addr, 4).0);
        let (ttft, n, done) = stream(&p.1, 4);
        assert!(n == 4 && done, "{n} tokens, done {done}");
        proxied.push(ttft);
    }
    let (direct, proxied) = (p50(direct), p50(proxied));
    eprintln!("TTFT p50: direct {direct:?}, through proxy and enclave {proxied:?}");
    assert!(
        proxied < direct + Duration::from_millis(8),
        "the confidential path adds {:?} to the first token (direct {direct:?})",
        proxied.saturating_sub(direct)
    );
}

#[test]
fn a_cold_burst_of_new_clients_through_one_proxy_all_get_answers() {
    const CLIENTS: usize = 32;
    let standin = StandIn {
        token_interval: Duration::from_millis(1),
    }
    .spawn();
    // Few evidence requests per second: the burst needs more sessions than
    // the enclave attests in one second, so 429s must be waited out.
    let e = enclave(standin, 8);
    let p = proxy(&e);
    let base = p.1.clone();
    let results: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let base = base.clone();
            std::thread::spawn(move || stream(&base, 64))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let failed: Vec<_> = results.iter().filter(|(_, n, done)| *n != 64 || !done).collect();
    assert!(
        failed.is_empty(),
        "{} of {CLIENTS} failed: {failed:?}",
        failed.len()
    );
}

#[test]
fn a_session_read_to_its_end_is_kept_and_one_whose_reader_went_away_is_closed() {
    let standin = StandIn {
        token_interval: Duration::from_millis(1),
    }
    .spawn();
    let (upstream, relay) = counting_relay(standin);
    let e = enclave(upstream, 100);
    let p = proxy(&e);
    // The proxy reads each answer to its end: one session for them all.
    for round in 0..5 {
        let (_, n, done) = stream(&p.1, 16);
        assert!(n == 16 && done, "round {round}: {n} tokens, done {done}");
    }
    assert_eq!(p.attested(1), 1, "sessions attested for 5 requests in a row");

    // A client that goes away mid-answer: the proxy closes that session
    // (the enclave stops generating), and the next request attests anew.
    let (tcp, _) = send_stream(&p.1, 3_000);
    let mut reader = BufReader::new(tcp);
    let mut line = String::new();
    while !line.contains("\"content\":\"t3 ") {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the stream ended early");
    }
    drop(reader);
    std::thread::sleep(Duration::from_millis(500));
    let (_, n, done) = stream(&p.1, 16);
    assert!(
        n == 16 && done,
        "after the abandoned answer: {n} tokens, done {done}"
    );
    assert_eq!(p.attested(2), 2, "the abandoned answer's session was reused");
    // And the enclave stopped generating: nothing more came from upstream.
    let streamed = relay.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        relay.load(Ordering::SeqCst),
        streamed,
        "the abandoned generation went on upstream"
    );

    // The SDK's streams stop at [DONE] and read the end right behind it:
    // the session is back for the next request.
    let d = e.dir.path();
    let files = blindfold_client::TrustFiles {
        reference: d.join("ref.json"),
        publisher_key: Some(d.join("publisher.pub")),
        platform_ca: Some(d.join("platform/ca.pem")),
        ak_intermediates: None,
        accept: blindfold_attest::AcceptPolicy::development(),
        state_dir: Some(d.join("client-state")),
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let trust = blindfold_client::Trust::from_files(&files).unwrap();
        let later = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = later.clone();
        let client = blindfold_client::Client::connect(&format!("https://{}", e.addr), trust)
            .await
            .unwrap()
            .with_attestation_observer(std::sync::Arc::new(move |_| {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }));
        for round in 0..4 {
            let request = json!({"model": "standin", "max_tokens": 8,
                                 "messages": [{"role": "user", "content": "hi"}]});
            let mut chunks = client.stream("/v1/chat/completions", &request).await.unwrap();
            let mut n = 0;
            while let Some(chunk) = chunks.next().await {
                n += !blindfold_client::chunk_text(&chunk.unwrap()).is_empty() as u32;
            }
            assert_eq!(n, 8, "round {round}");
        }
        let later = later.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            later, 0,
            "sessions attested after the first, for 4 streams in a row"
        );
    });
}
