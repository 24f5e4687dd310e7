//! `blindfold platform init|start|stop`.

use anyhow::anyhow;
use blindfold_attester::AkAlgorithm;
use blindfold_dev_platform as platform;

use crate::args::{PlatformDirArgs, PlatformInitArgs};
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
