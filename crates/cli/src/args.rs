//! Every flag of the `blindfold` command, defined once: the parser, `--help`
//! and the docs all come from here.

use std::path::PathBuf;

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
    /// The binary event log (e.g. /sys/kernel/security/tpm0/binary_bios_measurements).
    pub log: PathBuf,
    #[command(flatten)]
    pub replay: ReplayOptionArgs,
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
