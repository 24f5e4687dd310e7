//! A local enclave serving the packaged model, with signed references for
//! it and for another configuration, and `blindfold proxy` in front of it:
//! shared by the proxy tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::*;

/// A local enclave with the packaged model, signed measurements for it,
/// and signed measurements for another configuration (the "tampered" one).
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub addr: String,
    pub enclave: Child,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Fixture {
    pub fn start(env: &[(&str, &Path)]) -> Fixture {
        Fixture::start_with_idle_timeout(env, blindfold_enclave_config::DEFAULT_IDLE_TIMEOUT_S)
    }

    /// An enclave that closes a session idle for `idle_timeout_s`.
    pub fn start_with_idle_timeout(env: &[(&str, &Path)], idle_timeout_s: u64) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let platform = d.join("platform");
        assert!(run(blindfold().args(["platform", "init"]).arg(&platform))
            .status
            .success());
        let start = run(blindfold().args(["platform", "start"]).arg(&platform));
        assert!(start.status.success(), "{}", text(&start.stderr));
        let tcti = text(&start.stdout).trim().to_string();
        for key in ["publisher", "other"] {
            assert!(run(blindfold().arg("keygen").arg("-o").arg(d.join(key)))
                .status
                .success());
        }
        std::fs::create_dir(d.join("app")).unwrap();
        std::fs::write(d.join("app/runtime.json"), "{}").unwrap();
        let b = run(blindfold()
            .args(["disk", "build"])
            .arg(d.join("app"))
            .arg("-o")
            .arg(d.join("app.img")));
        assert!(b.status.success(), "{}", text(&b.stderr));
        let config = |model_id: &str| {
            let engine = super::embedded(blindfold_testdata::packaged_model(), model_id);
            let path =
                super::write_enclave_config(d, &tcti, Some(engine), |c| c.idle_timeout_s = idle_timeout_s);
            std::fs::read(path).unwrap()
        };
        for (name, model_id, key) in [
            ("good", "smollm2", "publisher"),
            ("wrong", "not-this-model", "publisher"),
            ("other-key", "smollm2", "other"),
        ] {
            std::fs::write(d.join(format!("{name}.json")), config(model_id)).unwrap();
            let m = run(blindfold()
                .args(["measure", "--app-disk"])
                .arg(d.join("app.img.json"))
                .arg("--enclave-config")
                .arg(d.join(format!("{name}.json")))
                .arg("--sign")
                .arg(d.join(format!("{key}.key")))
                .arg("-o")
                .arg(d.join(format!("{name}.ref.json"))));
            assert!(m.status.success(), "{}", text(&m.stderr));
        }
        let mut cmd =
            Command::new(Path::new(env!("CARGO_BIN_EXE_blindfold")).with_file_name("blindfold-enclave"));
        cmd.arg("--config")
            .arg(d.join("good.json"))
            .arg("--launch")
            .arg(d.join("launch.json"))
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut enclave = cmd.spawn().unwrap();
        let lines = BufReader::new(enclave.stderr.take().unwrap()).lines();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap().to_string());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("enclave did not start");
        Fixture {
            dir,
            addr,
            enclave,
            log,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Trust flags for a reference file.
    pub fn trust(&self, reference: &str, key: &str) -> Vec<String> {
        vec![
            "--reference".into(),
            self.path(reference).display().to_string(),
            "--publisher-key".into(),
            self.path(key).display().to_string(),
            "--platform-ca".into(),
            self.path("platform/ca.pem").display().to_string(),
            "--allow-dev".into(),
            "--allow-dev-reference".into(),
        ]
    }

    /// API requests the enclave has logged (routes only; never content).
    pub fn api_requests(&self) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("route=") && l.contains("/v1/"))
            .count()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.enclave.kill();
        let _ = self.enclave.wait();
        let _ = run(blindfold().args(["platform", "stop"]).arg(self.path("platform")));
    }
}

/// A running proxy, killed on drop.
pub struct Proxy {
    pub child: Child,
    pub base: String,
    pub stderr: Arc<Mutex<String>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn proxy(f: &Fixture, trust: &[String], env: &[(&str, &Path)]) -> Proxy {
    proxy_to(&[format!("https://{}", f.addr)], trust, env)
}

/// A proxy in front of `upstreams`.
pub fn proxy_to(upstreams: &[String], trust: &[String], env: &[(&str, &Path)]) -> Proxy {
    let mut cmd = blindfold();
    cmd.arg("proxy")
        .args(upstreams)
        .args(["--listen", "127.0.0.1:0"])
        .args(trust)
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let base = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("proxy exited: {seen}"))
            .unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let stderr = Arc::new(Mutex::new(seen));
    let sink = stderr.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    Proxy { child, base, stderr }
}

/// A raw HTTP/1.1 request to the proxy: (status, body).
pub fn http(base: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n", body.len());
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("host: {addr}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    s.write_all(format!("{head}\r\n{body}").as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

pub fn chat_body(prompt: &str) -> String {
    json!({"model": "smollm2", "max_tokens": 12, "temperature": 0, "messages": [{"role": "user", "content": prompt}]}).to_string()
}
