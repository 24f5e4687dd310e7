//! `blindfold image build`: a measured enclave image from `image.toml`
//! (`blindfold-image`), with a spinner on each slow step; `blindfold image
//! export`: its disk in a cloud's import format.

use anyhow::anyhow;
use blindfold_image::{ImageSpec, SigningIdentity, Step};
use indicatif::ProgressBar;

use crate::args::{CloudTarget, ImageBuildArgs, ImageExportArgs};
use crate::exit::{say, unusable, Failure};

pub fn build(args: &ImageBuildArgs) -> Result<(), Failure> {
    let spec = ImageSpec::read(&args.config).map_err(|e| unusable(e, args.config.display()))?;
    let signer = match &args.sign {
        Some((key, cert)) => Some(signing_identity(key, cert)?),
        None => None,
    };
    let mut bar: Option<ProgressBar> = None;
    let mut on_step = |step: Step| {
        if let Some(b) = bar.take() {
            b.finish_and_clear();
        }
        bar = Some(crate::demo_cmd::step(match step {
            Step::AppDisk => "app disk (erofs + dm-verity)",
            Step::Initrd => "initrd (enclave, libraries, modules)",
            Step::Uki => "UKI",
            Step::Disk => "ESP and GPT disk",
        }));
    };
    let built = blindfold_image::build(
        &spec,
        &args.output,
        args.source_date_epoch,
        signer.as_ref(),
        &mut on_step,
    );
    if let Some(b) = bar.take() {
        b.finish_and_clear();
    }
    let image = built.map_err(|e| unusable(e, "building the image"))?;
    if args.json {
        let text = serde_json::to_string_pretty(&image).map_err(|e| Failure::Unusable(anyhow!(e)))?;
        say!("{text}");
    } else {
        say!(
            "wrote {} (disk.img {} MiB, UKI {} MiB); app disk root hash {}; modules: {}",
            args.output.display(),
            image.sizes.get("disk").copied().unwrap_or(0) >> 20,
            image.sizes.get("uki").copied().unwrap_or(0) >> 20,
            image.app_disk_root_hash,
            image.modules.join(" ")
        );
    }
    Ok(())
}

/// The Secure Boot signing key and certificate from their PEM files (the
/// key is read here and never printed).
fn signing_identity(key: &std::path::Path, cert: &std::path::Path) -> Result<SigningIdentity, Failure> {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map_err(|e| unusable(anyhow!("{}: {e}", path.display()), "reading the signing identity"))
    };
    let key_pem = zeroize::Zeroizing::new(read(key)?);
    SigningIdentity::from_pem(&key_pem, &read(cert)?).map_err(|e| unusable(e, "the signing identity"))
}

pub fn export(args: &ImageExportArgs) -> Result<(), Failure> {
    let disk = args.image.join(blindfold_image::outputs::DISK);
    if !disk.is_file() {
        return Err(unusable(
            anyhow!(
                "{} has no {}",
                args.image.display(),
                blindfold_image::outputs::DISK
            ),
            "reading the image",
        ));
    }
    let cloud = match args.target {
        CloudTarget::Azure => blindfold_image::export::Cloud::Azure,
        CloudTarget::Aws => blindfold_image::export::Cloud::Aws,
        CloudTarget::Gcp => blindfold_image::export::Cloud::Gcp,
    };
    let bar = crate::demo_cmd::step(cloud.form());
    let written = blindfold_image::export::export(&disk, cloud, &args.output, args.source_date_epoch);
    bar.finish_and_clear();
    let written = written.map_err(|e| unusable(e, "exporting the image"))?;
    let size = std::fs::metadata(&written).map(|m| m.len()).unwrap_or(0);
    say!("wrote {} ({} MiB)", written.display(), size >> 20);
    let (name, platform) = match args.target {
        CloudTarget::Azure => ("azure", "azure-vtpm"),
        CloudTarget::Aws => ("aws", "aws-nitrotpm"),
        CloudTarget::Gcp => ("gcp", "gcp-vtpm"),
    };
    match &args.firmware_log {
        Some(log) => crate::measure_cmd::measure(&crate::args::MeasureArgs {
            image: Some(args.image.clone()),
            uki: None,
            app_disk: None,
            firmware_log: Some(log.clone()),
            format: "blindfold".into(),
            stub_version: None,
            enclave_config: None,
            enclave_binary: None,
            sign: None,
            bundle_version: 1,
            expires_in: None,
            output: args.output.join("measurements.json"),
        }),
        None => {
            say!(
                "no measurements.json: PCRs 0-3 and 7 are this cloud's firmware's, captured once from a reference boot of this image there (the platform as its configuration names it: {platform}, or azure-snp / azure-tdx on an Azure confidential VM):\n  blindfold platform capture https://INSTANCE:PORT --platform {platform} -o {name}-reference.log --wait 300\nthen run this export again with --firmware-log {name}-reference.log"
            );
            Ok(())
        }
    }
}
