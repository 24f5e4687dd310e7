//! `blindfold image build`: a measured enclave image from `image.toml`
//! (`blindfold-image`), with a spinner on each slow step; `blindfold image
//! export`: its disk in a cloud's import format.

use anyhow::anyhow;
use blindfold_image::{ImageSpec, Step};
use indicatif::ProgressBar;

use crate::args::{CloudTarget, ImageBuildArgs, ImageExportArgs};
use crate::exit::{say, unusable, Failure};

pub fn build(args: &ImageBuildArgs) -> Result<(), Failure> {
    let spec = ImageSpec::read(&args.config).map_err(|e| unusable(e, args.config.display()))?;
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
    let built = blindfold_image::build(&spec, &args.output, args.source_date_epoch, &mut on_step);
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
    Ok(())
}
