//! Flags of the model owner's commands: `model` and `kbs`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Seal a model file into a store under a new data key: chunked
    /// AES-256-GCM, streamed (memory stays flat), the manifest written
    /// last; the data key goes to the key broker's store wrapped under the
    /// key-encryption key, and never to a disk in the clear.
    Seal(ModelSealArgs),
    /// List the sealed models in a store.
    List(StoreArgs),
    /// Print a sealed model's manifest (name, key id, sizes, chunks, the
    /// plaintext's SHA-256).
    Show(ModelNameArgs),
    /// Delete a sealed model from a store (its manifest first).
    Delete(ModelNameArgs),
    /// Re-seal a model under a new data key as it streams (the old key
    /// unwrapped with the KEK, the new one wrapped); the old data and key
    /// are deleted, and the model's policy must then be set again for the
    /// new key id.
    RotateKey(ModelRotateArgs),
    /// The owner's key-release policy: which build may get the model's key.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// For owners on AWS: print a KMS key policy under which only an
    /// instance booted from the measured image decrypts (KMS checks the
    /// NitroTPM attestation document's PCR 4 and 12 itself), no Decrypt
    /// without an attestation, and the instance role can neither
    /// re-encrypt, grant nor change the policy.
    KmsPolicy(KmsPolicyArgs),
}

#[derive(Debug, Args)]
pub struct KmsPolicyArgs {
    /// The build's NitroTPM pcr_measurements.json (`measure --format nitro`).
    #[arg(long, value_name = "FILE")]
    pub measurements: PathBuf,
    /// The instance role the enclave's instance runs as
    /// (arn:aws:iam::ACCOUNT:role/NAME; the operator's account).
    #[arg(long, value_name = "ARN")]
    pub role: String,
    /// The owner's AWS account (12 digits): it administers the key.
    #[arg(long, value_name = "ACCOUNT")]
    pub owner_account: String,
    /// Condition on PCR 7 too: only when the measurements' PCR 7 comes from
    /// the image's UEFI data or a captured reference boot.
    #[arg(long)]
    pub with_pcr7: bool,
}

#[derive(Debug, Args)]
pub struct ModelRotateArgs {
    /// The model's name.
    pub name: String,
    #[command(flatten)]
    pub store: StoreArgs,
    /// The key broker's store (default: the model's store).
    #[arg(long, value_name = "URL")]
    pub key_store: Option<String>,
    #[command(flatten)]
    pub kek: KekArgs,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Sign a new policy for the model's current key: the publisher's
    /// signed reference bundle (from `measure --sign`), a version one above
    /// the stored policy's, and an expiry; written to the key broker's store.
    Set(PolicySetArgs),
    /// Verify the stored policy under the owner's public key and print it.
    Show(PolicyShowArgs),
}

#[derive(Debug, Args)]
pub struct PolicySetArgs {
    /// The model's name.
    pub name: String,
    /// The publisher's signed reference bundle: what an enclave must measure.
    #[arg(long, value_name = "BUNDLE")]
    pub reference: PathBuf,
    /// The publisher key the bundle verifies under (checked now, and by
    /// the broker at each release).
    #[arg(long, value_name = "FILE")]
    pub publisher_key: PathBuf,
    /// The owner's signing key (`keygen` makes one; PEM PKCS#8).
    #[arg(long, value_name = "FILE")]
    pub owner_key: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
    /// The key broker's store (default: the model's store).
    #[arg(long, value_name = "URL")]
    pub key_store: Option<String>,
    /// How long the policy releases keys (e.g. 90d, 12h).
    #[arg(long, value_name = "DURATION", default_value = "90d")]
    pub expires_in: humantime::Duration,
    /// Release to the development platform (local swtpm, process mode) as
    /// well: for demos and tests only.
    #[arg(long)]
    pub allow_development: bool,
}

#[derive(Debug, Args)]
pub struct PolicyShowArgs {
    /// The model's name.
    pub name: String,
    /// The owner's public key the policy must verify under.
    #[arg(long, value_name = "FILE")]
    pub owner_public_key: PathBuf,
    /// The key broker's store.
    #[arg(long, value_name = "URL")]
    pub key_store: String,
}

#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The store: file://DIR, or s3://BUCKET/PREFIX (endpoint, region and
    /// credentials from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY; AWS_ALLOW_HTTP=true for a plain-HTTP server).
    #[arg(long, value_name = "URL")]
    pub store: String,
}

#[derive(Debug, Args)]
pub struct ModelNameArgs {
    /// The model's name.
    pub name: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct KekArgs {
    /// The owner's key-encryption key (64 hex digits; `kbs kek` makes
    /// one). Without it, the BLINDFOLD_KEK environment variable.
    #[arg(long, value_name = "FILE")]
    pub kek_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ModelSealArgs {
    /// The model file (GGUF or safetensors; any bytes).
    pub file: PathBuf,
    /// The model's name: 1 to 64 of a-z, 0-9, '.', '_' and '-'.
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub store: StoreArgs,
    /// The key broker's store, where the wrapped data key goes (the
    /// owner's own; default: the model's store).
    #[arg(long, value_name = "URL")]
    pub key_store: Option<String>,
    #[command(flatten)]
    pub kek: KekArgs,
    /// Plaintext bytes per chunk.
    #[arg(long, value_name = "BYTES", default_value_t = blindfold_sealed::DEFAULT_CHUNK_SIZE)]
    pub chunk_size: u64,
    /// Print the manifest as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum KbsCommand {
    /// Make a key-encryption key: 32 random bytes as hex in a new file
    /// (mode 0600, never printed). Keep it where the key broker runs.
    Kek(KbsKekArgs),
    /// Run the key broker (HTTPS, TLS 1.3): it releases a model's data key
    /// only to an enclave whose evidence matches the owner's policy for
    /// the model, sealed to a key made inside that enclave, and logs every
    /// decision. Run it in the model owner's trust domain.
    Serve(KbsServeArgs),
    /// Print the broker's audit log: every release and refusal, with why.
    Audit(KbsAuditArgs),
    /// Make the owner's bearer token for the broker's owner calls (reading
    /// the audit log, uploading a policy): the token goes to a new file
    /// (mode 0600, never printed), its SHA-256 — all a broker keeps — to
    /// FILE.sha256 (`kbs serve --owner-token-sha256-file`).
    Token(KbsKekArgs),
    /// Print the SHA-256 of a broker TLS key's public key (SPKI), the value
    /// an enclave configuration pins (`enclave-config --broker-spki-sha256`).
    Pin(KbsPinArgs),
}

#[derive(Debug, Args)]
pub struct KbsPinArgs {
    /// The broker's TLS key (the private key PEM `kbs serve` uses).
    #[arg(long, value_name = "FILE")]
    pub tls_key: PathBuf,
}

#[derive(Debug, Args)]
pub struct KbsServeArgs {
    /// The owner's store holding policies and wrapped keys (file:// or s3://). Brokers
    /// sharing one s3:// store replicate through it: it must honour conditional writes
    /// (If-None-Match, If-Match), which the broker checks before serving
    #[arg(long, value_name = "URL")]
    pub key_store: String,
    #[command(flatten)]
    pub kek: KekArgs,
    /// The owner's public key: every policy must be signed by it.
    #[arg(long, value_name = "FILE")]
    pub owner_public_key: PathBuf,
    /// The broker's TLS key (`keygen` makes one): enclaves pin its public key.
    #[arg(long, value_name = "FILE")]
    pub tls_key: PathBuf,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8444")]
    pub listen: std::net::SocketAddr,
    /// The broker's own state: the policy versions it has seen (so a store
    /// rolled back to an older policy is refused) and the audit log.
    #[arg(long, value_name = "DIR")]
    pub state_dir: PathBuf,
    /// (Danger, development) the local platform's CA, anchoring its AKs;
    /// used only for policies that allow the development platform.
    #[arg(long, value_name = "FILE")]
    pub platform_ca: Option<PathBuf>,
    /// The SHA-256 of the owner's bearer token (the FILE.sha256 `kbs token`
    /// writes): turns on the owner calls (GET /v1/owner/audit, POST
    /// /v1/owner/policies/NAME). Without it they answer 404.
    #[arg(long, value_name = "FILE")]
    pub owner_token_sha256_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct KbsAuditArgs {
    /// The broker's state directory.
    #[arg(long, value_name = "DIR")]
    pub state_dir: PathBuf,
    /// Print the records as JSON lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KbsKekArgs {
    /// The file to create (refused if it exists).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}
