//! `blindfold model ...` and `blindfold kbs kek`: the model owner's side.

use std::time::Duration;

use anyhow::anyhow;
use blindfold_kbs::{Kek, OwnerStores};
use blindfold_model_store::ModelStore;
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{
    KbsAuditArgs, KbsKekArgs, KbsPinArgs, KbsServeArgs, KekArgs, KmsPolicyArgs, ModelCommand, ModelNameArgs,
    ModelRotateArgs, ModelSealArgs, PolicyCommand, PolicySetArgs, PolicyShowArgs, StoreArgs,
};
use crate::eventlog_cmd::pretty;
use crate::exit::{say, unusable, Failure};
use crate::verify_cmd::runtime;

pub fn model(cmd: &ModelCommand) -> Result<(), Failure> {
    let rt = runtime()?;
    match cmd {
        ModelCommand::Seal(a) => rt.block_on(seal(a)),
        ModelCommand::List(a) => rt.block_on(list(a)),
        ModelCommand::Show(a) => rt.block_on(show(a)),
        ModelCommand::Delete(a) => rt.block_on(delete(a)),
        ModelCommand::RotateKey(a) => rt.block_on(rotate_key(a)),
        ModelCommand::KmsPolicy(a) => kms_policy(a),
        ModelCommand::Policy(PolicyCommand::Set(a)) => rt.block_on(policy_set(a)),
        ModelCommand::Policy(PolicyCommand::Show(a)) => rt.block_on(policy_show(a)),
    }
}

/// Model `name`'s manifest as stored in `store` (for `enclave-config`,
/// which pins its plaintext digest).
pub fn stored_manifest(store: &str, name: &str) -> Result<blindfold_sealed::Manifest, Failure> {
    let store = ModelStore::open(store).map_err(store_failure)?;
    let sealed = runtime()?.block_on(store.manifest(name)).map_err(store_failure)?;
    Ok(sealed.manifest)
}

fn open(args: &StoreArgs) -> Result<ModelStore, Failure> {
    ModelStore::open(&args.store).map_err(store_failure)
}

/// A store error: unusable input for names and URLs, a failed check for
/// what the store holds.
fn store_failure(e: blindfold_model_store::Error) -> Failure {
    use blindfold_model_store::Error as E;
    match e {
        E::Url { .. }
        | E::Name(_)
        | E::Read { .. }
        | E::Exists { .. }
        | E::NoSuchModel { .. }
        | E::NoConditionalWrites { .. } => Failure::Unusable(anyhow!(e)),
        other => Failure::CheckFailed(anyhow!(other)),
    }
}

fn kbs_failure(e: blindfold_kbs::Error) -> Failure {
    match e {
        blindfold_kbs::Error::Store(e) => store_failure(e),
        other => Failure::Unusable(anyhow!(other)),
    }
}

/// The KEK from its file, else from BLINDFOLD_KEK.
fn kek(args: &KekArgs) -> Result<Kek, Failure> {
    let text = match &args.kek_file {
        Some(path) => zeroize::Zeroizing::new(
            std::fs::read(path).map_err(|e| unusable(e, format!("cannot read {}", path.display())))?,
        ),
        None => zeroize::Zeroizing::new(
            std::env::var("BLINDFOLD_KEK")
                .map_err(|_| {
                    Failure::Unusable(anyhow!(
                        "no key-encryption key: give --kek-file FILE (blindfold kbs kek makes one) or set BLINDFOLD_KEK"
                    ))
                })?
                .into_bytes(),
        ),
    };
    Kek::parse(&text).map_err(kbs_failure)
}

/// The owner's model store at `store` and key store at `key_store`
/// (the model store when not given).
pub fn stores(store: &str, key_store: Option<&str>) -> Result<OwnerStores, Failure> {
    let models = ModelStore::open(store).map_err(store_failure)?;
    let keys = match key_store {
        Some(url) => ModelStore::open(url).map_err(store_failure)?,
        None => models.clone(),
    };
    Ok(OwnerStores { models, keys })
}

async fn seal(args: &ModelSealArgs) -> Result<(), Failure> {
    let kek = kek(&args.kek)?;
    let stores = stores(&args.store.store, args.key_store.as_deref())?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "sealing {msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(args.name.clone());
    bar.enable_steady_tick(Duration::from_millis(200));
    let sealed = blindfold_kbs::seal_model(
        &stores,
        kek,
        &args.file,
        &args.name,
        args.chunk_size,
        &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    )
    .await;
    bar.finish_and_clear();
    let manifest = sealed.map_err(kbs_failure)?;
    let m = &manifest.manifest;
    if args.json {
        say!("{}", pretty(&manifest));
    } else {
        say!(
            "sealed {} into {}: {} bytes in {} chunks, key id {}, SHA-256 {}",
            m.name,
            stores.models.url(),
            m.plaintext_size,
            m.chunk_count,
            m.key_id,
            m.plaintext_sha256
        );
        say!(
            "data key wrapped under the key-encryption key in {}",
            stores.keys.url()
        );
    }
    Ok(())
}

async fn list(args: &StoreArgs) -> Result<(), Failure> {
    for name in open(args)?.list().await.map_err(store_failure)? {
        say!("{name}");
    }
    Ok(())
}

async fn show(args: &ModelNameArgs) -> Result<(), Failure> {
    let manifest = open(&args.store)?
        .manifest(&args.name)
        .await
        .map_err(store_failure)?;
    say!("{}", pretty(&manifest));
    Ok(())
}

async fn delete(args: &ModelNameArgs) -> Result<(), Failure> {
    let store = open(&args.store)?;
    store.delete(&args.name).await.map_err(store_failure)?;
    eprintln!("deleted {} from {}", args.name, store.url());
    Ok(())
}

pub fn kbs_kek(args: &KbsKekArgs) -> Result<(), Failure> {
    let (_, text) = Kek::generate().map_err(kbs_failure)?;
    crate::sign_cmd::write_private(&args.output, &text)
        .map_err(|e| unusable(e, format!("cannot create {}", args.output.display())))?;
    eprintln!(
        "wrote {} (mode 0600): the key-encryption key; keep it where the key broker runs",
        args.output.display()
    );
    Ok(())
}

async fn policy_set(args: &PolicySetArgs) -> Result<(), Failure> {
    let stores = stores(&args.store.store, args.key_store.as_deref())?;
    let publisher_pem = String::from_utf8(crate::inputs::read(&args.publisher_key)?)
        .map_err(|e| unusable(e, args.publisher_key.display()))?;
    let reference = crate::inputs::read(&args.reference)?;
    let owner = crate::sign_cmd::signer(&args.owner_key)?;
    let terms = blindfold_kbs::PolicyTerms {
        expires_in: *args.expires_in,
        allow_development: args.allow_development,
    };
    let policy = blindfold_kbs::set_policy(&stores, &args.name, &reference, &publisher_pem, &owner, &terms)
        .await
        .map_err(|e| match e {
            e @ blindfold_kbs::Error::Policy { .. } => {
                Failure::Unusable(anyhow!("{}: {e}", args.reference.display()))
            }
            e => kbs_failure(e),
        })?;
    say!(
        "policy v{} for {} (key {}) in {}: releases to the build in {}{}, until {}",
        policy.version,
        policy.model,
        policy.key_id,
        stores.keys.url(),
        args.reference.display(),
        if policy.allow_development {
            " (development platform allowed)"
        } else {
            ""
        },
        policy.expires
    );
    Ok(())
}

async fn policy_show(args: &PolicyShowArgs) -> Result<(), Failure> {
    let store = ModelStore::open(&args.key_store).map_err(store_failure)?;
    let bytes = blindfold_kbs::load_policy(&store, &args.name)
        .await
        .map_err(kbs_failure)?;
    let owner = crate::inputs::publisher_key(&args.owner_public_key)?;
    let verified = blindfold_kbs::verify_policy(&bytes, &owner, &args.name, std::time::SystemTime::now(), 0)
        .map_err(|e| Failure::CheckFailed(anyhow!(e)))?;
    let p = &verified.policy;
    say!(
        "{}",
        pretty(&serde_json::json!({
            "model": p.model,
            "key_id": p.key_id,
            "version": p.version,
            "expires": p.expires,
            "allow_development": p.allow_development,
            "reference_version": verified.reference.version,
            "publisher_key_id": verified.reference.key_id,
        }))
    );
    Ok(())
}

async fn rotate_key(args: &ModelRotateArgs) -> Result<(), Failure> {
    let kek = kek(&args.kek)?;
    let stores = stores(&args.store.store, args.key_store.as_deref())?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("re-sealing {msg} [{bar:30}] {bytes}/{total_bytes} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(args.name.clone());
    let rotated = blindfold_kbs::rotate_model_key(&stores, kek, &args.name, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await;
    bar.finish_and_clear();
    let (manifest, old_id) = rotated.map_err(kbs_failure)?;
    say!(
        "rotated {}: key {old_id} -> {}",
        args.name,
        manifest.manifest.key_id
    );
    eprintln!(
        "the stored policy names the old key: set a new one (blindfold model policy set {} ...)",
        args.name
    );
    Ok(())
}

use blindfold_kbs::AUDIT_LOG;

/// The broker TLS key in `path` (PKCS#8 DER) and its SPKI.
fn broker_tls_key(path: &std::path::Path) -> Result<(zeroize::Zeroizing<Vec<u8>>, Vec<u8>), Failure> {
    let text = zeroize::Zeroizing::new(crate::inputs::read(path)?);
    let (label, der) = pem_rfc7468::decode_vec(text.trim_ascii())
        .map_err(|e| Failure::Unusable(anyhow!("{}: {e}", path.display())))?;
    let der = zeroize::Zeroizing::new(der);
    if label != "PRIVATE KEY" {
        return Err(Failure::Unusable(anyhow!(
            "{}: not a PRIVATE KEY PEM (blindfold keygen makes one)",
            path.display()
        )));
    }
    let spki = blindfold_kbs::tls_spki(&der).map_err(kbs_failure)?;
    Ok((der, spki))
}

fn spki_sha256(spki: &[u8]) -> String {
    blindfold_crypto::default_provider()
        .hash(blindfold_crypto::HashAlg::Sha256, &[spki])
        .to_hex()
}

pub fn kbs_token(args: &KbsKekArgs) -> Result<(), Failure> {
    let (token, digest) =
        blindfold_kbs::generate_owner_token().map_err(|e| Failure::Unusable(anyhow!("randomness: {e}")))?;
    let mut hash_file = args.output.clone().into_os_string();
    hash_file.push(".sha256");
    let hash_file = std::path::PathBuf::from(hash_file);
    if hash_file.exists() {
        return Err(Failure::Unusable(anyhow!(
            "{} exists: not overwritten",
            hash_file.display()
        )));
    }
    crate::sign_cmd::write_private(&args.output, &format!("{}\n", token.as_str()))
        .map_err(|e| unusable(e, format!("cannot create {}", args.output.display())))?;
    std::fs::write(&hash_file, format!("{}\n", hex::encode(digest)))
        .map_err(|e| unusable(e, format!("cannot create {}", hash_file.display())))?;
    eprintln!(
        "wrote {} (mode 0600): the owner's bearer token, for the owner's calls to the broker; and {} (its SHA-256, for kbs serve)",
        args.output.display(),
        hash_file.display()
    );
    Ok(())
}

/// The owner token digest a broker is given: 64 hex digits in a file.
pub fn owner_token_sha256(path: &std::path::Path) -> Result<[u8; 32], Failure> {
    let text = crate::inputs::read(path)?;
    hex::decode(text.trim_ascii())
        .ok()
        .and_then(|d| <[u8; 32]>::try_from(d).ok())
        .ok_or_else(|| Failure::Unusable(anyhow!("{}: not a SHA-256 (64 hex digits)", path.display())))
}

pub fn kbs_pin(args: &KbsPinArgs) -> Result<(), Failure> {
    let (_, spki) = broker_tls_key(&args.tls_key)?;
    say!("{}", spki_sha256(&spki));
    Ok(())
}

pub fn kbs_serve(args: &KbsServeArgs) -> Result<(), Failure> {
    let kek = kek(&args.kek)?;
    let store = ModelStore::open(&args.key_store).map_err(store_failure)?;
    let owner_key = crate::inputs::publisher_key(&args.owner_public_key)?;
    let (der, spki) = broker_tls_key(&args.tls_key)?;
    let platform_ca = match &args.platform_ca {
        Some(path) => Some(
            blindfold_x509::parse_certificates(&crate::inputs::read(path)?)
                .map_err(|e| unusable(e, path.display()))?,
        ),
        None => None,
    };
    std::fs::create_dir_all(&args.state_dir)
        .map_err(|e| unusable(e, format!("cannot make {}", args.state_dir.display())))?;
    let config = blindfold_kbs::BrokerConfig {
        store,
        kek,
        owner_key,
        tls_key_pkcs8: der,
        platform_ca,
        policy_versions: args.state_dir.join("policy-versions.json"),
        audit_log: args.state_dir.join(AUDIT_LOG),
        owner_token_sha256: args
            .owner_token_sha256_file
            .as_deref()
            .map(owner_token_sha256)
            .transpose()?,
    };
    let rt = runtime()?;
    rt.block_on(async {
        // A store replicas cannot share safely stops the broker before it
        // says it listens (serve checks again for library callers).
        config.store.check_conditional_writes().await.map_err(store_failure)?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| unusable(e, format!("listening on {}", args.listen)))?;
        let local = listener.local_addr().map_err(|e| Failure::Unusable(anyhow!(e)))?;
        eprintln!(
            "blindfold kbs: listening on https://{local} (TLS 1.3); its key's SPKI SHA-256 is {}; audit log {}",
            spki_sha256(&spki),
            args.state_dir.join(AUDIT_LOG).display()
        );
        blindfold_kbs::serve(listener, config).await.map_err(kbs_failure)
    })
}

pub fn kbs_audit(args: &KbsAuditArgs) -> Result<(), Failure> {
    let path = args.state_dir.join(AUDIT_LOG);
    let text = String::from_utf8(crate::inputs::read(&path)?).map_err(|e| unusable(e, path.display()))?;
    let records = blindfold_kbs::parse_audit_log(&text)
        .map_err(|e| Failure::CheckFailed(anyhow!("{}: {e}", path.display())))?;
    for record in records {
        if args.json {
            say!(
                "{}",
                serde_json::to_string(&record).map_err(|e| Failure::Unusable(anyhow!(e)))?
            );
        } else if record.verdict.starts_with("policy") {
            say!(
                "{} {}: {}: {}",
                record.time,
                record.model,
                record.verdict,
                record.reason
            );
        } else {
            say!(
                "{} {} key {} from {}: {}: {}",
                record.time,
                record.model,
                record.key_id,
                record.platform.as_deref().unwrap_or("an unverified enclave"),
                record.verdict,
                record.reason
            );
        }
    }
    Ok(())
}

fn kms_policy(args: &KmsPolicyArgs) -> Result<(), Failure> {
    let doc: blindfold_attest::NitroPcrMeasurements =
        serde_json::from_slice(&crate::inputs::read(&args.measurements)?).map_err(|e| {
            unusable(
                e,
                format!("{} is not a pcr_measurements.json", args.measurements.display()),
            )
        })?;
    let policy = blindfold_kbs::kms_key_policy(&blindfold_kbs::KmsPolicyInput {
        measurements: &doc.measurements,
        instance_role_arn: &args.role,
        owner_account: &args.owner_account,
        include_pcr7: args.with_pcr7,
    })
    .map_err(|e| Failure::Unusable(anyhow!(e)))?;
    say!("{}", pretty(&policy));
    Ok(())
}
