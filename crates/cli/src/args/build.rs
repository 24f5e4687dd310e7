//! Arguments of the build-time commands: `disk`, `pe`, `uki`, `measure`,
//! `verity`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum DiskCommand {
    /// Make DIR into an erofs image with its verity tree appended; prints the
    /// root hash and writes OUTPUT.json (salt, UUIDs, sizes, offsets) beside it.
    Build(DiskBuildArgs),
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build a measured enclave image from image.toml: a UKI (systemd-stub,
    /// the kernel, an initrd with blindfold-enclave as PID 1 and only the
    /// libraries and modules it needs, a command line carrying the app
    /// disk's dm-verity table), the app disk (erofs + dm-verity: the
    /// enclave configuration and the listed files), and one GPT disk
    /// holding both. Writes OUT/disk.img, uki.efi, app.img.json,
    /// enclave.json and image.json; the same inputs and SOURCE_DATE_EPOCH
    /// give the same bytes (docs/image.md).
    Build(ImageBuildArgs),
    /// Write a built image's disk in the form a cloud imports: azure, a
    /// fixed VHD (disk.vhd, a whole number of MiB plus the VHD footer);
    /// aws, the raw disk (disk.raw, for a snapshot and register-image
    /// --boot-mode uefi --tpm-support v2.0); gcp, disk.raw grown to whole
    /// GiB in a gzip'd GNU tar (disk.tar.gz). Growing moves the backup GPT
    /// header to the new end. Uploads nothing (docs/image.md).
    Export(ImageExportArgs),
}

#[derive(Debug, Args)]
pub struct ImageExportArgs {
    /// The directory `blindfold image build` wrote (holds disk.img).
    #[arg(value_name = "IMAGE_DIR")]
    pub image: PathBuf,
    /// The cloud whose import format to write.
    #[arg(long, value_enum)]
    pub target: CloudTarget,
    /// The output directory (created if needed).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// The firmware's event log of a reference boot of this image on the
    /// target cloud (`blindfold platform capture`): with it, DIR/
    /// measurements.json is written for that cloud (PCRs 0-3 and 7 from the
    /// log, the rest predicted from the image), as `blindfold measure
    /// --image IMAGE_DIR --firmware-log LOG` writes it.
    #[arg(long, value_name = "LOG")]
    pub firmware_log: Option<PathBuf>,
    /// Timestamp written into the VHD footer and the tar header (default:
    /// $SOURCE_DATE_EPOCH, else 0).
    #[arg(long, env = "SOURCE_DATE_EPOCH", default_value_t = 0)]
    pub source_date_epoch: u64,
}

/// A cloud's disk import format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CloudTarget {
    /// Fixed VHD.
    Azure,
    /// Raw disk.
    Aws,
    /// disk.raw in a gzip'd GNU tar.
    Gcp,
}

#[derive(Debug, Args)]
pub struct ImageBuildArgs {
    /// The image description (TOML: kernel, stub, enclave binary and
    /// configuration, app disk files; docs/image.md).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The output directory (created if needed).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Timestamp for every file in the initrd and app disk (default:
    /// $SOURCE_DATE_EPOCH, else 0).
    #[arg(long, env = "SOURCE_DATE_EPOCH", default_value_t = 0)]
    pub source_date_epoch: u64,
    /// Print image.json as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Sign the UKI for UEFI Secure Boot (Authenticode) with KEY, an RSA
    /// private key in PEM (2048 bits or more), and CERT, its X.509
    /// certificate in PEM. The certificate itself must be in the firmware's
    /// db (`measure` checks that the reference boot's db entry is a
    /// certificate this signature carries); image.json records its SHA-256
    /// (docs/deploy.md says how each cloud takes it).
    #[arg(long, value_name = "KEY,CERT", value_parser = parse_key_cert)]
    pub sign: Option<(PathBuf, PathBuf)>,
}

fn parse_key_cert(value: &str) -> Result<(PathBuf, PathBuf), String> {
    match value.split_once(',') {
        Some((key, cert)) if !key.is_empty() && !cert.is_empty() => Ok((key.into(), cert.into())),
        _ => Err("expected KEY,CERT: two PEM files, the private key first".into()),
    }
}

#[derive(Debug, Args)]
pub struct DiskBuildArgs {
    /// The directory to pack (runtime config, tokenizer, weights or references).
    pub dir: PathBuf,
    /// The image to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Timestamp for every file (default: $SOURCE_DATE_EPOCH, else 0).
    #[arg(long, env = "SOURCE_DATE_EPOCH", default_value_t = 0)]
    pub source_date_epoch: u64,
    /// Filesystem UUID.
    #[arg(long, default_value = blindfold_measure::app_disk::DEFAULT_FS_UUID)]
    pub uuid: String,
}

#[derive(Debug, Subcommand)]
pub enum PeCommand {
    /// Print the Authenticode digest of a PE image, as EDK2 measures it
    /// (trailing data after the last section hashed unpadded).
    Hash(PeHashArgs),
}

#[derive(Debug, Args)]
pub struct PeHashArgs {
    /// The PE image.
    pub file: PathBuf,
    /// Digest: sha256 (default) or sha384.
    #[arg(long, default_value = "sha256")]
    pub alg: String,
}

#[derive(Debug, Subcommand)]
pub enum UkiCommand {
    /// List a UKI's sections, its stub version, and the digests a boot measures.
    Inspect(UkiInspectArgs),
    /// Assemble a UKI from a systemd-stub, a kernel, an initrd and a command
    /// line, reproducibly (same inputs, same bytes).
    Build(UkiBuildArgs),
}

#[derive(Debug, Args)]
pub struct UkiBuildArgs {
    /// The systemd-stub (e.g. /usr/lib/systemd/boot/efi/linuxx64.efi.stub).
    #[arg(long)]
    pub stub: PathBuf,
    /// The kernel (vmlinuz, an EFI-stub PE image).
    #[arg(long)]
    pub linux: PathBuf,
    /// The initrd (build it with fixed mtimes for a reproducible UKI).
    #[arg(long)]
    pub initrd: PathBuf,
    /// The kernel command line (the app disk's root hash goes here).
    #[arg(long)]
    pub cmdline: String,
    /// os-release text for .osrel.
    #[arg(long)]
    pub osrel: Option<PathBuf>,
    /// Kernel release for .uname.
    #[arg(long)]
    pub uname: Option<String>,
    /// Where to write the UKI.
    #[arg(short, long)]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct UkiInspectArgs {
    /// The UKI.
    pub file: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct MeasureArgs {
    /// An image built by `blindfold image build`: stands for --uki
    /// DIR/uki.efi --app-disk DIR/app.img.json --enclave-config
    /// DIR/enclave.json, and the app disk's files are hashed as
    /// DIR/image.json records them.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["uki", "app_disk", "enclave_config"])]
    pub image: Option<PathBuf>,
    /// The UKI that will boot (predicts PCR 4, 9, 11, 12, 13). Without it
    /// (process mode: no measured boot) a development reference is written.
    #[arg(long)]
    pub uki: Option<PathBuf>,
    /// The app disk's manifest, `APP.IMG.json`, written by `blindfold disk
    /// build` (or the JSON of `blindfold verity format --json`); its root
    /// hash is the first runtime event in PCR 15.
    #[arg(long, value_name = "APP.IMG.JSON")]
    pub app_disk: Option<PathBuf>,
    /// A reference boot's firmware event log on the target platform
    /// (PCRs 0-3 and 7 are the firmware's).
    #[arg(long, value_name = "LOG")]
    pub firmware_log: Option<PathBuf>,
    /// Output format: blindfold (measurements.json), blindllama
    /// (measurements JSON + application.json beside it), nitro (pcr_measurements.json, SHA-384).
    #[arg(long, default_value = "blindfold")]
    pub format: String,
    /// systemd-stub major version, when the UKI has no .sdmagic section.
    #[arg(long)]
    pub stub_version: Option<u32>,
    /// The enclave's configuration file: PCR 15 then includes its digest and
    /// the ready separator, as blindfold-enclave extends them.
    #[arg(long, value_name = "FILE")]
    pub enclave_config: Option<PathBuf>,
    /// The `blindfold-enclave` executable that will run a process-mode
    /// configuration (it measures its own SHA-256 first into PCR 15).
    /// Default: the one installed beside this program.
    #[arg(long, value_name = "FILE", conflicts_with = "image")]
    pub enclave_binary: Option<PathBuf>,
    /// Sign the measurements with this publisher key (from `blindfold
    /// keygen`): writes a DSSE envelope instead of plain JSON.
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,
    /// The bundle's version number (clients can refuse older versions).
    #[arg(long, default_value_t = 1)]
    pub bundle_version: u64,
    /// With --sign: the bundle expires this long from now (e.g. 90d);
    /// clients refuse it afterwards. Without it, it never expires.
    #[arg(long, value_name = "DURATION", requires = "sign", value_parser = humantime::parse_duration)]
    pub expires_in: Option<std::time::Duration>,
    /// Where to write.
    #[arg(short, long)]
    pub output: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum VerityCommand {
    /// Hash DATA into a tree written to HASHFILE and print the root hash.
    Format(VerityFormatArgs),
    /// Re-hash DATA and check it against HASHFILE and ROOTHASH; names the
    /// first corrupted block.
    Verify(VerityVerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerityTreeArgs {
    /// Hash algorithm: sha256 (default), sha1 or sha512.
    #[arg(long, default_value = "sha256")]
    pub hash: String,
    /// Data block size in bytes.
    #[arg(long, default_value_t = 4096)]
    pub data_block_size: u32,
    /// Hash block size in bytes.
    #[arg(long, default_value_t = 4096)]
    pub hash_block_size: u32,
    /// Byte offset of the hash area inside HASHFILE (HASHFILE may be DATA
    /// itself, with the tree after the data).
    #[arg(long, default_value_t = 0)]
    pub hash_offset: u64,
    /// No superblock: the tree starts at --hash-offset (then --salt and the
    /// parameters must be given again to verify).
    #[arg(long)]
    pub no_superblock: bool,
    /// Hashing threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Debug, Args)]
pub struct VerityFormatArgs {
    /// The data (an image file).
    pub data: PathBuf,
    /// Where the hash tree goes.
    pub hashfile: PathBuf,
    /// Salt in hex (default: 32 random bytes; "-" for none).
    #[arg(long, value_name = "HEX")]
    pub salt: Option<String>,
    /// UUID for the superblock (default: random).
    #[arg(long)]
    pub uuid: Option<String>,
    #[command(flatten)]
    pub tree: VerityTreeArgs,
    /// Print JSON instead of veritysetup-style text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerityVerifyArgs {
    /// The data.
    pub data: PathBuf,
    /// The hash tree.
    pub hashfile: PathBuf,
    /// The expected root hash (hex).
    pub root_hash: String,
    /// Salt in hex, required with --no-superblock ("-" for none).
    #[arg(long, value_name = "HEX")]
    pub salt: Option<String>,
    #[command(flatten)]
    pub tree: VerityTreeArgs,
}

#[derive(Debug, Args)]
pub struct EnclaveConfigArgs {
    /// The app disk's manifest, IMAGE.json, which `disk build` writes beside
    /// IMAGE: the configuration names the image and pins its root hash.
    #[arg(long, value_name = "MANIFEST")]
    pub app_disk: PathBuf,
    /// The model the embedded engine serves (a GGUF file; the enclave
    /// measures its name and SHA-256 into PCR 15 before serving).
    #[arg(long, value_name = "FILE", requires = "model_id")]
    pub model: Option<PathBuf>,
    /// The name the API serves the model under (GET /v1/models, and the
    /// "model" of each request).
    #[arg(long, value_name = "NAME", requires = "model")]
    pub model_id: Option<String>,
    /// Instead of a model file: a model its owner sealed (`blindfold model
    /// seal`), served under its store name. The enclave fetches it from the
    /// store, gets its key from the broker by attestation, and refuses
    /// weights other than the manifest's digest, read from the store now.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["model", "model_id"],
          requires_all = ["store", "broker", "broker_spki_sha256"])]
    pub sealed_model: Option<String>,
    /// The sealed model's store (`file://DIR` or `s3://BUCKET/PREFIX`; S3
    /// endpoint and credentials from the AWS_* environment variables).
    #[arg(long, value_name = "URL", requires = "sealed_model")]
    pub store: Option<String>,
    /// The key broker that releases the sealed model's key
    /// (`https://HOST:PORT`).
    #[arg(long, value_name = "URL", requires = "sealed_model")]
    pub broker: Option<String>,
    /// SHA-256 of the broker's TLS public key, as `blindfold kbs serve`
    /// prints it: the only broker key the enclave accepts.
    #[arg(long, value_name = "HEX", requires = "sealed_model")]
    pub broker_spki_sha256: Option<String>,
    /// The platform the evidence will name.
    #[arg(long, default_value = "local", value_parser = ["local", "azure-vtpm", "gcp-vtpm"])]
    pub platform: String,
    /// Where to write the configuration (enclave.json).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}
