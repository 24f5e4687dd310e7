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
}

#[derive(Debug, Args)]
pub struct KbsKekArgs {
    /// The file to create (refused if it exists).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}
