//! `blindfold proxy` in front of several upstreams: the enclave directly,
//! the same enclave through a TCP relay (an L4 passthrough, as an
//! operator's balancer would be: TLS passes through untouched, so the
//! session is still attested end to end) that the test cuts and restores,
//! and an address where nothing listens. Requests spread over the verified
//! upstreams; the dead one never gets one; the relay's is taken out when
//! it is cut (every request still answered, by the other) and comes back
//! once it attests again.

#![allow(clippy::unwrap_used, missing_docs)]
mod common;

use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::proxy_fixture::*;
use common::*;
use serde_json::Value;

/// A TCP relay from `port` to `target`, cut (listener closed, every
/// connection shut) on drop.
struct Relay {
    port: u16,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(port: u16, target: &str) -> Relay {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (flag, open, target) = (stop.clone(), connections.clone(), target.to_string());
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server.try_clone().unwrap(), client.try_clone().unwrap()),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Write);
                    });
                }
                open.lock().unwrap().extend([client, server]);
            }
        });
        Relay {
            port,
            stop,
            connections,
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for c in self.connections.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        // The accept loop notices within 20 ms and drops the listener.
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn status(base: &str) -> Vec<Value> {
    let (code, body) = http(base, "GET", "/blindfold/verification", &[], "");
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["upstreams"].as_array().unwrap().clone()
}

fn answered(base: &str) -> Vec<u64> {
    status(base)
        .iter()
        .map(|u| u["answered"].as_u64().unwrap())
        .collect()
}

fn chat(base: &str, n: usize) {
    for _ in 0..n {
        let (code, body) = http(base, "POST", "/v1/chat/completions", &[], &chat_body("Say hi."));
        assert_eq!(code, 200, "{body}");
    }
}

#[test]
fn requests_spread_over_verified_upstreams_and_move_off_one_that_goes() {
    let f = Fixture::start(&[]);
    let relay = Relay::start(0, &f.addr);
    let relay_port = relay.port;
    let dead = free_port();
    let upstreams = [
        format!("https://{}", f.addr),
        format!("https://127.0.0.1:{relay_port}"),
        format!("https://127.0.0.1:{dead}"),
    ];
    let p = proxy_to(&upstreams, &f.trust("good.ref.json", "publisher.pub"), &[]);

    chat(&p.base, 6);
    let s = status(&p.base);
    assert_eq!(s.len(), 3);
    assert!(
        s[0]["verified"].as_bool().unwrap() && s[1]["verified"].as_bool().unwrap(),
        "{s:?}"
    );
    assert!(!s[2]["verified"].as_bool().unwrap(), "{s:?}");
    assert!(s[2]["report"]["reason"].is_string(), "{s:?}");
    let counts = answered(&p.base);
    assert!(
        counts[0] >= 2 && counts[1] >= 2,
        "both verified upstreams answer: {counts:?}"
    );
    assert_eq!(counts[2], 0, "nothing goes to an unverified upstream");

    // The relay goes: every request is still answered, by the enclave
    // directly, and the relay's upstream is out.
    drop(relay);
    chat(&p.base, 4);
    let s = status(&p.base);
    assert!(!s[1]["verified"].as_bool().unwrap(), "{s:?}");
    let after_cut = answered(&p.base);
    assert_eq!(after_cut[2], 0);
    assert!(after_cut[0] >= counts[0] + 4, "{counts:?} -> {after_cut:?}");

    // It comes back on the same port: attested again, in service again.
    let _relay = Relay::start(relay_port, &f.addr);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !status(&p.base)[1]["verified"].as_bool().unwrap() {
        assert!(Instant::now() < deadline, "the relay's upstream never came back");
        std::thread::sleep(Duration::from_millis(500));
    }
    chat(&p.base, 4);
    let back = answered(&p.base);
    assert!(back[1] > after_cut[1], "{after_cut:?} -> {back:?}");
    assert_eq!(back[2], 0);
    let log = p.stderr.lock().unwrap().clone();
    assert!(log.contains("taken out"), "{log}");
    assert!(log.contains(&format!("127.0.0.1:{dead} NOT verified")), "{log}");
}

/// HAProxy in TCP mode, configured by `deploy/balancer/haproxy-config.sh`
/// in front of two paths to the enclave: `blindfold verify` and the proxy
/// attest the enclave through it (TLS passes through; the balancer sees
/// ciphertext only).
#[test]
fn through_an_operators_l4_balancer_each_client_attests_the_enclave_behind_it() {
    require_tool("haproxy");
    let f = Fixture::start(&[]);
    let relay = Relay::start(0, &f.addr);
    let port = free_port();
    let o = run(
        std::process::Command::new(repo_root().join("deploy/balancer/haproxy-config.sh"))
            .args(["--listen", &format!("127.0.0.1:{port}"), &f.addr])
            .arg(format!("127.0.0.1:{}", relay.port)),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let config = f.path("haproxy.cfg");
    std::fs::write(&config, &o.stdout).unwrap();
    let _haproxy = KilledOnDrop(
        std::process::Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "haproxy did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = format!("https://127.0.0.1:{port}");
    let trust = f.trust("good.ref.json", "publisher.pub");
    let o = run(blindfold().args(["verify", &url, "--json"]).args(&trust));
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["verified"], true, "{report}");
    let p = proxy_to(&[url], &trust, &[]);
    chat(&p.base, 3);
}

/// A child process stopped when the test ends, passed or not.
struct KilledOnDrop(std::process::Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
