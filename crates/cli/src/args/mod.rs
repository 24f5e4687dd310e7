//! Every flag of the `blindfold` command, defined once: the parser, `--help`
//! and the docs all come from here.

use std::path::{Path, PathBuf};

use blindfold_attest::{AcceptPolicy, DevelopmentPlatform, DevelopmentReference, Platform, TrustBasis};
use clap::{Args, Parser, Subcommand};

mod build;
mod console;
mod evidence;
mod model;

pub use build::*;
pub use console::*;
pub use evidence::*;
pub use model::*;

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
    /// The whole promise in one command: a local platform, a publisher key,
    /// an app disk with the packaged model, signed measurements, the
    /// enclave, its verification report, and a streamed answer. Everything
    /// it starts is stopped at the end (--serve keeps it up until Ctrl-C).
    Demo(DemoArgs),
    /// Connect to an enclave over TLS 1.3, ask for evidence bound to that
    /// session, verify and appraise it, and print a report. Exit 0 only when
    /// everything holds and the appraisal is affirming (or, with
    /// --allow-dev-reference on the development platform, a development
    /// reference is the only warning).
    Verify(VerifyArgs),
    /// Verify an enclave, then chat with it over the attested session
    /// (streamed answers), or answer one prompt with -p.
    Chat(ChatArgs),
    /// A plain-HTTP, OpenAI-compatible endpoint on loopback for unmodified
    /// clients: every upstream TLS session is attested before the first
    /// byte of a request is forwarded; if verification fails, every
    /// request gets HTTP 502 `attestation_failed` and nothing is forwarded.
    /// GET /blindfold/verification shows the last verification report.
    Proxy(ProxyArgs),
    /// A web console on loopback for the model owner (seal, policies from
    /// signed build references, the broker's audit log), the consumer
    /// (verify an enclave, then chat) and the auditor (each PCR against the
    /// reference, the AK chain, the event logs). Owner pages need the
    /// owner's token; nothing is sent to an enclave that did not verify.
    Console(ConsoleArgs),
    /// Make an API key for the enclave: 256 random bits written to a new
    /// file (mode 0600, never printed), and the configuration entry that
    /// accepts it (a salt and an HMAC, no key) printed for enclave.json's
    /// "api.api_keys".
    ApiKey(ApiKeyArgs),
    /// Write the enclave's configuration (enclave.json, measured into PCR
    /// 15) for an app disk and, optionally, the model it serves.
    EnclaveConfig(EnclaveConfigArgs),
    /// The model owner's sealed models: seal a file into a store (file://
    /// or S3), list, show, delete.
    #[command(subcommand)]
    Model(ModelCommand),
    /// The key broker that keeps the owners' data keys.
    #[command(subcommand)]
    Kbs(KbsCommand),
    /// Make a publisher key pair (ECDSA P-256) for signing reference values.
    Keygen(KeygenArgs),
    /// Compute reference values (expected PCRs) from build artefacts.
    Measure(MeasureArgs),
    /// App disks: reproducible erofs images with a dm-verity tree.
    #[command(subcommand)]
    Disk(DiskCommand),
    /// Measured enclave images: a UKI with the enclave as PID 1 and its
    /// app disk on one GPT disk.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Measured images booted under QEMU + OVMF with the local platform's
    /// swtpm.
    #[command(subcommand)]
    Vm(VmCommand),
    /// The local platform: a swtpm playing "the cloud" (development only).
    #[command(subcommand)]
    Platform(PlatformCommand),
    /// Verify platform evidence and appraise it against reference values.
    #[command(subcommand)]
    Attest(AttestCommand),
    /// Signed receipts: which measured enclave produced which answer.
    #[command(subcommand)]
    Receipt(ReceiptCommand),
    /// Verify TPM 2.0 quotes.
    #[command(subcommand)]
    Quote(QuoteCommand),
    /// Parse and replay TCG PC Client firmware event logs.
    #[command(subcommand)]
    Eventlog(EventlogCommand),
    /// Build and check dm-verity hash trees (byte-compatible with veritysetup).
    #[command(subcommand)]
    Verity(VerityCommand),
    /// PE/COFF images: the Authenticode digest UEFI firmware measures.
    #[command(subcommand)]
    Pe(PeCommand),
    /// Unified kernel images.
    #[command(subcommand)]
    Uki(UkiCommand),
}

/// Who must have signed reference values: the same three flags, meaning the
/// same, for `verify`, `chat`, `proxy` and `attest verify`.
#[derive(Debug, Args)]
pub struct ReferenceSignerArgs {
    /// The publisher key reference bundles must be signed by (PEM SPKI;
    /// `keygen` makes one). A signed bundle is read only with it.
    #[arg(long, value_name = "FILE")]
    pub publisher_key: Option<PathBuf>,
    /// Accept reference files that are not signed bundles (reported as
    /// "unsigned": for development, or values published unsigned, such as
    /// BlindLlama-v2's or NitroTPM's). Without it they are refused.
    #[arg(long)]
    pub reference_unsigned: bool,
    /// Refuse signed bundles older than this version (rollback protection).
    #[arg(long, value_name = "VERSION", default_value_t = 0)]
    pub min_bundle_version: u64,
}

/// What a client trusts (shared by `verify`, `chat`, `proxy`).
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("reference_trust").required(true).args(["publisher_key", "reference_unsigned"])))]
pub struct TrustArgs {
    /// Reference values (a signed bundle, or with --reference-unsigned a plain file).
    #[arg(long, value_name = "FILE")]
    pub reference: PathBuf,
    #[command(flatten)]
    pub signer: ReferenceSignerArgs,
    /// For the local platform (danger): the platform CA that certifies the AK.
    #[arg(long, value_name = "FILE")]
    pub platform_ca: Option<PathBuf>,
    /// For a cloud vTPM (azure-vtpm, gcp-vtpm): intermediate CA
    /// certificates (PEM) to build the AK certificate's path with, beside
    /// the bundled ones (a CA issued since this build). Never a trust anchor.
    #[arg(long, value_name = "FILE")]
    pub ak_intermediates: Option<PathBuf>,
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
    /// Accept epoch evidence: the enclave quotes once per 20-second epoch
    /// and signs each new session with a key that quote binds, so a new
    /// session costs a signature instead of a TPM quote. What it gives up:
    /// the epoch's time is the enclave's clock (the operator's on
    /// hypervisor platforms), and a stolen evidence key (each epoch has its
    /// own) signs sessions until its epoch is older than the maximum age.
    /// Off by default.
    #[arg(long)]
    pub accept_epoch_evidence: bool,
    /// The oldest epoch accepted, in seconds by this machine's clock (30
    /// to 600: an epoch is quoted every 20 s, and an older one means the
    /// enclave stopped quoting).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = blindfold_protocol::epoch::DEFAULT_MAX_AGE_SECONDS,
        value_parser = clap::value_parser!(u64).range(30..=600),
        requires = "accept_epoch_evidence"
    )]
    pub epoch_max_age: u64,
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
            publisher_key: self.signer.publisher_key.clone(),
            reference_unsigned: self.signer.reference_unsigned,
            min_bundle_version: self.signer.min_bundle_version,
            platform_ca: self.platform_ca.clone(),
            ak_intermediates: self.ak_intermediates.clone(),
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
            freshness: if self.accept_epoch_evidence {
                blindfold_atls::FreshnessMode::epoch(Some(std::time::Duration::from_secs(self.epoch_max_age)))
            } else {
                blindfold_atls::FreshnessMode::PerSessionQuote
            },
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
    /// Keep trying for up to SECONDS while nothing answers at the address
    /// yet (an enclave still starting). Only the connection is retried: a
    /// verification that fails, fails at once.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub wait: u64,
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
    /// The enclave: https://HOST:PORT (or HOST:PORT), as for verify and
    /// chat. Several (here or with --upstream): each is attested on its
    /// own, and requests go to the verified one with the fewest
    /// outstanding; one that fails verification or health checks is taken
    /// out until it attests again.
    #[arg(value_name = "URL", required_unless_present = "upstream")]
    pub urls: Vec<String>,
    /// Another enclave behind this proxy (repeatable).
    #[arg(long = "upstream", value_name = "URL")]
    pub upstream: Vec<String>,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Where to listen (plain HTTP): loopback only unless --listen-public.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Allow a non-loopback --listen address (anyone who reaches it can use
    /// the enclave through this proxy, unencrypted up to here).
    #[arg(long)]
    pub listen_public: bool,
    /// Exit (status 1) if the enclave does not verify when the proxy
    /// starts, instead of serving 502s until it does.
    #[arg(long)]
    pub require_verified_at_start: bool,
}

impl ProxyArgs {
    /// Every upstream, positional ones first, each once.
    pub fn upstreams(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for url in self.urls.iter().chain(&self.upstream) {
            if !all.contains(url) {
                all.push(url.clone());
            }
        }
        all
    }
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
    /// Keep the enclave running after the answer, until Ctrl-C, and print
    /// the exact verify, chat, proxy and openai commands for it (implies
    /// --keep).
    #[arg(long)]
    pub serve: bool,
    /// Run the enclave as a measured VM image instead of a process: build
    /// the image (UKI + app disk with the model), boot it under QEMU + OVMF
    /// with the platform's swtpm, verify the measured boot against the
    /// build-time prediction, and ask it. The first run also boots once to
    /// record the firmware's reference (kept in ~/.cache/blindfold/demo-vm).
    #[arg(long, conflicts_with = "serve")]
    pub vm: bool,
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
    /// Boot an image on this platform under QEMU + OVMF (as `vm run` does,
    /// same command line: PCR 1 depends on it) and write the firmware's
    /// event log from the enclave's verified evidence: the reference for
    /// PCRs 0-3 and 7 (`blindfold measure --firmware-log`). Take it on a
    /// platform you control; it is what this boot measured, not a verdict.
    Reference(PlatformReferenceArgs),
    /// Take the firmware's event log from an enclave booted on a cloud
    /// instance you control (the image's first boot there): its evidence is
    /// verified to the cloud's root (quote, AK, session binding, logs
    /// replayed), not appraised. The log is that cloud's reference for PCRs
    /// 0-3 and 7 (`blindfold image export --firmware-log`, `blindfold
    /// measure --firmware-log`): Secure Boot variables and firmware differ
    /// per cloud, so they are captured, never predicted.
    Capture(PlatformCaptureArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("anchor").required(true).args(["platform", "platform_ca"])))]
pub struct PlatformCaptureArgs {
    /// The enclave: https://HOST:PORT (or HOST:PORT).
    pub url: String,
    /// The cloud platform the evidence must come from: azure-vtpm,
    /// azure-snp, azure-tdx, gcp-vtpm or aws-nitrotpm (anchored in its
    /// bundled root).
    #[arg(long, value_name = "PLATFORM", value_parser = parse_platform)]
    pub platform: Option<Platform>,
    /// A development platform's CA instead (danger: a local platform).
    #[arg(long, value_name = "FILE")]
    pub platform_ca: Option<PathBuf>,
    /// AK-certificate intermediates (PEM) supplied at run time, beside the
    /// bundled ones.
    #[arg(long, value_name = "FILE")]
    pub ak_intermediates: Option<PathBuf>,
    /// Keep trying for this many seconds while the instance boots.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub wait: u64,
    /// Where to write the event log.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct PlatformReferenceArgs {
    #[command(flatten)]
    pub vm: VmArgs,
    /// Where to write the event log.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum VmCommand {
    /// Boot an image (`blindfold image build`) under QEMU + OVMF with the
    /// platform's swtpm: KVM when a guest really runs on it, else TCG; the
    /// API forwarded to 127.0.0.1 only; the guest reaches nothing but the
    /// --forward listeners. Prints the `blindfold verify` line; runs until
    /// the VM powers off or Ctrl-C.
    Run(VmRunArgs),
}

#[derive(Debug, Args)]
pub struct VmRunArgs {
    #[command(flatten)]
    pub vm: VmArgs,
}

/// How `vm run` attaches the image's disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiskBus {
    /// virtio-blk.
    Virtio,
    /// An NVMe controller.
    Nvme,
    /// A SCSI disk on virtio-scsi.
    Scsi,
}

/// What a boot of an image needs (`vm run`, `platform reference`).
#[derive(Debug, Args)]
pub struct VmArgs {
    /// The image's directory (`blindfold image build -o DIR`).
    pub image: PathBuf,
    /// The platform whose TPM state the VM uses (`blindfold platform
    /// init`; not running in process mode).
    #[arg(long, value_name = "DIR")]
    pub platform: PathBuf,
    /// The host port (on 127.0.0.1 only) forwarded to the enclave's API.
    #[arg(long, default_value_t = 8443)]
    pub port: u16,
    /// Keep the serial console (kernel messages and the enclave's log
    /// lines, which never hold prompts, answers or weights) in FILE.
    #[arg(long, value_name = "FILE")]
    pub console: Option<PathBuf>,
    /// Let the guest reach GUEST_IP:PORT, forwarded to 127.0.0.1:HOST_PORT
    /// (the key broker, the model store). Repeatable; nothing else is
    /// reachable from the guest.
    #[arg(long, value_name = "GUEST_IP:PORT=HOST_PORT")]
    pub forward: Vec<String>,
    /// Forward another host port (127.0.0.1:HOST_PORT) into the guest's
    /// GUEST_PORT, besides the API. Repeatable. The enclave's firewall
    /// lets only its API port in: this shows it.
    #[arg(long, value_name = "HOST_PORT=GUEST_PORT")]
    pub inbound: Vec<String>,
    /// Start from this OVMF variable store (a copy is used) instead of a
    /// fresh one: the boot entries an operator could set. A boot entry
    /// whose load options replace the image's command line changes PCR 12
    /// and 9, and verification fails.
    #[arg(long, value_name = "FILE")]
    pub efi_vars: Option<PathBuf>,
    /// Boot OVMF's Secure Boot build (SMM on, variables in secure flash):
    /// only images signed by a key in the variable store's db start. The
    /// store must hold enrolled keys (PK, KEK, db; scripts/secure-boot-vars.sh
    /// makes one from a certificate).
    #[arg(long, requires = "efi_vars")]
    pub secure_boot: bool,
    /// How the disk is attached: virtio (virtio-blk), nvme (as on AWS
    /// Nitro instances) or scsi (virtio-scsi, as on Google Cloud). The
    /// firmware's boot entries (PCR 1) follow it: take the reference boot
    /// with the same bus.
    #[arg(long, value_enum, default_value_t = DiskBus::Virtio)]
    pub disk_bus: DiskBus,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 2048)]
    pub memory: u32,
    /// Guest CPUs.
    #[arg(long, default_value_t = 2)]
    pub cpus: u32,
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
