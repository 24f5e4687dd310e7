//! New attested sessions per second on one enclave, the TPM made to quote
//! at most 20 times a second (a cloud vTPM's pace) by a delaying relay in
//! front of swtpm: per-session quotes against epoch evidence, and both
//! against plain TLS 1.3 handshakes to the same enclave (the reference:
//! what a session costs with no attestation at all). 32 clients at once,
//! each opening sessions back to back for a few seconds, on the same two
//! cores as the enclave. Prints the rates and their ratios.
//! Run with `cargo bench -p blindfold-runtime --bench session_rate`.
#![allow(missing_docs, clippy::unwrap_used)]
#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use blindfold_atls::{connect, ClientPolicy, FreshnessMode};
use common::attacker::fetch_upstream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What one TPM2_Quote takes here: 20 quotes a second.
const QUOTE_TIME: Duration = Duration::from_millis(50);
const TPM_CC_QUOTE: u32 = 0x0000_0158;
const CLIENTS: usize = 32;
const SECONDS: u64 = 5;

/// Relays swtpm's command port, holding each TPM2_Quote for
/// [`QUOTE_TIME`] first (the TPM answers one command at a time, so quotes
/// queue behind each other), and its control port as is. Returns the
/// relay's command port (the control port is the next one).
async fn slow_tpm(swtpm_port: u16) -> u16 {
    let (command, control) = loop {
        let a = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = a.local_addr().unwrap().port();
        if let Ok(b) = TcpListener::bind(("127.0.0.1", port + 1)).await {
            break (a, b);
        }
    };
    let port = command.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (mut client, _) = control.accept().await.unwrap();
            tokio::spawn(async move {
                let mut up = TcpStream::connect(("127.0.0.1", swtpm_port + 1)).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
            });
        }
    });
    tokio::spawn(async move {
        loop {
            let (client, _) = command.accept().await.unwrap();
            tokio::spawn(async move {
                let up = TcpStream::connect(("127.0.0.1", swtpm_port)).await.unwrap();
                let _ = relay_commands(client, up).await;
            });
        }
    });
    port
}

/// One TPM command at a time: header (tag, size, code), body; the answer
/// the same way back.
async fn relay_commands(mut client: TcpStream, mut up: TcpStream) -> std::io::Result<()> {
    loop {
        let command = read_message(&mut client).await?;
        if u32::from_be_bytes(command[6..10].try_into().unwrap()) == TPM_CC_QUOTE {
            tokio::time::sleep(QUOTE_TIME).await;
        }
        up.write_all(&command).await?;
        let answer = read_message(&mut up).await?;
        client.write_all(&answer).await?;
    }
}

async fn read_message(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut header = [0u8; 10];
    s.read_exact(&mut header).await?;
    let size = u32::from_be_bytes(header[2..6].try_into().unwrap()) as usize;
    let mut message = header.to_vec();
    message.resize(size.max(10), 0);
    s.read_exact(&mut message[10..]).await?;
    Ok(message)
}

/// Sessions per second: `CLIENTS` tasks opening sessions for `SECONDS`.
async fn rate<F, Fut>(open: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let open = Arc::new(open);
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs(SECONDS);
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (open, done, failed) = (open.clone(), done.clone(), failed.clone());
            tokio::spawn(async move {
                while Instant::now() < end {
                    if open().await {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "sessions failed");
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes filters and `--bench`: this bench has one run.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let setup = common::local_setup(d, 1_000_000, blindfold_attester::AkAlgorithm::EccP256);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let swtpm_port: u16 = setup
        .swtpm
        .tcti()
        .rsplit("port=")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let relay_port = rt.block_on(slow_tpm(swtpm_port));
    let launch = blindfold_enclave_config::LaunchConfig {
        tcti: format!("swtpm:host=127.0.0.1,port={relay_port}"),
        listen: "127.0.0.1:0".into(),
    };
    std::fs::write(d.join("launch.json"), launch.to_bytes().unwrap()).unwrap();
    let enclave = common::start_enclave(&d.join("enclave.json"), &[]);
    let addr = Arc::new(enclave.addr.clone());
    let per_session = common::dev_policy(&setup, FreshnessMode::PerSessionQuote);
    let epoch = Arc::new(ClientPolicy {
        freshness: FreshnessMode::epoch(None),
        ..per_session.clone()
    });
    let per_session = Arc::new(per_session);

    let plain = {
        let addr = addr.clone();
        rt.block_on(rate(move || {
            let addr = addr.clone();
            async move {
                fetch_upstream(&addr, "/.well-known/blindfold/environment").await;
                true
            }
        }))
    };
    let quoted = {
        let (addr, policy) = (addr.clone(), per_session.clone());
        rt.block_on(rate(move || {
            let (addr, policy) = (addr.clone(), policy.clone());
            async move { connect(&addr, &policy).await.is_ok() }
        }))
    };
    let epoch_rate = {
        let (addr, policy) = (addr.clone(), epoch.clone());
        rt.block_on(rate(move || {
            let (addr, policy) = (addr.clone(), policy.clone());
            async move { connect(&addr, &policy).await.is_ok() }
        }))
    };
    println!(
        "new sessions per second, {CLIENTS} clients, {SECONDS} s each, TPM quote held {} ms:",
        QUOTE_TIME.as_millis()
    );
    println!("  plain TLS 1.3 + one request (reference): {plain:>8.0}/s");
    println!(
        "  attested, a quote per session:           {quoted:>8.0}/s  ({:.3}x plain)",
        quoted / plain
    );
    println!("  attested, epoch evidence:                {epoch_rate:>8.0}/s  ({:.3}x plain, {:.1}x per-session quotes)", epoch_rate / plain, epoch_rate / quoted);
    drop(enclave);
    drop(setup);
}
