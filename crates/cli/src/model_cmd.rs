//! `blindfold model ...` and `blindfold kbs kek`: the model owner's side.

use std::time::Duration;

use anyhow::anyhow;
use blindfold_kbs::{Kek, KeyStore};
use blindfold_model_store::ModelStore;
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{KbsKekArgs, KekArgs, ModelCommand, ModelNameArgs, ModelSealArgs, StoreArgs};
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
    }
}

fn open(args: &StoreArgs) -> Result<ModelStore, Failure> {
    ModelStore::open(&args.store).map_err(store_failure)
}

/// A store error: unusable input for names and URLs, a failed check for
/// what the store holds.
fn store_failure(e: blindfold_model_store::Error) -> Failure {
    use blindfold_model_store::Error as E;
    match e {
        E::Url { .. } | E::Name(_) | E::Read { .. } | E::Exists { .. } | E::NoSuchModel { .. } => {
            Failure::Unusable(anyhow!(e))
        }
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

async fn seal(args: &ModelSealArgs) -> Result<(), Failure> {
    let kek = kek(&args.kek)?;
    let store = open(&args.store)?;
    let key_store = match &args.key_store {
        Some(url) => ModelStore::open(url).map_err(store_failure)?,
        None => store.clone(),
    };
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
    let sealed = store
        .seal_file(&args.file, &args.name, args.chunk_size, &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .await;
    bar.finish_and_clear();
    let (manifest, data_key) = sealed.map_err(store_failure)?;
    let m = &manifest.manifest;
    KeyStore::new(key_store.clone(), kek)
        .put(&m.name, &m.key_id, &data_key)
        .await
        .map_err(kbs_failure)?;
    drop(data_key);
    if args.json {
        say!("{}", pretty(&manifest));
    } else {
        say!(
            "sealed {} into {}: {} bytes in {} chunks, key id {}, SHA-256 {}",
            m.name,
            store.url(),
            m.plaintext_size,
            m.chunk_count,
            m.key_id,
            m.plaintext_sha256
        );
        say!(
            "data key wrapped under the key-encryption key in {}",
            key_store.url()
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
