//! `blindfold enclave-config`: writes the measured enclave configuration
//! (`EnclaveConfig`, the type the enclave and `measure` read) from an app
//! disk's manifest and, optionally, the model its embedded engine serves.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use blindfold_enclave_config::{EnclaveConfig, SealedModelConfig};
use blindfold_engine::{EmbeddedConfig, EngineConfig};
use blindfold_measure::app_disk::AppDiskManifest;

use crate::args::EnclaveConfigArgs;
use crate::exit::{unusable, Failure};
use crate::inputs;

pub fn enclave_config(args: &EnclaveConfigArgs) -> Result<(), Failure> {
    let manifest: AppDiskManifest = serde_json::from_slice(&inputs::read(&args.app_disk)?)
        .with_context(|| format!("{} is not an app disk manifest", args.app_disk.display()))
        .map_err(Failure::Unusable)?;
    let image = image_beside(&args.app_disk)?;
    let root_hash = manifest
        .root_hash_bytes()
        .map_err(|e| unusable(e, format!("{}: root hash", args.app_disk.display())))?;
    let mut config = EnclaveConfig::new(args.platform.clone(), image, root_hash, manifest.hash_offset);
    if let (Some(model), Some(model_id)) = (&args.model, &args.model_id) {
        config.engine = Some(EngineConfig::Embedded(EmbeddedConfig {
            gguf: Some(absolute(model)?),
            model_id: model_id.clone(),
            max_batch: None,
            queue_capacity: None,
            default_max_tokens: None,
        }));
    }
    if let (Some(name), Some(store), Some(broker), Some(spki)) = (
        &args.sealed_model,
        &args.store,
        &args.broker,
        &args.broker_spki_sha256,
    ) {
        let broker_spki_sha256 = hex::decode(spki).ok().filter(|d| d.len() == 32).ok_or_else(|| {
            Failure::Unusable(anyhow!("the broker's SPKI SHA-256 {spki} is not 64 hex digits"))
        })?;
        let manifest = crate::model_cmd::stored_manifest(store, name)?;
        let plaintext_sha256 = hex::decode(&manifest.plaintext_sha256).map_err(|_| {
            Failure::Unusable(anyhow!(
                "the stored manifest of {name} has a digest that is not hex"
            ))
        })?;
        config.engine = Some(EngineConfig::Embedded(EmbeddedConfig {
            gguf: None,
            model_id: name.clone(),
            max_batch: None,
            queue_capacity: None,
            default_max_tokens: None,
        }));
        config.sealed_model = Some(SealedModelConfig {
            store: store.clone(),
            name: name.clone(),
            plaintext_sha256,
            broker: broker.clone(),
            broker_spki_sha256,
            store_settings: Default::default(),
        });
    }
    let bytes = config
        .to_bytes()
        .map_err(|e| unusable(e, "the configuration cannot be written as JSON"))?;
    std::fs::write(&args.output, bytes)
        .map_err(|e| unusable(e, format!("cannot write {}", args.output.display())))?;
    eprintln!(
        "blindfold: wrote {} (measured into PCR 15: measure it with the app disk's manifest)",
        args.output.display()
    );
    Ok(())
}

/// The image a manifest describes: IMAGE.json sits beside IMAGE.
fn image_beside(manifest: &Path) -> Result<PathBuf, Failure> {
    let name = manifest.to_string_lossy();
    let image = name.strip_suffix(".json").ok_or_else(|| {
        Failure::Unusable(anyhow!(
            "{name}: an app disk manifest is named IMAGE.json, beside its image; this name does not end in .json"
        ))
    })?;
    let image = absolute(Path::new(image))?;
    if !image.is_file() {
        return Err(Failure::Unusable(anyhow!(
            "{}: the app disk image this manifest describes is not there",
            image.display()
        )));
    }
    Ok(image)
}

/// An existing file's absolute path, so the enclave finds it from any
/// working directory.
fn absolute(path: &Path) -> Result<PathBuf, Failure> {
    std::fs::canonicalize(path).map_err(|e| unusable(e, format!("cannot find {}", path.display())))
}
