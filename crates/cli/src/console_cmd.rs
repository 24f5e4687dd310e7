//! `blindfold console`: the web console (`blindfold_console`), on
//! loopback unless `--listen-public` with TLS.

use anyhow::anyhow;

use crate::args::ConsoleArgs;
use crate::exit::{unusable, Failure};
use crate::verify_cmd::runtime;

fn owner(args: &ConsoleArgs) -> Result<Option<blindfold_console::OwnerConfig>, Failure> {
    let o = &args.owner;
    let Some(store) = &o.store else {
        return Ok(None);
    };
    // clap requires these with --store.
    let (Some(kek_file), Some(owner_key), Some(token_file)) =
        (&o.kek_file, &o.owner_key, &o.owner_token_sha256_file)
    else {
        return Err(Failure::Unusable(anyhow!(
            "the owner's pages need the key-encryption key, the owner key and the token's SHA-256"
        )));
    };
    let kek_text = zeroize::Zeroizing::new(crate::inputs::read(kek_file)?);
    // Refused now rather than at the first seal.
    blindfold_kbs::Kek::parse(&kek_text).map_err(|e| unusable(e, kek_file.display()))?;
    Ok(Some(blindfold_console::OwnerConfig {
        stores: crate::model_cmd::stores(store, o.key_store.as_deref())?,
        kek_text,
        owner_key: crate::sign_cmd::signer(owner_key)?,
        owner_token_sha256: crate::model_cmd::owner_token_sha256(token_file)?,
        kbs_state_dir: o.kbs_state_dir.clone(),
    }))
}

pub fn console(args: &ConsoleArgs) -> Result<(), Failure> {
    if !args.listen.ip().is_loopback() && !args.listen_public {
        return Err(Failure::Unusable(anyhow!(
            "{} is not a loopback address: the console listens beyond this machine only with --listen-public and TLS",
            args.listen
        )));
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            Some(blindfold_console::load_tls(cert, key).map_err(|e| Failure::Unusable(anyhow!(e)))?)
        }
        (None, None) => None,
        _ => {
            return Err(Failure::Unusable(anyhow!(
                "give both the TLS certificate and its key"
            )))
        }
    };
    let config = blindfold_console::ConsoleConfig {
        owner: owner(args)?,
        trust: args.trust.files().map_err(Failure::Unusable)?,
        default_enclave: args.enclave.clone(),
        host_names: args.host_names.clone(),
    };
    let owner_on = config.owner.is_some();
    let rt = runtime()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| unusable(e, format!("listening on {}", args.listen)))?;
        let local = listener.local_addr().map_err(|e| Failure::Unusable(anyhow!(e)))?;
        let app = blindfold_console::router(config, local, tls.is_some())
            .map_err(|e| Failure::Unusable(anyhow!(e)))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        eprintln!(
            "blindfold console: {scheme}://{local}/ (owner pages {})",
            if owner_on {
                "on: they ask for the owner's token"
            } else {
                "off"
            }
        );
        match tls {
            Some(tls) => blindfold_console::serve_tls(listener, app, tls)
                .await
                .map_err(|e| Failure::Unusable(anyhow!(e))),
            None => axum::serve(listener, app)
                .await
                .map_err(|e| Failure::Unusable(anyhow!(e))),
        }
    })
}
