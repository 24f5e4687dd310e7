//! Arguments of the evidence commands: `attest verify`, `eventlog`,
//! `quote verify`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

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
    /// Reference values: a bundle signed by --publisher-key, or with
    /// --reference-unsigned a plain file (Blindfold measurements.json,
    /// BlindLlama-v2 measurements / application_disk_roothash, or NitroTPM
    /// pcr_measurements.json). Repeat to merge files.
    #[arg(long = "reference", value_name = "FILE")]
    pub references: Vec<PathBuf>,
    #[command(flatten)]
    pub signer: super::ReferenceSignerArgs,
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
    /// For a cloud vTPM (azure-vtpm, gcp-vtpm): intermediate CA
    /// certificates (PEM) to build the AK certificate's path with, beside
    /// the bundled ones: a CA the cloud issued since this build (Azure's
    /// vTPM intermediates expire and rotate). Never a trust anchor.
    #[arg(long, value_name = "FILE")]
    pub ak_intermediates: Option<PathBuf>,
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
pub enum ReceiptCommand {
    /// Check a signed receipt against the evidence it cites, offline: the
    /// evidence is the document the receipt names (its SHA-256), the
    /// receipt key signed the receipt, the evidence verifies with that key
    /// bound into its quote (the receipt purpose), and it measured the
    /// model the receipt names; then the evidence is appraised as `attest
    /// verify` does (same flags). With the salt (the enclave hands it out
    /// beside the receipt) and --request / --response, also that those are
    /// the bodies the receipt signs.
    ///
    /// Exit 0: all of that holds. Exit 1: a check failed. Exit 2: unusable
    /// input. Fetch the evidence once per enclave boot from
    /// /.well-known/blindfold/receipt-evidence (docs/receipts.md).
    Verify(ReceiptVerifyArgs),
}

#[derive(Debug, Args)]
pub struct ReceiptVerifyArgs {
    /// The receipt: the `blindfold-receipt` header's value (base64), its
    /// JSON (with or without the salt), or a saved streamed answer (the
    /// receipt is its last comment, and the bytes before it are the
    /// response it signs).
    pub receipt: PathBuf,
    /// The request body that was sent, to check it is the one the receipt
    /// signs (needs the receipt's salt).
    #[arg(long, value_name = "FILE")]
    pub request: Option<PathBuf>,
    /// The response body of a complete answer, to check it is the one the
    /// receipt signs (needs the salt; a saved streamed answer is its own).
    #[arg(long, value_name = "FILE")]
    pub response: Option<PathBuf>,
    /// The receipt evidence (second argument) and how to appraise it.
    #[command(flatten)]
    pub evidence: AttestVerifyArgs,
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
