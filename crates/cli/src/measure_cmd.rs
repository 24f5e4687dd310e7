//! `blindfold pe hash`, `blindfold uki inspect`, `blindfold measure`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, Context};
use blindfold_attest::bundle::{BundlePayload, BUNDLE_VERSION};
use blindfold_attest::{PcrReference, ReferenceFormat, ReferenceKind, ReferenceValues};
use blindfold_crypto::{default_provider, Digest, HashAlg};
use blindfold_enclave_config::EnclaveConfig;
use blindfold_eventlog::{replay, EventLog, ReplayOptions};
use blindfold_measure::pe::{authenticode, PeImage};
use blindfold_measure::predict::{predict_uki_boot, secure_boot_state, BootInputs, SecureBootState};
use blindfold_measure::uki::{measured_sections, stub_version, StubVersion};
use blindfold_protocol::{runtime_events, RuntimeEvent, RuntimeLog};
use blindfold_tpm::PcrIndex;
use serde::Serialize;

use crate::args::{DiskBuildArgs, MeasureArgs, PeHashArgs, UkiBuildArgs, UkiInspectArgs};
use crate::eventlog_cmd::pretty;
use crate::exit::{say, unusable, Failure};
use crate::inputs;

fn alg(name: &str) -> Result<HashAlg, Failure> {
    HashAlg::from_name(name)
        .filter(|h| {
            matches!(
                h,
                HashAlg::Sha256 | HashAlg::Sha384 | HashAlg::Sha1 | HashAlg::Sha512
            )
        })
        .ok_or_else(|| Failure::Unusable(anyhow!("unknown digest {name} (sha256, sha384)")))
}

pub fn pe_hash(args: &PeHashArgs) -> Result<(), Failure> {
    let bytes = inputs::read(&args.file)?;
    let d = authenticode(&bytes, alg(&args.alg)?).map_err(|e| unusable(e, args.file.display()))?;
    say!("{d}  {}", args.file.display());
    Ok(())
}

/// `uki inspect --json`.
#[derive(Serialize)]
struct UkiReport {
    file: String,
    pe: &'static str,
    timestamp: u32,
    stub: Option<String>,
    authenticode_sha256: String,
    sections: Vec<SectionReport>,
}

/// One PE section of a [`UkiReport`].
#[derive(Serialize)]
struct SectionReport {
    name: String,
    virtual_size: u32,
    virtual_address: u32,
    raw_size: u32,
    raw_offset: u32,
    measured_into_pcr11: bool,
    sha256: String,
}

pub fn uki_inspect(args: &UkiInspectArgs) -> Result<(), Failure> {
    let bytes = inputs::read(&args.file)?;
    let pe = PeImage::parse(&bytes).map_err(|e| unusable(e, args.file.display()))?;
    let stub = stub_version(&bytes, &pe).ok();
    let measured: Vec<&str> = stub
        .as_ref()
        .map(|s| measured_sections(&pe, s))
        .unwrap_or_default();
    let provider = default_provider();
    let sections: Vec<SectionReport> = pe
        .sections
        .iter()
        .map(|s| SectionReport {
            name: s.name.clone(),
            virtual_size: s.virtual_size,
            virtual_address: s.virtual_address,
            raw_size: s.raw_size,
            raw_offset: s.raw_offset,
            measured_into_pcr11: measured.contains(&s.name.as_str()),
            sha256: provider
                .hash(HashAlg::Sha256, &[&pe.section_data(&bytes, s)])
                .to_hex(),
        })
        .collect();
    let uki = authenticode(&bytes, HashAlg::Sha256).map_err(|e| unusable(e, args.file.display()))?;
    let report = UkiReport {
        file: args.file.display().to_string(),
        pe: if pe.magic == 0x20b { "PE32+" } else { "PE32" },
        timestamp: pe.timestamp,
        stub: stub.as_ref().map(|s| s.text.clone()),
        authenticode_sha256: uki.to_hex(),
        sections,
    };
    if args.json {
        say!("{}", pretty(&report));
        return Ok(());
    }
    say!(
        "{}: {} , stub: {}",
        args.file.display(),
        report.pe,
        report.stub.as_deref().unwrap_or("(no .sdmagic)")
    );
    say!("authenticode sha256: {uki}");
    say!(
        "{:<10} {:>10} {:>12} {:>10}  {:<5} sha256 (data over VirtualSize)",
        "section",
        "vsize",
        "vma",
        "file off",
        "pcr11"
    );
    for s in &report.sections {
        say!(
            "{:<10} {:>10} {:>#12x} {:>#10x}  {:<5} {}",
            s.name,
            s.virtual_size,
            s.virtual_address,
            s.raw_offset,
            if s.measured_into_pcr11 { "yes" } else { "" },
            s.sha256
        );
    }
    Ok(())
}

fn set(pcrs: &mut BTreeMap<(HashAlg, PcrIndex), PcrReference>, value: Digest, index: u32) {
    pcrs.insert(
        (value.alg(), PcrIndex(index)),
        PcrReference {
            allowed: vec![value],
            revoked: vec![],
        },
    );
}

/// The part of an app disk's manifest (`blindfold_measure::app_disk::AppDiskManifest`,
/// or a hand-written file with just the root hash) that `measure` reads.
#[derive(serde::Deserialize)]
struct AppDiskRoot {
    root_hash: String,
}

/// The SHA-256 of a file an image's configuration names on its app disk
/// (`/app/NAME`), as the image's `image.json` records it.
fn image_file_sha256(image: &std::path::Path, in_vm: &std::path::Path) -> Result<Vec<u8>, Failure> {
    let manifest: blindfold_image::ImageManifest =
        serde_json::from_slice(&inputs::read(&image.join(blindfold_image::outputs::MANIFEST))?)
            .map_err(|e| unusable(e, image.join(blindfold_image::outputs::MANIFEST).display()))?;
    let name = in_vm.strip_prefix(blindfold_image::APP_MOUNT).map_err(|_| {
        Failure::Unusable(anyhow!(
            "{} is not on the app disk ({})",
            in_vm.display(),
            blindfold_image::APP_MOUNT
        ))
    })?;
    let digest = manifest
        .inputs
        .get(&format!("app/{}", name.display()))
        .ok_or_else(|| Failure::Unusable(anyhow!("the image's app disk has no file {}", name.display())))?;
    inputs::hex_arg(digest).map_err(Failure::Unusable)
}

/// SHA-256 of a file a configuration (`config`) names: on the image's app
/// disk for an image's configuration (as the image's manifest records it),
/// else on this machine.
fn file_sha256(
    image: Option<&Path>,
    in_image: bool,
    file: &Path,
    config: &Path,
) -> Result<[u8; 32], Failure> {
    let digest = if in_image {
        let image = image.ok_or_else(|| {
            Failure::Unusable(anyhow!(
                "{}: the configuration names {} on an image's app disk: measure the image",
                config.display(),
                file.display()
            ))
        })?;
        image_file_sha256(image, file)?
            .as_slice()
            .try_into()
            .map_err(|_| Failure::Unusable(anyhow!("SHA-256 is 32 bytes")))?
    } else {
        host_file_sha256(file)?
    };
    Ok(digest)
}

/// SHA-256 of a file on this machine.
fn host_file_sha256(file: &Path) -> Result<[u8; 32], Failure> {
    let digest = default_provider().hash(HashAlg::Sha256, &[&inputs::read(file)?]);
    Ok(digest.as_bytes().try_into().expect("SHA-256 is 32 bytes"))
}

/// SHA-256 of the `blindfold-enclave` that will run a process-mode
/// configuration: `given`, else the one beside this program.
fn enclave_binary_sha256(given: Option<&Path>) -> Result<[u8; 32], Failure> {
    let path = match given {
        Some(path) => path.to_path_buf(),
        None => {
            let beside = std::env::current_exe()
                .map_err(|e| Failure::Unusable(anyhow!("finding this program: {e}")))?
                .with_file_name("blindfold-enclave");
            if !beside.is_file() {
                return Err(Failure::Unusable(anyhow!(
                    "a process-mode enclave measures its own executable first, and there is no blindfold-enclave at {}: name the one that will run",
                    beside.display()
                )));
            }
            beside
        }
    };
    host_file_sha256(&path)
}

pub fn measure(args: &MeasureArgs) -> Result<(), Failure> {
    let mut args = args.clone();
    if let Some(dir) = &args.image {
        args.uki = Some(dir.join(blindfold_image::outputs::UKI));
        args.app_disk = Some(dir.join(blindfold_image::outputs::APP_DISK_MANIFEST));
        args.enclave_config = Some(dir.join(blindfold_image::outputs::CONFIG));
    }
    let args = &args;
    let format = args.format.as_str();
    let banks: Vec<HashAlg> = match format {
        "blindfold" => vec![HashAlg::Sha256, HashAlg::Sha384],
        "blindllama" => vec![HashAlg::Sha256],
        "nitro" => vec![HashAlg::Sha384],
        other => {
            return Err(Failure::Unusable(anyhow!(
                "--format {other} (blindfold, blindllama, nitro)"
            )))
        }
    };
    let mut pcrs = BTreeMap::new();

    let app_root = match &args.app_disk {
        Some(path) => {
            let manifest: AppDiskRoot = serde_json::from_slice(&inputs::read(path)?)
                .with_context(|| format!("--app-disk {}", path.display()))
                .map_err(Failure::Unusable)?;
            Some(inputs::hex_arg(&manifest.root_hash).map_err(Failure::Unusable)?)
        }
        None => None,
    };
    // PCR 15: the runtime's events (app disk; with the enclave's
    // configuration also its digest and the ready separator), kept in the
    // reference so a verifier can name the event that differs.
    let mut expected_events = Vec::new();
    if let Some(root) = &app_root {
        let mut events = vec![RuntimeEvent::AppDisk {
            root_hash: root.clone(),
        }];
        if let Some(path) = &args.enclave_config {
            let config = inputs::read(path)?;
            let parsed = EnclaveConfig::parse(&config).map_err(|e| unusable(e, path.display()))?;
            // In process mode the enclave measures its own executable first
            // (an image's is in its initrd, PCR 4).
            let binary = if parsed.is_image() {
                None
            } else {
                Some(enclave_binary_sha256(args.enclave_binary.as_deref())?)
            };
            events = runtime_events(binary.as_ref(), root, &config);
            // A process-mode configuration names its app disk's root hash;
            // an image's lives on the app disk and names none.
            if !parsed.is_image() && parsed.app_disk_root_hash != *root {
                return Err(Failure::Unusable(anyhow!(
                    "{}: its app disk root hash {} differs from the app disk's {}; the enclave would refuse to start",
                    path.display(),
                    hex::encode(&parsed.app_disk_root_hash),
                    hex::encode(root)
                )));
            }
            // An upstream's weights file, hashed by the enclave before it
            // starts the server.
            if let Some(blindfold_engine::EngineConfig::Upstream(upstream)) = &parsed.engine {
                if let Some(weights) = &upstream.weights {
                    let sha256 = file_sha256(args.image.as_deref(), parsed.is_image(), weights, path)?;
                    events.push(RuntimeEvent::model(&upstream.model_id, &sha256));
                }
            }
            // An embedded engine's model, as the enclave measures it after
            // `ready`: its name and the SHA-256 of the weights file. A
            // sealed model's digest is the one its configuration names
            // (from the owner's manifest): the enclave refuses any other.
            if let Some(blindfold_engine::EngineConfig::Embedded(embedded)) = &parsed.engine {
                let sha256: [u8; 32] = match (&parsed.sealed_model, &embedded.gguf) {
                    (Some(sealed), _) => sealed.plaintext_sha256.as_slice().try_into(),
                    (None, Some(gguf)) => {
                        Ok(file_sha256(args.image.as_deref(), parsed.is_image(), gguf, path)?)
                    }
                    (None, None) => {
                        return Err(Failure::Unusable(anyhow!(
                            "{}: the embedded engine names no weights",
                            path.display()
                        )))
                    }
                }
                .map_err(|_| Failure::Unusable(anyhow!("SHA-256 is 32 bytes")))?;
                events.push(RuntimeEvent::model(&embedded.model_id, &sha256));
            }
        }
        expected_events = events.clone();
        let log = RuntimeLog {
            events,
            banks: banks.clone(),
        };
        for (_, values) in log.replay().banks() {
            for (i, d) in values {
                set(&mut pcrs, *d, i.0);
            }
        }
    }

    let kind = match &args.uki {
        Some(path) => {
            let uki = inputs::read(path)?;
            let log = args.firmware_log.as_ref().ok_or_else(|| {
                Failure::Unusable(anyhow!(
                    "--firmware-log is needed with --uki: PCRs 0-3 and 7 are the firmware's, taken from a reference boot"
                ))
            })?;
            let parsed = EventLog::parse(&inputs::read(log)?).map_err(|e| unusable(e, log.display()))?;
            let secure_boot = secure_boot_state(&parsed);
            if secure_boot.enabled {
                check_signed_for(&uki, &secure_boot).map_err(|e| unusable(e, path.display()))?;
            }
            let inputs_boot = BootInputs {
                stub: args.stub_version.map(|major| StubVersion {
                    major,
                    text: format!("systemd-stub {major} (given)"),
                }),
                secure_boot: secure_boot.enabled,
            };
            let p = predict_uki_boot(&uki, &banks, &inputs_boot).map_err(|e| unusable(e, path.display()))?;
            for (_, values) in p.pcrs.banks() {
                for (i, d) in values {
                    set(&mut pcrs, *d, i.0);
                }
            }
            let replayed = replay(&parsed, ReplayOptions::default());
            for &bank in &banks {
                for i in [0, 1, 2, 3, 7] {
                    if let Some(d) = replayed.pcrs.get(bank, PcrIndex(i)) {
                        set(&mut pcrs, *d, i);
                    }
                }
            }
            ReferenceKind::MeasuredBoot
        }
        None => ReferenceKind::Development,
    };
    if app_root.is_none() && format != "nitro" {
        return Err(Failure::Unusable(anyhow!(
            "--app-disk is needed: PCR 15 starts with the app disk's root hash"
        )));
    }

    let refs = match format {
        "blindfold" => ReferenceValues {
            format: ReferenceFormat::Blindfold,
            kind,
            pcrs,
            app_disk_root_hash: None,
            hardware_measurements: Vec::new(),
            snp_minimum_tcb: None,
            snp_allow_migration_agent: false,
            runtime_events: expected_events,
        },
        // BlindLlama-v2 binds the app disk through application.json, not PCR 15.
        "blindllama" => ReferenceValues {
            format: ReferenceFormat::BlindLlama,
            kind: ReferenceKind::Foreign,
            pcrs: pcrs.into_iter().filter(|((_, i), _)| i.0 != 15).collect(),
            app_disk_root_hash: None,
            hardware_measurements: Vec::new(),
            snp_minimum_tcb: None,
            snp_allow_migration_agent: false,
            runtime_events: Vec::new(),
        },
        _ => ReferenceValues {
            format: ReferenceFormat::NitroTpm,
            kind: ReferenceKind::Foreign,
            pcrs: pcrs
                .into_iter()
                .filter(|((_, i), _)| matches!(i.0, 4 | 7 | 12))
                .collect(),
            app_disk_root_hash: None,
            hardware_measurements: Vec::new(),
            snp_minimum_tcb: None,
            snp_allow_migration_agent: false,
            runtime_events: Vec::new(),
        },
    };
    if format == "blindfold" {
        refs.check_mandatory()
            .map_err(|e| Failure::Unusable(anyhow!(e)))?;
    }
    fn write<T: Serialize>(path: &std::path::Path, v: &T) -> Result<(), Failure> {
        std::fs::write(path, pretty(v) + "\n")
            .map_err(|e| unusable(e, format!("cannot write {}", path.display())))
    }
    match &args.sign {
        Some(key) => {
            let digest_of = |p: &Option<std::path::PathBuf>| -> Result<Option<String>, Failure> {
                p.as_deref()
                    .map(|p| {
                        inputs::read(p).map(|b| {
                            format!(
                                "sha256:{}",
                                default_provider().hash(HashAlg::Sha256, &[&b]).to_hex()
                            )
                        })
                    })
                    .transpose()
            };
            let inputs_digests = BTreeMap::from([
                ("uki".to_string(), digest_of(&args.uki)?),
                ("app_disk".to_string(), digest_of(&args.app_disk)?),
                ("firmware_log".to_string(), digest_of(&args.firmware_log)?),
            ]);
            let measurements = refs.to_measurements().ok_or_else(|| {
                Failure::Unusable(anyhow!(
                    "only Blindfold measurements are signed; foreign formats are written plain"
                ))
            })?;
            let expires = args
                .expires_in
                .map(|d| humantime::format_rfc3339_seconds(std::time::SystemTime::now() + d).to_string());
            let payload = BundlePayload {
                blindfold_bundle: BUNDLE_VERSION,
                version: args.bundle_version,
                expires,
                inputs: inputs_digests,
                measurements,
            };
            write(&args.output, &crate::sign_cmd::sign(&payload, key)?)?;
            say!(
                "wrote {} (signed bundle v{}, {} PCR values)",
                args.output.display(),
                args.bundle_version,
                refs.pcrs.len()
            );
        }
        None => {
            let document = refs.to_document().ok_or_else(|| {
                Failure::Unusable(anyhow!("no document format holds these reference values"))
            })?;
            write(&args.output, &document)?;
            say!(
                "wrote {} ({} PCR values, {})",
                args.output.display(),
                refs.pcrs.len(),
                format
            );
        }
    }
    if format == "blindllama" {
        if let Some(root) = &app_root {
            let app = args.output.with_file_name("application.json");
            write(
                &app,
                &blindfold_attest::BlindLlamaReference {
                    measurements: BTreeMap::new(),
                    application_disk_roothash: Some(hex::encode(root)),
                },
            )?;
            say!("wrote {}", app.display());
        }
    }
    Ok(())
}

pub fn uki_build(args: &UkiBuildArgs) -> Result<(), Failure> {
    let stub = inputs::read(&args.stub)?;
    let linux = inputs::read(&args.linux)?;
    let initrd = inputs::read(&args.initrd)?;
    let osrel = args.osrel.as_deref().map(inputs::read).transpose()?;
    let mut sections: Vec<(&str, &[u8])> = Vec::new();
    if let Some(o) = &osrel {
        sections.push((".osrel", o));
    }
    sections.push((".cmdline", args.cmdline.as_bytes()));
    if let Some(u) = &args.uname {
        sections.push((".uname", u.as_bytes()));
    }
    sections.push((".initrd", &initrd));
    sections.push((".linux", &linux));
    let uki = blindfold_measure::build_uki(&stub, &sections).map_err(|e| unusable(e, args.stub.display()))?;
    std::fs::write(&args.output, &uki)
        .map_err(|e| unusable(e, format!("cannot write {}", args.output.display())))?;
    let digest = authenticode(&uki, HashAlg::Sha256).map_err(|e| unusable(e, args.output.display()))?;
    say!(
        "wrote {} ({} bytes), authenticode sha256 {digest}",
        args.output.display(),
        uki.len()
    );
    Ok(())
}

pub fn disk_build(args: &DiskBuildArgs) -> Result<(), Failure> {
    let disk = blindfold_measure::app_disk::build_app_disk(
        &args.dir,
        &args.output,
        args.source_date_epoch,
        &args.uuid,
    )
    .map_err(|e| unusable(e, args.dir.display()))?;
    let json_path = {
        let mut p = args.output.clone().into_os_string();
        p.push(".json");
        std::path::PathBuf::from(p)
    };
    let text = serde_json::to_string_pretty(&disk.manifest()).map_err(|e| Failure::Unusable(anyhow!(e)))?;
    std::fs::write(&json_path, text + "\n")
        .map_err(|e| unusable(e, format!("cannot write {}", json_path.display())))?;
    say!("{}", hex::encode(&disk.root_hash));
    Ok(())
}

/// With Secure Boot on in the reference boot, PCR 7 names the db
/// certificate that verified the reference image: this UKI must carry a
/// signature by that same certificate, or its own boot's PCR 7 differs.
fn check_signed_for(uki: &[u8], reference: &SecureBootState) -> anyhow::Result<()> {
    let signatures = blindfold_uefi_sign::signatures(uki)?;
    if signatures.is_empty() {
        return Err(anyhow!(
            "the reference boot ran with Secure Boot on and this UKI is unsigned: firmware would refuse it (sign it when building the image)"
        ));
    }
    if reference.db_certificates.is_empty() {
        return Err(anyhow!(
            "the reference boot ran with Secure Boot on but its log names no db certificate that verified an image"
        ));
    }
    for certificate in &reference.db_certificates {
        if !signatures.iter().any(|s| contains(s, certificate)) {
            return Err(anyhow!(
                "the reference boot's image was verified by a db certificate that did not sign this UKI (SHA-256 {}): PCR 7 would differ; capture the reference with an image signed by the same key",
                default_provider().hash(HashAlg::Sha256, &[certificate]).to_hex()
            ));
        }
    }
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
