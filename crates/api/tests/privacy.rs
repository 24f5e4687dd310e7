//! Prompts and answers never reach logs or disk. The server runs as its
//! own process with fresh HOME, TMPDIR and working directory and logging
//! at `trace`; a unique canary goes in prompts (and comes back in
//! answers); afterwards the canary is in no log line and in no file
//! created or modified during the test under those directories or /tmp.
//! In upstream mode the canary also passes through a real llama-server
//! started by the server, whose own output must not reach our logs.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use serde_json::json;

fn serve_binary() -> PathBuf {
    // cargo test builds examples next to the test binaries' directory.
    let exe = std::env::current_exe().unwrap();
    let p = exe.parent().unwrap().parent().unwrap().join("examples/serve");
    assert!(
        p.exists(),
        "{} is missing (cargo test builds examples)",
        p.display()
    );
    p
}

fn run_canary(engine: blindfold_engine::EngineConfig, canary: &str) {
    let root = tempfile::tempdir().unwrap();
    let (home, tmp, work) = (
        root.path().join("home"),
        root.path().join("tmp"),
        root.path().join("work"),
    );
    for d in [&home, &tmp, &work] {
        std::fs::create_dir(d).unwrap();
    }
    let config = json!({"listen": "127.0.0.1:0", "engine": engine});
    std::fs::write(work.join("serve.json"), config.to_string()).unwrap();
    let since = SystemTime::now() - Duration::from_secs(1);
    let mut child = Command::new(serve_binary())
        .arg("serve.json")
        .current_dir(&work)
        .env("HOME", &home)
        .env("TMPDIR", &tmp)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr = child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr: std::net::SocketAddr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("server did not start: {line:?}"))
        .parse()
        .unwrap();
    let model = "canary-model";
    let repeat = format!("{canary}, {canary}, {canary}, {canary},");
    let chat = json!({"model": model, "temperature": 0, "max_tokens": 24,
                      "messages": [{"role": "user", "content": format!("Repeat: {repeat}")}]});
    let (status, answer) = common::post_json(addr, "/v1/chat/completions", &[], &chat);
    assert_eq!(status, 200, "{answer}");
    let mut streamed = chat.clone();
    streamed["stream"] = json!(true);
    let (status, _) = common::raw(
        addr,
        "POST",
        "/v1/chat/completions",
        &[("content-type", "application/json")],
        streamed.to_string().as_bytes(),
    );
    assert_eq!(status, 200);
    let completion = json!({"model": model, "prompt": repeat, "temperature": 0, "max_tokens": 24});
    let (status, answer) = common::post_json(addr, "/v1/completions", &[], &completion);
    assert_eq!(status, 200, "{answer}");
    let echoed = answer["choices"][0]["text"].as_str().unwrap().contains(canary);
    // Errors about requests that carry the canary.
    let bad = json!({"model": model, "messages": canary, "max_tokens": 4});
    assert_eq!(common::post_json(addr, "/v1/chat/completions", &[], &bad).0, 400);
    let bad = json!({"model": canary, "messages": [{"role": "user", "content": canary}]});
    let (status, answer) = common::post_json(addr, "/v1/chat/completions", &[], &bad);
    assert_eq!(status, 404, "{answer}");
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    let _ = child.wait();
    let logs = String::from_utf8_lossy(&logs.join().unwrap()).to_string();
    assert!(
        logs.contains("request_id"),
        "the server logged nothing: the test would prove nothing"
    );
    assert!(!logs.contains(canary), "the canary is in the logs:\n{logs}");
    assert!(
        echoed,
        "the model did not repeat the canary, so answers were not checked"
    );
    let mut touched = Vec::new();
    for dir in [&home, &tmp, &work, &PathBuf::from("/tmp")] {
        touched.extend(blindfold_testdata::files_touched_since(dir, since));
    }
    if let Some(f) = blindfold_testdata::file_containing(&touched, canary) {
        panic!("the canary is on disk in {}", f.display());
    }
}

fn canary() -> String {
    let mut r = [0u8; 6];
    getrandom::getrandom(&mut r).unwrap();
    format!("Zq{}", hex::encode(r))
}

#[test]
fn the_canary_stays_out_of_logs_and_disk_with_the_embedded_engine() {
    let engine = blindfold_engine::EngineConfig::Embedded(blindfold_engine::EmbeddedConfig {
        gguf: Some(common::packaged_model()),
        model_id: "canary-model".into(),
        max_batch: None,
        queue_capacity: None,
        default_max_tokens: None,
    });
    run_canary(engine, &canary());
}

#[test]
fn the_canary_stays_out_of_logs_and_disk_through_an_upstream_llama_server() {
    let Some((mut argv, port)) = blindfold_testdata::llama_server_command() else {
        eprintln!("llama-server is not built here (BLINDFOLD_NO_REFERENCE); upstream mode not checked");
        return;
    };
    // Its own logs at their most talkative: they must still reach nothing.
    argv.push("--verbose".into());
    let engine = blindfold_engine::EngineConfig::Upstream(blindfold_engine::UpstreamConfig {
        address: format!("127.0.0.1:{port}").parse().unwrap(),
        upstream_model: "smollm2".into(),
        model_id: "canary-model".into(),
        context_length: 2048,
        command: Some(argv),
        weights: None,
    });
    run_canary(engine, &canary());
    // The server was killed with SIGKILL, so the llama-server it started
    // is still running: stop it here.
    stop_processes_with_args(&["--port".to_string(), port.to_string()]);
}

/// Kills every process of ours whose command line holds `args` in a row.
fn stop_processes_with_args(args: &[String]) {
    let needle: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain([0])).collect();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline.windows(needle.len()).any(|w| w == needle.as_slice()) {
            let _ = Command::new("sh")
                .arg("-c")
                .arg(format!("kill -9 {pid}"))
                .status();
        }
    }
}
