//! Every flag of the `blindfold` command, defined once: the parser, `--help`
//! and the docs all come from here.

use std::path::{Path, PathBuf};

use blindfold_attest::{AcceptPolicy, DevelopmentPlatform, DevelopmentReference, Platform, TrustBasis};
use clap::{Args, Parser, Subcommand};

/// Blindfold: confidential AI serving you can verify.
///
/// Exit codes: 0 success, 1 a check failed, 2 unusable input. Errors print
/// one line, `blindfold: <reason>`, on stderr.
#[derive(Debug, Parser)]
#[command(name = "blindfold", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and replay TCG PC Client firmware event logs.
    #[command(subcommand)]
    Eventlog(EventlogCommand),
    /// Verify TPM 2.0 quotes.
    #[command(subcommand)]
    Quote(QuoteCommand),
    /// Verify platform evidence and appraise it against reference values.
    #[command(subcommand)]
    Attest(AttestCommand),
    /// Build and check dm-verity hash trees (byte-compatible with veritysetup).
    #[command(subcommand)]
    Verity(VerityCommand),
    /// PE/COFF images: the Authenticode digest UEFI firmware measures.
    #[command(subcommand)]
    Pe(PeCommand),
    /// Unified kernel images.
    #[command(subcommand)]
    Uki(UkiCommand),
    /// Compute reference values (expected PCRs) from build artefacts.
    Measure(MeasureArgs),
    /// App disks: reproducible erofs images with a dm-verity tree.
    #[command(subcommand)]
    Disk(DiskCommand),
    /// Make a publisher key pair (ECDSA P-256) for signing reference values.
    Keygen(KeygenArgs),
    /// Make an API key for the enclave: 256 random bits written to a new
    /// file (mode 0600, never printed), and the configuration entry that
    /// accepts it (a salt and an HMAC, no key) printed for enclave.json's
    /// "api.api_keys".
    ApiKey(ApiKeyArgs),
    /// The local platform: a swtpm playing "the cloud" (development only).
    #[command(subcommand)]
    Platform(PlatformCommand),
    /// Connect to an enclave over TLS 1.3, ask for evidence bound to that
    /// session, verify and appraise it, and print a report. Exit 0 only when
    /// everything holds and the appraisal is affirming (or, with
    /// --allow-dev-reference on the development platform, a development
    /// reference is the only warning).
    Verify(VerifyArgs),
    /// Verify an enclave, then chat with it over the attested session
    /// (streamed answers), or answer one prompt with -p.
    Chat(ChatArgs),
    /// The whole promise in one command: a local platform, a publisher key,
    /// an app disk with the packaged model, signed measurements, the
    /// enclave, its verification report, and a streamed answer. Everything
    /// it starts is stopped at the end.
    Demo(DemoArgs),
    /// A plain-HTTP, OpenAI-compatible endpoint on loopback for unmodified
    /// clients: every upstream TLS session is attested before the first
    /// byte of a request is forwarded; if verification fails, every
    /// request gets HTTP 502 `attestation_failed` and nothing is forwarded.
    /// GET /blindfold/verification shows the last verification report.
    Proxy(ProxyArgs),
}

/// What a client trusts (shared by `verify`, `chat`, `proxy`).
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("reference_trust").required(true).args(["publisher_key", "reference_unsigned"])))]
pub struct TrustArgs {
    /// Reference values (a signed bundle, or with --reference-unsigned a plain file).
    #[arg(long, value_name = "FILE")]
    pub reference: PathBuf,
    /// The publisher key the reference bundle must be signed by.
    #[arg(long, value_name = "FILE")]
    pub publisher_key: Option<PathBuf>,
    /// Accept an unsigned reference file (reported; for development).
    #[arg(long)]
    pub reference_unsigned: bool,
    /// Refuse signed bundles older than this version (rollback protection).
    #[arg(long, default_value_t = 0)]
    pub min_bundle_version: u64,
    /// For the local platform (danger): the platform CA that certifies the AK.
    #[arg(long, value_name = "FILE")]
    pub platform_ca: Option<PathBuf>,
    /// Accept the development platform: evidence anchored in a local
    /// platform CA, which whoever holds the swtpm state can forge (trust
    /// basis "development").
    #[arg(long)]
    pub allow_dev: bool,
    /// Accept a development reference as well (process mode: no measured
    /// boot, only the runtime PCR appraised). Only ever accepted on the
    /// development platform; reported as a warning.
    #[arg(long, requires = "allow_dev")]
    pub allow_dev_reference: bool,
    /// Accept only evidence from this platform (repeat for several):
    /// azure-vtpm, gcp-vtpm, aws-nitrotpm, aws-nitro-enclave, azure-snp,
    /// azure-tdx, tpm or local. Without it, any platform that verifies.
    #[arg(long = "expect-platform", value_name = "PLATFORM", value_parser = parse_platform)]
    pub expect_platforms: Vec<Platform>,
    /// The weakest trust basis accepted: development < hypervisor < cvm.
    #[arg(long, value_name = "BASIS", default_value = "development", value_parser = parse_trust_basis)]
    pub min_trust_basis: TrustBasis,
    /// Where the client keeps the highest signed-bundle version seen per
    /// publisher (refusing older ones afterwards). Default:
    /// $XDG_STATE_HOME/blindfold, else ~/.local/state/blindfold.
    #[arg(long, value_name = "DIR", env = "BLINDFOLD_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

fn parse_platform(name: &str) -> Result<Platform, String> {
    Platform::from_name(name).ok_or_else(|| format!("unknown platform {name:?}"))
}

fn parse_trust_basis(name: &str) -> Result<TrustBasis, String> {
    TrustBasis::from_name(name)
        .ok_or_else(|| format!("unknown trust basis {name:?}: development, hypervisor or cvm"))
}

/// The client's state directory: the one given, else
/// `$XDG_STATE_HOME/blindfold`, else `~/.local/state/blindfold`.
pub fn state_dir(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir.to_path_buf());
    }
    let var = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("XDG_STATE_HOME")
        .map(|d| d.join("blindfold"))
        .or_else(|| var("HOME").map(|h| h.join(".local/state/blindfold")))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no state directory for the bundle versions seen: set HOME, XDG_STATE_HOME or --state-dir"
            )
        })
}

impl TrustArgs {
    /// The files for `blindfold_client::Trust::from_files`.
    pub fn files(&self) -> anyhow::Result<blindfold_client::TrustFiles> {
        Ok(blindfold_client::TrustFiles {
            reference: self.reference.clone(),
            publisher_key: self.publisher_key.clone(),
            reference_unsigned: self.reference_unsigned,
            min_bundle_version: self.min_bundle_version,
            platform_ca: self.platform_ca.clone(),
            accept: AcceptPolicy {
                platforms: self.expect_platforms.clone(),
                min_trust_basis: self.min_trust_basis,
                development_platform: if self.allow_dev {
                    DevelopmentPlatform::Allowed
                } else {
                    DevelopmentPlatform::Refused
                },
                development_reference: if self.allow_dev_reference {
                    DevelopmentReference::Allowed
                } else {
                    DevelopmentReference::Refused
                },
            },
            state_dir: Some(state_dir(self.state_dir.as_deref())?),
        })
    }
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The enclave: https://HOST:PORT (or HOST:PORT).
    pub url: String,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The enclave: https://HOST:PORT (or HOST:PORT).
    pub url: String,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// One prompt, answered and done (without it: an interactive chat,
    /// one line per turn, empty line or end of input to quit). Other users
    /// of this machine can read a process's arguments: for a private
    /// prompt use --prompt-file.
    #[arg(short, long, conflicts_with = "prompt_file")]
    pub prompt: Option<String>,
    /// One prompt read from FILE ("-" for all of standard input), answered
    /// and done: the private way to pass a prompt.
    #[arg(long, value_name = "FILE")]
    pub prompt_file: Option<PathBuf>,
    /// Most tokens per answer.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: u32,
    /// Sampling temperature (0 = greedy).
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f32,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// The enclave: https://HOST:PORT.
    #[arg(long)]
    pub upstream: String,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Where to listen (plain HTTP): loopback only unless --listen-public.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Allow a non-loopback --listen address (anyone who reaches it can use
    /// the enclave through this proxy, unencrypted up to here).
    #[arg(long)]
    pub listen_public: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The prompt to send once the enclave is verified.
    #[arg(
        short,
        long,
        default_value = "What is the capital of France? Answer in one sentence."
    )]
    pub prompt: String,
    /// Most tokens in the answer.
    #[arg(long, default_value_t = 96)]
    pub max_tokens: u32,
    /// The model (GGUF) to serve; default: the packaged SmolLM2 that
    /// scripts/setup.sh fetched into ~/.cache/blindfold/model.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Keep the working directory (keys, app disk, measurements) instead
    /// of deleting it at the end.
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Subcommand)]
pub enum PlatformCommand {
    /// Create DIR: swtpm state (SHA-256 and SHA-384 banks, EK certificate),
    /// a local platform CA, an AK at 0x81000003 and its certificate in NV
    /// 0x01C101D0 (the Azure layout). Whoever holds DIR can forge quotes:
    /// verifiers trust DIR/ca.pem only when given it with --platform-ca.
    Init(PlatformInitArgs),
    /// Run swtpm for DIR in the background; prints the TCTI and writes DIR/tcti.
    Start(PlatformDirArgs),
    /// Stop the swtpm started for DIR.
    Stop(PlatformDirArgs),
}

#[derive(Debug, Args)]
pub struct PlatformInitArgs {
    /// The platform directory (created; must not hold a platform).
    pub dir: PathBuf,
    /// AK key type: rsa (RSA-2048, the default) or ecc (P-256).
    #[arg(long, default_value = "rsa")]
    pub ak: String,
}

#[derive(Debug, Args)]
pub struct PlatformDirArgs {
    /// The platform directory.
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ApiKeyArgs {
    /// The key's name in usage reports, e.g. team-a.
    #[arg(long)]
    pub name: String,
    /// Where to write the key (must not exist yet; created mode 0600).
    #[arg(long, value_name = "FILE")]
    pub key_out: PathBuf,
    /// Most requests per minute for this key.
    #[arg(long)]
    pub requests_per_minute: Option<u64>,
    /// Most prompt + completion tokens per minute for this key.
    #[arg(long)]
    pub tokens_per_minute: Option<u64>,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Output prefix: writes PREFIX.key (private, mode 0600) and PREFIX.pub.
    #[arg(short, long)]
    pub output: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum DiskCommand {
    /// Make DIR into an erofs image with its verity tree appended; prints the
    /// root hash and writes OUTPUT.json (salt, UUIDs, sizes, offsets) beside it.
    Build(DiskBuildArgs),
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

#[derive(Debug, Args)]
pub struct MeasureArgs {
    /// The UKI that will boot (predicts PCR 4, 9, 11, 12, 13). Without it
    /// (process mode: no measured boot) a development reference is written.
    #[arg(long)]
    pub uki: Option<PathBuf>,
    /// The app disk's JSON from `blindfold verity format --json` (its root
    /// hash is the first runtime event in PCR 15).
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

#[derive(Debug, Subcommand)]
pub enum AttestCommand {
    /// Verify evidence (chain to the platform root, or the Nitro document,
    /// SEV-SNP report or TD quote that vouches for the AK; quote signature,
    /// PCR digest, nonce, event log) and appraise it against reference
    /// values.
    ///
    /// Exit 0: authentic, fresh (or waived) and, with --reference, appraised
    /// affirming or warning (the report says which and why). Exit 1: a check
    /// failed or the appraisal is contraindicated. Exit 2: unusable input.
    /// Without --reference, measurements are not appraised (and the report
    /// says so). Report fields: docs/attestation-report.md.
    Verify(AttestVerifyArgs),
}

#[derive(Debug, Args)]
pub struct AttestVerifyArgs {
    /// The evidence: a file (Blindfold evidence, BlindLlama-v2
    /// attestation.json, go-tpm-tools Attestation protobuf, vaportpm GCP or
    /// NitroTPM JSON, trustee TPM or Azure SNP/TDX JSON, an AWS Nitro
    /// attestation document) or a directory (tpm2-tools outputs; kinvolk's
    /// azure-cvm-tooling quote and HCL report). The layout is detected from
    /// content, never from the name.
    pub evidence: PathBuf,
    /// The platform to expect: auto (the evidence's own), azure-vtpm,
    /// gcp-vtpm, aws-nitrotpm, aws-nitro-enclave, azure-snp, azure-tdx, tpm,
    /// or local (Blindfold's swtpm platform; plain-TPM layouts, development
    /// trust).
    #[arg(long, default_value = "auto")]
    pub platform: String,
    /// The nonce the quotes (and a Nitro document's `nonce` field) must
    /// carry, in hex. Without it (or --no-freshness), evidence is not
    /// verified.
    #[arg(long, value_name = "HEX", conflicts_with = "no_freshness")]
    pub nonce: Option<String>,
    /// Waive the nonce check (the evidence may be a replay); reported.
    #[arg(long)]
    pub no_freshness: bool,
    /// Check certificates (and a Nitro document's age) at this time
    /// (RFC 3339, e.g. 2024-06-01T00:00:00Z) instead of now, to replay
    /// archived evidence.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// Reference values: Blindfold measurements.json, BlindLlama-v2
    /// measurements / application_disk_roothash, or NitroTPM
    /// pcr_measurements.json. Repeat to merge files.
    #[arg(long = "reference", value_name = "FILE")]
    pub references: Vec<PathBuf>,
    /// The publisher key that signed --reference bundles (PEM SPKI). Signed
    /// bundles are refused without it; unsigned files are read and reported
    /// as "unsigned".
    #[arg(long, value_name = "FILE")]
    pub publisher_key: Option<PathBuf>,
    /// Refuse signed bundles older than this version (rollback protection).
    #[arg(long, default_value_t = 0)]
    pub min_bundle_version: u64,
    /// A Rego policy (package blindfold; rules status and reasons) over the claims.
    #[arg(long, value_name = "FILE.rego")]
    pub policy: Option<PathBuf>,
    /// For --platform tpm or local: the AK to trust (PEM/DER SPKI or TPM2B_PUBLIC).
    #[arg(long, value_name = "FILE")]
    pub ak: Option<PathBuf>,
    /// For --platform tpm or local (danger): trust AK certificates issued by
    /// this CA (PEM), e.g. the local platform CA. Whoever holds the CA key can
    /// forge evidence; the trust basis is then "development".
    #[arg(long, value_name = "FILE", conflicts_with = "ak")]
    pub platform_ca: Option<PathBuf>,
    /// Accept development reference values (process mode: no measured
    /// boot, only the runtime PCR). Refused for any platform but the
    /// development one (local or tpm), where they are a warning.
    #[arg(long)]
    pub allow_dev_reference: bool,
    /// Exit 1 unless the appraisal is at least this good: "affirming"
    /// (every claim affirming, but for a development reference's warning
    /// where --allow-dev-reference accepts it) or "warning" (nothing
    /// contraindicated). Either needs reference values. Without it, the
    /// exit code says only whether the evidence verified and nothing was
    /// contraindicated.
    #[arg(long, value_name = "STATUS", value_parser = ["affirming", "warning"])]
    pub require: Option<String>,
    /// Accept a platform in debug mode: a Nitro enclave started with
    /// --debug-mode (PCR 0-2 zero), an SEV-SNP guest policy allowing debug,
    /// a TD with TD_ATTRIBUTES.DEBUG. Its memory is open to the host (or
    /// the parent instance); the report says "debug": true.
    #[arg(long)]
    pub allow_debug: bool,
    /// The oldest an AWS Nitro attestation document may be at the
    /// verification time (--at, or now), e.g. 10m, 1h. Older ones are stale.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub max_age: std::time::Duration,
    /// Intel's TDX collateral as files, for judging a TD quote's TCB
    /// offline: a directory with tcb_info.json (PCS `tdx/certification/v4/tcb`
    /// for the platform's FMSPC), qe_identity.json (`.../qe/identity`) and
    /// tcb_signing_chain.pem (their TCB-Info-Issuer-Chain header). Each is
    /// checked against Intel's root, its signature and its nextUpdate; the
    /// "tcb" claim is then affirming for an up-to-date platform and QE.
    #[arg(long, value_name = "DIR")]
    pub tdx_collateral: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub replay: ReplayOptionArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum EventlogCommand {
    /// Replay a log into the PCR values it produces, for every bank it carries.
    ///
    /// Replaying is not judging: events whose digest does not match their
    /// data are listed under "suspicious_events", and the exit code is still 0.
    Replay(ReplayArgs),
    /// List every event: number, PCR, type, digests and a decoded summary.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The binary event log (e.g. /sys/kernel/security/tpm0/binary_bios_measurements,
    /// or a TDX guest's /sys/firmware/acpi/tables/data/CCEL).
    pub log: PathBuf,
    #[command(flatten)]
    pub replay: ReplayOptionArgs,
    /// Read the log as a confidential-computing event log (Intel TDX CCEL:
    /// MR indices, SHA-384 only, 0xFF padding after the last event) and
    /// replay it into RTMR 0-3. Without this flag a log is read so when its
    /// content says so (0xFF padding, or a SHA-384-only header in MR index 1).
    #[arg(long)]
    pub ccel: bool,
    /// A TDX quote (v4): verified (PCK chain, QE report, signature, debug
    /// bit), then its RTMRs are compared with the CC event log's replay. A
    /// mismatch exits 1 naming the RTMR and both values.
    #[arg(long, value_name = "QUOTE")]
    pub td_quote: Option<PathBuf>,
    /// Verify the TD quote's PCK chain to this root certificate (PEM)
    /// instead of Intel's bundled SGX Root CA: for test key chains only.
    /// Reported in the output.
    #[arg(long, value_name = "PEM", requires = "td_quote")]
    pub intel_root: Option<PathBuf>,
    /// Check the TD quote's certificates at this time (RFC 3339, e.g.
    /// 2024-06-01T00:00:00Z) instead of now, to replay archived evidence.
    #[arg(long, value_name = "RFC3339", requires = "td_quote")]
    pub at: Option<String>,
    /// Accept the quote of a debug TD (its memory is readable by the
    /// host). Reported in the output.
    #[arg(long, requires = "td_quote")]
    pub allow_debug: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReplayOptionArgs {
    /// Firmware workaround: if the log has no ExitBootServices events in
    /// PCR 5, extend PCR 5 with the two that some firmware measures without
    /// logging. Off by default; reported in the output when it applies.
    #[arg(long)]
    pub assume_unlogged_exit_boot_services: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The binary event log.
    pub log: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum QuoteCommand {
    /// Verify a quote: AK signature, TPM_GENERATED magic and quote type, PCR
    /// digest over the supplied PCR values, and the nonce.
    Verify(QuoteVerifyArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("freshness").required(true).args(["nonce", "no_freshness"])))]
pub struct QuoteVerifyArgs {
    /// The attestation key you trust: PEM or DER SubjectPublicKeyInfo, or a
    /// TPM2B_PUBLIC / TPMT_PUBLIC (then it must be a restricted signing key).
    #[arg(long, value_name = "AKPUB")]
    pub ak: PathBuf,
    /// The signed TPMS_ATTEST (`tpm2_quote --message`).
    #[arg(long, value_name = "ATTEST")]
    pub message: PathBuf,
    /// The signature: a TPMT_SIGNATURE (`tpm2_quote --signature`) or raw
    /// signature bytes (RSA, or ECDSA r||s).
    #[arg(long, value_name = "SIG")]
    pub signature: PathBuf,
    /// Scheme of a raw signature: rsassa-sha256, rsapss-sha384, ecdsa-sha256, ...
    /// Default for raw signatures: rsassa-sha256 (RSA), ecdsa-sha256 (P-256),
    /// ecdsa-sha384 (P-384). Giving a scheme makes SIG read as raw bytes.
    #[arg(long, value_name = "SCHEME")]
    pub signature_scheme: Option<String>,
    /// The PCR values: a tpm2-tools PCR file (`tpm2_quote --pcr`) or JSON
    /// `{"sha256": {"0": "<hex>", ...}}`.
    #[arg(long, value_name = "PCRS")]
    pub pcrs: PathBuf,
    /// The nonce the quote's extraData must equal, in hex.
    #[arg(long, value_name = "HEX")]
    pub nonce: Option<String>,
    /// Do not check extraData: the quote may be a replay. Reported in the output.
    #[arg(long)]
    pub no_freshness: bool,
    /// Accept SHA-1 quote signatures (legacy TPMs only).
    #[arg(long)]
    pub danger_allow_sha1: bool,
    /// Also replay this firmware event log and compare it with the quoted PCRs.
    #[arg(long, value_name = "LOG")]
    pub eventlog: Option<PathBuf>,
    #[command(flatten)]
    pub replay: ReplayOptionArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}
