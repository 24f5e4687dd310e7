//! `blindfold image build`: a measured enclave image from `image.toml`
//! (`blindfold-image`), with a spinner on each slow step.

use anyhow::anyhow;
use blindfold_image::{ImageSpec, Step};
use indicatif::ProgressBar;

use crate::args::ImageBuildArgs;
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
