//! `blindfold-enclave`: the program inside the enclave.
//!
//! At start it hardens the process (no core dumps, not dumpable), opens the
//! TPM, checks the app disk against its dm-verity root hash before reading
//! anything from it, measures the app disk and its configuration into PCR
//! 15 of every active bank (recorded in the runtime event log), extends the
//! `ready` separator, loads the model named in its configuration (if any;
//! a sealed model's key comes from the owner's broker by attestation,
//! `docs/sealed-models.md`) and measures its name and weights digest, makes a fresh TLS key that never leaves memory, and
//! serves TLS 1.3 only. `GET /.well-known/blindfold/evidence?nonce=HEX`
//! answers with a quote whose qualifying data binds the nonce, the TLS leaf
//! key and this very session (`blindfold_attest::binding`); every other
//! path goes to the API (`blindfold-api`: OpenAI-compatible routes). If a
//! measurement fails, it serves nothing.
//!
//! It is part of what is trusted: it stays small, and it never logs
//! request bodies, keys or nonces' meaning — only sizes and outcomes.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod engines;
mod epochs;
mod idle;
mod image_dhcp;
mod image_firewall;
mod image_init;
mod image_net;
mod key_release;
mod measure;
mod peer_cap;
mod platform_report;
mod receipts;
mod sealed_model;
mod server;
mod tls_key;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;

/// No core dumps, not dumpable (no ptrace by non-root, no /proc/PID/mem),
/// and all memory locked so keys are never swapped out. Locking needs
/// CAP_IPC_LOCK or a large RLIMIT_MEMLOCK; without them the enclave says so
/// and goes on (a development run; the enclave image runs as root).
fn harden() -> anyhow::Result<()> {
    use rustix::process::{setrlimit, Resource, Rlimit};
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )
    .context("RLIMIT_CORE")?;
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .context("PR_SET_DUMPABLE")?;
    if let Err(e) =
        rustix::mm::mlockall(rustix::mm::MlockAllFlags::CURRENT | rustix::mm::MlockAllFlags::FUTURE)
    {
        eprintln!("blindfold-enclave: warning: memory not locked ({e}); keys could be swapped out");
    }
    Ok(())
}

const USAGE: &str = "usage: blindfold-enclave --config FILE --launch FILE

Runs the enclave runtime (docs/enclave.md).
  --config FILE   what the enclave is: JSON measured into PCR 15 (platform,
                  app disk, engine, API)
  --launch FILE   how it is reached: JSON {\"tcti\": ..., \"listen\": ...},
                  not measured (a platform restarted on another port changes
                  nothing a verifier compares)";

fn main() -> std::process::ExitCode {
    if image_init::running_as_init() {
        run_as_init();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return std::process::ExitCode::SUCCESS;
    }
    let (mut config_path, mut launch_path) = (None, None);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let slot = match flag.as_str() {
            "--config" => &mut config_path,
            "--launch" => &mut launch_path,
            _ => {
                eprintln!("blindfold-enclave: unknown argument {flag}\n\n{USAGE}");
                return std::process::ExitCode::from(2);
            }
        };
        *slot = rest.next().map(PathBuf::from);
    }
    let (Some(config_path), Some(launch_path)) = (config_path, launch_path) else {
        eprintln!("{USAGE}");
        return std::process::ExitCode::from(2);
    };
    match run(&config_path, &launch_path) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("blindfold-enclave: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

/// Request ids, routes, statuses, token counts and timings; never bodies
/// (`docs/engine.md`, Privacy). RUST_LOG filters (default: info).
fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

/// PID 1 of a measured image (`docs/image.md`): never returns. Any failure,
/// a panic included, powers the machine off: nothing half-started serves.
fn run_as_init() -> ! {
    std::panic::set_hook(Box::new(|info| {
        // The location only: a panic message could carry request data.
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("blindfold-enclave: panic{at}; powering off");
        image_init::power_off();
    }));
    if let Err(e) = run_image() {
        eprintln!("blindfold-enclave: {e:#}; powering off");
    }
    image_init::power_off()
}

/// The TPM inside a measured image (the kernel's resource manager).
const IMAGE_TCTI: &str = "device:/dev/tpmrm0";

fn run_image() -> anyhow::Result<()> {
    harden()?;
    init_logging();
    let boot = image_init::boot()?;
    let net = boot
        .config
        .network
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the image's configuration sets no network"))?;
    let mut tpm = blindfold_attester::Tpm::open(IMAGE_TCTI).context("opening the TPM")?;
    let mut state = measure::measure_verified(
        &mut tpm,
        IMAGE_TCTI,
        &boot.config,
        None,
        &boot.root_hash,
        &boot.raw_config,
        Some(boot.firmware_log),
    )
    .context("measuring at start (serving nothing)")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // Ctrl-Alt-Del (what `vm run` sends when it is stopped) powers off in
    // order: the kernel then sends TPM2_Shutdown, so the next boot's
    // TPM2_Startup is orderly and does not count against the TPM's
    // dictionary-attack protection.
    runtime.block_on(image_init::power_off_on_ctrl_alt_del())?;
    let network = runtime
        .block_on(image_net::configure(&net))
        .context("setting up the network")?;
    let dhcp = network.dhcp.is_some();
    let mut allowed = net.allowed()?;
    // The metadata service only for the platforms whose report needs it
    // (Azure confidential VMs): the measured platform name decides.
    let imds = platform_report::needs_imds(&state.layout);
    if imds {
        allowed.push(platform_report::IMDS);
    }
    image_firewall::apply(&image_firewall::Policy {
        loopback: network.loopback,
        listen_port: net.listen_port,
        allowed,
        dhcp,
    })
    .context("setting the firewall")?;
    let (address, prefix) = network.address;
    eprintln!(
        "blindfold-enclave: network up on {} ({address}/{prefix}{}), default deny: inbound TCP {} only, outbound {} destination(s){}",
        network.interface,
        if dhcp { " from DHCP" } else { "" },
        net.listen_port,
        net.allow_outbound.len(),
        if dhcp { " and DHCP" } else { "" },
    );
    if let Some((socket, mac, lease)) = network.dhcp {
        // The lease is kept for as long as the enclave serves; losing it
        // stops the machine, like any other failure of PID 1.
        runtime.spawn(async move {
            let e = image_dhcp::keep(socket, mac, lease).await;
            eprintln!("blindfold-enclave: {e:#}; powering off");
            image_init::power_off();
        });
    }
    if imds {
        state.platform_report = runtime
            .block_on(platform_report::collect(
                &mut tpm,
                &state.layout,
                platform_report::IMDS,
            ))
            .context("collecting the platform report")?;
    }
    #[cfg(debug_assertions)]
    runtime.block_on(image_net::probe(&net));
    serve(
        runtime,
        tpm,
        state,
        &boot.config,
        format!("0.0.0.0:{}", net.listen_port),
        "image",
    )
}

fn run(config_path: &std::path::Path, launch_path: &std::path::Path) -> anyhow::Result<()> {
    harden()?;
    init_logging();
    let raw = std::fs::read(config_path).with_context(|| format!("reading {}", config_path.display()))?;
    let config = blindfold_enclave_config::EnclaveConfig::parse(&raw)?;
    let launch = std::fs::read(launch_path).with_context(|| format!("reading {}", launch_path.display()))?;
    let launch = blindfold_enclave_config::LaunchConfig::parse(&launch).context("launch configuration")?;
    let mut tpm = blindfold_attester::Tpm::open(&launch.tcti).context("opening the TPM")?;
    let state = measure::measure_at_start(&mut tpm, &launch.tcti, &config, &raw)
        .context("measuring at start (serving nothing)")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    serve(runtime, tpm, state, &config, launch.listen, "process")
}

/// Loads the model (if any), measures it, and serves until the server
/// stops.
fn serve(
    runtime: tokio::runtime::Runtime,
    mut tpm: blindfold_attester::Tpm,
    mut state: measure::StartState,
    config: &blindfold_enclave_config::EnclaveConfig,
    listen: String,
    mode: &'static str,
) -> anyhow::Result<()> {
    let mut upstream_process = None;
    let api = match &config.engine {
        Some(engine) => {
            // A sealed model: fetched, its key released by attestation
            // (after `ready`, before any model event), opened in memory.
            let weights = match &config.sealed_model {
                Some(sealed) => Some(
                    runtime
                        .block_on(sealed_model::open(&mut tpm, &state, sealed))
                        .context("loading the sealed model (serving nothing)")?,
                ),
                None => None,
            };
            let started = runtime
                .block_on(engines::start(engine, weights))
                .context("starting the inference engine (serving nothing)")?;
            if let Some(sha256) = &started.weights_sha256 {
                measure::measure_model(&mut tpm, &mut state, engine.model_id(), sha256)
                    .context("measuring the model (serving nothing)")?;
            }
            eprintln!("blindfold-enclave: model `{}` loaded", engine.model_id());
            // The upstream process lives as long as the enclave (dropping
            // its handle would kill it).
            upstream_process = started.upstream_process;
            Some(
                blindfold_api::router(started.engine, &config.api)
                    .map_err(|e| anyhow::anyhow!("api: {e}"))?,
            )
        }
        None => None,
    };
    // Every answer is signed by a per-boot key whose quote names the model
    // just measured.
    let receipts = match &api {
        Some(_) => Some(Arc::new(
            receipts::Receipts::start(&mut tpm, &state, config.api.body_limit)
                .context("making the receipt key (serving nothing)")?,
        )),
        None => None,
    };
    let shared = Arc::new(server::Shared {
        tpm: Mutex::new(tpm),
        state,
        limiter: server::RateLimiter::new(config.evidence_per_second),
        idle_timeout: config.idle_timeout(),
        api,
        receipts,
        environment: server::Environment {
            started: std::time::Instant::now(),
            engine: match &config.engine {
                Some(blindfold_engine::EngineConfig::Embedded(_)) => "embedded",
                Some(blindfold_engine::EngineConfig::Upstream(_)) => "upstream",
                None => "none",
            },
            model_id: config.engine.as_ref().map(|e| e.model_id().to_string()),
            mode,
        },
    });
    let served = runtime.block_on(server::serve(listen, shared));
    drop(upstream_process);
    served
}
