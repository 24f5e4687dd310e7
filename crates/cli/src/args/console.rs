//! `blindfold console`'s flags.

use std::path::PathBuf;

use clap::Args;

use super::TrustArgs;

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// Where to listen: loopback only unless --listen-public.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: std::net::SocketAddr,
    /// Allow a non-loopback --listen address; requires --tls-cert and
    /// --tls-key (the owner's token and prompts never cross a network in
    /// clear).
    #[arg(long, requires_all = ["tls_cert", "tls_key"])]
    pub listen_public: bool,
    /// A host name users reach the console by (its certificate's name),
    /// besides the listening address: other `Host` headers are refused.
    /// Repeatable.
    #[arg(long = "host-name", value_name = "NAME")]
    pub host_names: Vec<String>,
    /// The console's TLS certificate chain (PEM), with --listen-public.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The console's TLS private key (PKCS#8 PEM), with --listen-public.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// The enclave the consumer pages start with (https://HOST:PORT).
    #[arg(long, value_name = "URL")]
    pub enclave: Option<String>,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub owner: ConsoleOwnerArgs,
}

/// The model owner's side: without --store the owner's pages are off.
#[derive(Debug, Args)]
pub struct ConsoleOwnerArgs {
    /// The owner's model store (file:///DIR or s3://BUCKET/PREFIX): turns
    /// the owner's pages on.
    #[arg(long, value_name = "URL", requires_all = ["kek_file", "owner_key", "owner_token_sha256_file"])]
    pub store: Option<String>,
    /// Where wrapped keys and policies are kept, if not in the model store.
    #[arg(long, value_name = "URL", requires = "store")]
    pub key_store: Option<String>,
    /// The key-encryption key (`blindfold kbs kek`).
    #[arg(long, value_name = "FILE", requires = "store")]
    pub kek_file: Option<PathBuf>,
    /// The owner's policy-signing key (`blindfold keygen`).
    #[arg(long, value_name = "FILE", requires = "store")]
    pub owner_key: Option<PathBuf>,
    /// The SHA-256 of the owner's token (`blindfold kbs token` writes it):
    /// the owner's pages ask for the token itself.
    #[arg(long, value_name = "FILE", requires = "store")]
    pub owner_token_sha256_file: Option<PathBuf>,
    /// The broker's state directory on this machine, for its audit log.
    #[arg(long, value_name = "DIR", requires = "store")]
    pub kbs_state_dir: Option<PathBuf>,
}
