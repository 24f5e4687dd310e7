//! `blindfold`: the command for users of Blindfold.
//!
//! Its commands, by who uses them: consumers check an enclave and talk to it
//! (`verify`, `chat`, `proxy`, `demo`); anyone verifies and appraises
//! evidence (`attest verify`, `quote verify`, `eventlog replay/show`);
//! builders compute what a verifier expects (`verity`, `pe`, `uki`,
//! `disk build`, `measure`, which signs with a `keygen` key); developers run
//! the local platform (`platform init/start/stop`). Arguments are parsed by `clap` from
//! one definition per flag (`args/`), resolved into library inputs by the
//! command modules, and every error leaves through [`exit::Failure`], which
//! maps it to an exit code in one place: 0 ok, 1 a check failed, 2 unusable
//! input. Reports are typed until printed: text from `Display`, JSON from
//! `Serialize`.
//!
//! What it is not: a model runner (it links neither candle nor tokenizers;
//! `demo` starts the `blindfold-enclave` binary) or a verifier of its own
//! (`blindfold-attest`, `blindfold-client` and `blindfold-atls` decide;
//! this crate turns flags into their inputs and their results into output).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod args;
mod attest_cmd;
mod attest_report;
mod ccel_cmd;
mod console_cmd;
mod demo_cmd;
mod demo_vm;
mod enclave_config_cmd;
mod eventlog_cmd;
mod exit;
mod hints;
mod image_cmd;
mod inputs;
mod measure_cmd;
mod model_cmd;
mod platform_cmd;
mod proxy_cmd;
mod quote_cmd;
mod receipt_cmd;
mod sign_cmd;
mod verify_cmd;
mod verity_cmd;
mod vm_cmd;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = args::Cli::parse();
    let result = match cli.command {
        args::Command::Eventlog(args::EventlogCommand::Replay(a)) => eventlog_cmd::replay(&a),
        args::Command::Eventlog(args::EventlogCommand::Show(a)) => eventlog_cmd::show(&a),
        args::Command::Quote(args::QuoteCommand::Verify(a)) => quote_cmd::verify(&a),
        args::Command::Attest(args::AttestCommand::Verify(a)) => attest_cmd::verify(&a),
        args::Command::Receipt(args::ReceiptCommand::Verify(a)) => receipt_cmd::verify(&a),
        args::Command::Verity(args::VerityCommand::Format(a)) => verity_cmd::format(&a),
        args::Command::Verity(args::VerityCommand::Verify(a)) => verity_cmd::verify(&a),
        args::Command::Pe(args::PeCommand::Hash(a)) => measure_cmd::pe_hash(&a),
        args::Command::Uki(args::UkiCommand::Inspect(a)) => measure_cmd::uki_inspect(&a),
        args::Command::Uki(args::UkiCommand::Build(a)) => measure_cmd::uki_build(&a),
        args::Command::Measure(a) => measure_cmd::measure(&a),
        args::Command::Disk(args::DiskCommand::Build(a)) => measure_cmd::disk_build(&a),
        args::Command::Image(args::ImageCommand::Build(a)) => image_cmd::build(&a),
        args::Command::Image(args::ImageCommand::Export(a)) => image_cmd::export(&a),
        args::Command::Vm(args::VmCommand::Run(a)) => vm_cmd::run(&a),
        args::Command::Platform(args::PlatformCommand::Reference(a)) => vm_cmd::reference(&a),
        args::Command::Platform(args::PlatformCommand::Capture(a)) => platform_cmd::capture(&a),
        args::Command::EnclaveConfig(a) => enclave_config_cmd::enclave_config(&a),
        args::Command::Model(c) => model_cmd::model(&c),
        args::Command::Kbs(args::KbsCommand::Kek(a)) => model_cmd::kbs_kek(&a),
        args::Command::Kbs(args::KbsCommand::Serve(a)) => model_cmd::kbs_serve(&a),
        args::Command::Kbs(args::KbsCommand::Audit(a)) => model_cmd::kbs_audit(&a),
        args::Command::Kbs(args::KbsCommand::Pin(a)) => model_cmd::kbs_pin(&a),
        args::Command::Kbs(args::KbsCommand::Token(a)) => model_cmd::kbs_token(&a),
        args::Command::Keygen(a) => sign_cmd::keygen(&a),
        args::Command::ApiKey(a) => sign_cmd::api_key(&a),
        args::Command::Platform(args::PlatformCommand::Init(a)) => platform_cmd::init(&a),
        args::Command::Platform(args::PlatformCommand::Start(a)) => platform_cmd::start(&a),
        args::Command::Platform(args::PlatformCommand::Stop(a)) => platform_cmd::stop(&a),
        args::Command::Verify(a) => verify_cmd::verify(&a),
        args::Command::Chat(a) => verify_cmd::chat(&a),
        args::Command::Demo(a) => demo_cmd::demo(&a),
        args::Command::Proxy(a) => proxy_cmd::proxy(&a),
        args::Command::Console(a) => console_cmd::console(&a),
    };
    exit::report(result)
}
