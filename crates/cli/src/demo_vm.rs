//! `blindfold demo --vm`: the demo with a measured enclave image instead
//! of a process.
//!
//! Steps (each named if it fails): the image (`image build`: UKI whose
//! initrd holds the enclave beside this program, an app disk with the
//! packaged model), the local platform and its firmware reference (a
//! reference boot; both kept in the cache, so only the first run boots
//! twice), the publisher's signed measurements of the image (PCR 4, 9, 11,
//! 12, 13 predicted at build time, PCR 0-3 and 7 from the reference, PCR 15
//! from the app disk and configuration), the boot (QEMU + OVMF + swtpm,
//! KVM when it works, else TCG), verification with the measured-boot
//! reference alone (no development reference: only the development
//! platform is accepted, because the local CA can forge), and one prompt
//! answered over the attested session. The VM and its swtpm are stopped
//! and the working directory deleted at the end, whatever happened.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use blindfold_attest::{AcceptPolicy, DevelopmentPlatform, DevelopmentReference};
use blindfold_client::{Client, ClientError, Trust, TrustFiles};

use crate::args::{DemoArgs, VmArgs};
use crate::demo_cmd::{blindfold, cache_dir, done, in_step, step, working_dir, MODEL_ID};
use crate::exit::{say, Failure};
use crate::verify_cmd::{failure, print_report, runtime};

/// How long the boot may take to serve evidence (TCG is slow).
const BOOT_WAIT: Duration = Duration::from_secs(300);
/// The enclave's address inside the VM (QEMU's user network) and port.
const GUEST_NETWORK: &str = r#"{"address": "10.0.2.15/24", "gateway": "10.0.2.2", "listen_port": 8443}"#;

/// A free port on 127.0.0.1 for the forwarded API.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Writes the image description (and the enclave's configuration beside
/// it) into `dir`; returns the description's path.
fn write_image_spec(dir: &Path, enclave: &Path, model: &Path) -> anyhow::Result<PathBuf> {
    let config = format!(
        r#"{{"platform": "local", "network": {GUEST_NETWORK},
  "engine": {{"embedded": {{"gguf": "/app/model.gguf", "model_id": "{MODEL_ID}"}}}}}}
"#
    );
    std::fs::write(dir.join("enclave.json"), config)?;
    let quote = |p: &Path| {
        format!(
            "\"{}\"",
            p.display().to_string().replace('\\', "\\\\").replace('"', "\\\"")
        )
    };
    let spec = format!(
        "[kernel]\ndir = {}\n[boot]\nstub = \"/usr/lib/systemd/boot/efi/linuxx64.efi.stub\"\n\
         [enclave]\nbinary = {}\nconfig = \"enclave.json\"\n[app.files]\n\"model.gguf\" = {}\n",
        quote(&blindfold_image::default_kernel_dir()),
        quote(enclave),
        quote(model),
    );
    let path = dir.join("image.toml");
    std::fs::write(&path, spec)?;
    Ok(path)
}

/// The local platform and its firmware reference, kept in the cache: the
/// reference boot runs once per machine (PCR 0-3 and 7 depend on OVMF and
/// the QEMU command line, not on the image).
fn platform_and_reference(image: &Path) -> Result<(PathBuf, PathBuf), Failure> {
    let state = cache_dir().join("demo-vm");
    let platform = state.join("platform");
    let firmware = state.join("firmware.log");
    if !platform.join("ca.pem").is_file() {
        let bar = step("local platform for VMs: swtpm state, platform CA, attestation key");
        in_step(
            "local platform",
            (|| {
                let _ = std::fs::remove_dir_all(&platform);
                std::fs::create_dir_all(&state)?;
                blindfold_dev_platform::init(&platform, blindfold_attester::AkAlgorithm::Rsa2048)?;
                let _ = std::fs::remove_file(&firmware);
                Ok(())
            })(),
        )?;
        done(bar, format!("local platform in {}", platform.display()));
    }
    if !firmware.is_file() {
        let bar = step("reference boot: the firmware's PCR 0-3 and 7 on this platform (once per machine)");
        let partial = firmware.with_extension("part");
        let port = in_step("port", free_port())?.to_string();
        in_step(
            "reference boot",
            blindfold(&[
                "platform".as_ref(),
                "reference".as_ref(),
                image.as_os_str(),
                "--platform".as_ref(),
                platform.as_os_str(),
                "--port".as_ref(),
                port.as_ref(),
                "-o".as_ref(),
                partial.as_os_str(),
            ])
            .and_then(|_| Ok(std::fs::rename(&partial, &firmware)?)),
        )?;
        done(bar, format!("firmware reference kept in {}", firmware.display()));
    }
    Ok((platform, firmware))
}

pub fn demo_vm(args: &DemoArgs, model: &Path, enclave_bin: &Path) -> Result<(), Failure> {
    let cleanup = working_dir("blindfold demo --vm", args.keep)?;
    let dir = cleanup.dir.clone();

    let bar = step("measured image: UKI (kernel, initrd with the enclave as PID 1), app disk with the model");
    let image = dir.join("image");
    in_step(
        "image",
        write_image_spec(&dir, enclave_bin, model).and_then(|spec| {
            blindfold(&[
                "image".as_ref(),
                "build".as_ref(),
                "--config".as_ref(),
                spec.as_os_str(),
                "-o".as_ref(),
                image.as_os_str(),
            ])
        }),
    )?;
    done(bar, format!("image built in {}", image.display()));

    let (platform, firmware) = platform_and_reference(&image)?;

    let bar = step("signed measurements predicted from the image (PCR 4, 9, 11, 12, 13, 15)");
    let measurements = dir.join("measurements.json");
    in_step(
        "measurements",
        blindfold(&[
            "keygen".as_ref(),
            "-o".as_ref(),
            dir.join("publisher").as_os_str(),
        ])
        .and_then(|_| {
            blindfold(&[
                "measure".as_ref(),
                "--image".as_ref(),
                image.as_os_str(),
                "--firmware-log".as_ref(),
                firmware.as_os_str(),
                "--sign".as_ref(),
                dir.join("publisher.key").as_os_str(),
                "-o".as_ref(),
                measurements.as_os_str(),
            ])
        }),
    )?;
    done(
        bar,
        "measurements.json (measured boot) signed by the publisher key".into(),
    );

    let trust = Trust::from_files(&TrustFiles {
        reference: measurements,
        publisher_key: Some(dir.join("publisher.pub")),
        reference_unsigned: false,
        min_bundle_version: 0,
        platform_ca: Some(platform.join("ca.pem")),
        ak_intermediates: None,
        accept: AcceptPolicy {
            development_platform: DevelopmentPlatform::Allowed,
            development_reference: DevelopmentReference::Refused,
            ..AcceptPolicy::default()
        },
        state_dir: None,
        freshness: Default::default(),
    })
    .map_err(|e| failure(e).context("demo step \"trust\" failed"))?;

    let port = in_step("port", free_port())?;
    let rt = runtime()?;
    rt.block_on(async {
        let bar = step("booting the image (QEMU + OVMF + swtpm) and attesting the TLS session");
        let mut vm = in_step(
            "boot",
            crate::vm_cmd::boot(&VmArgs {
                image: image.clone(),
                platform: platform.clone(),
                port,
                console: Some(dir.join("console.log")),
                forward: Vec::new(),
                inbound: Vec::new(),
                efi_vars: None,
                secure_boot: false,
                disk_bus: crate::args::DiskBus::Virtio,
                memory: 2048,
                cpus: 2,
            })
            .await,
        )?;
        // Whatever happens next, the VM is powered off in order (an
        // unorderly stop counts against the kept platform's TPM).
        let result = ask(&mut vm, bar, trust, args).await;
        vm.power_off().await;
        result
    })?;
    eprintln!(
        "✓ stopped the VM and its swtpm{}",
        if args.keep {
            ""
        } else {
            ", removed the working directory"
        }
    );
    Ok(())
}

/// Waits for the booted image's evidence, then prints the report and one
/// answer over the attested session.
async fn ask(
    vm: &mut crate::vm_cmd::RunningVm,
    bar: indicatif::ProgressBar,
    trust: Trust,
    args: &DemoArgs,
) -> Result<(), Failure> {
    let accel = if vm.accel == crate::vm_cmd::Accel::Kvm {
        "KVM"
    } else {
        "TCG"
    };
    let started = Instant::now();
    let client = loop {
        match Client::connect(&vm.addr, trust.clone()).await {
            Ok(client) => break client,
            Err(ClientError::Attestation(blindfold_atls::Error::Connect(_)))
                if started.elapsed() < BOOT_WAIT && !vm.exited() =>
            {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(failure(e).context("demo step \"verification\" failed")),
        }
    };
    done(
        bar,
        format!(
            "booted and verified in {:.0} s ({accel}): measured boot, no development reference",
            started.elapsed().as_secs_f64()
        ),
    );
    say!("");
    print_report(&client.report());
    say!("");
    crate::demo_cmd::answer(&client, args).await?;
    Ok(())
}
