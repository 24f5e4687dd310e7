//! `blindfold platform init|start|stop|capture`.

use anyhow::anyhow;
use blindfold_attester::AkAlgorithm;
use blindfold_dev_platform as platform;

use crate::args::{PlatformCaptureArgs, PlatformDirArgs, PlatformInitArgs};
use crate::exit::{say, unusable, Failure};

pub fn init(args: &PlatformInitArgs) -> Result<(), Failure> {
    let alg = match args.ak.as_str() {
        "rsa" => AkAlgorithm::Rsa2048,
        "ecc" => AkAlgorithm::EccP256,
        other => return Err(Failure::Unusable(anyhow!("--ak {other} (rsa or ecc)"))),
    };
    let info = platform::init(&args.dir, alg).map_err(|e| unusable(e, args.dir.display()))?;
    say!(
        "local platform in {} (development only: whoever holds this directory can forge quotes)",
        args.dir.display()
    );
    say!(
        "platform CA: {} (give it to verifiers with --platform-ca)",
        info.ca_pem.display()
    );
    say!(
        "AK certificate: {} (also in NV 0x01C101D0)",
        info.ak_cert_pem.display()
    );
    Ok(())
}

pub fn start(args: &PlatformDirArgs) -> Result<(), Failure> {
    let running = platform::start(&args.dir).map_err(|e| unusable(e, args.dir.display()))?;
    say!("{}", running.detach());
    Ok(())
}

pub fn stop(args: &PlatformDirArgs) -> Result<(), Failure> {
    let pid_file = args.dir.join("swtpm.pid");
    let pid = std::fs::read_to_string(&pid_file)
        .map_err(|e| unusable(e, format!("{} (not started?)", pid_file.display())))?;
    if let Ok(tcti) = std::fs::read_to_string(args.dir.join("tcti")) {
        platform::orderly_shutdown(tcti.trim());
    }
    let out = std::process::Command::new("kill")
        .arg(pid.trim())
        .output()
        .map_err(|e| unusable(e, "kill"))?;
    if !out.status.success() {
        return Err(Failure::Unusable(anyhow!("swtpm {} is not running", pid.trim())));
    }
    let _ = std::fs::remove_file(&pid_file);
    let _ = std::fs::remove_file(args.dir.join("tcti"));
    say!("stopped swtpm {}", pid.trim());
    Ok(())
}

/// Takes the firmware's event log from the evidence of an enclave on a
/// cloud instance (or a development platform), verified but not appraised.
pub fn capture(args: &PlatformCaptureArgs) -> Result<(), Failure> {
    use blindfold_atls::ReferenceAnchor;
    let certificates = |path: &std::path::Path| -> Result<Vec<blindfold_x509::Certificate>, Failure> {
        blindfold_x509::parse_certificates(&crate::inputs::read(path)?)
            .map_err(|e| unusable(e, path.display()))
    };
    let anchor = match (&args.platform, &args.platform_ca) {
        (Some(p), _) if p.trust_basis() == blindfold_attest::TrustBasis::Development => {
            return Err(Failure::Unusable(anyhow!(
                "{p} is a development platform: take its reference with `blindfold platform reference`, or give its CA"
            )))
        }
        (Some(platform), _) => ReferenceAnchor::Cloud {
            platform: *platform,
            ak_intermediates: match &args.ak_intermediates {
                Some(path) => certificates(path)?,
                None => Vec::new(),
            },
        },
        (None, Some(ca)) => ReferenceAnchor::PlatformCa(certificates(ca)?),
        (None, None) => return Err(Failure::Unusable(anyhow!("no trust anchor for the evidence"))),
    };
    let address = blindfold_client::address_of(&args.url);
    let rt = crate::verify_cmd::runtime()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(args.wait);
    let evidence = rt.block_on(async {
        loop {
            match blindfold_atls::reference_evidence(&address, anchor.clone()).await {
                Ok((evidence, _verified)) => break Ok(evidence),
                // Still booting (or not serving yet): try again.
                Err(_) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
                Err(e) => {
                    break Err(Failure::CheckFailed(
                        anyhow!(e).context(format!("capturing from {address}")),
                    ))
                }
            }
        }
    })?;
    let log = evidence
        .event_log
        .ok_or_else(|| Failure::Unusable(anyhow!("the enclave's evidence carries no firmware event log")))?;
    std::fs::write(&args.output, &log).map_err(|e| unusable(e, args.output.display()))?;
    say!(
        "wrote {} ({} bytes): the firmware's event log of {address}, replayed to its verified quote; PCRs 0-3 and 7 for `blindfold image export --firmware-log` or `blindfold measure --firmware-log`",
        args.output.display(),
        log.len()
    );
    Ok(())
}
