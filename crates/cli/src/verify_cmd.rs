//! `blindfold verify https://HOST:PORT`.

use anyhow::anyhow;
use blindfold_attest::{bundle, ReferenceValues};
use serde_json::json;

use crate::args::VerifyArgs;
use crate::eventlog_cmd::pretty;
use crate::exit::{say, unusable, Failure};
use crate::inputs;

/// Reads the reference: a bundle must verify under the pinned publisher
/// key; a plain file needs --reference-unsigned. Done before connecting.
fn reference(args: &VerifyArgs) -> Result<(ReferenceValues, &'static str), Failure> {
    let bytes = inputs::read(&args.reference)?;
    let is_bundle =
        serde_json::from_slice::<serde_json::Value>(&bytes).is_ok_and(|v| bundle::is_envelope(&v));
    match (&args.publisher_key, is_bundle) {
        (Some(key_path), true) => {
            let key = inputs::publisher_key(key_path)?;
            let b = bundle::verify_bundle(&bytes, &key, args.min_bundle_version).map_err(|e| {
                let e = anyhow!(e).context(format!("reference {} (refused before any evidence was requested)", args.reference.display()));
                Failure::CheckFailed(e)
            })?;
            Ok((b.reference, "signed"))
        }
        (Some(_), false) => Err(Failure::CheckFailed(anyhow!(
            "reference {} is not signed, but --publisher-key asks for a signed bundle (refused before any evidence was requested)",
            args.reference.display()
        ))),
        (None, _) if args.reference_unsigned => {
            let r = ReferenceValues::parse(&bytes).map_err(|e| unusable(e, args.reference.display()))?;
            Ok((r, "unsigned (--reference-unsigned)"))
        }
        (None, _) => Err(Failure::Unusable(anyhow!("give --publisher-key, or --reference-unsigned to accept an unsigned file"))),
    }
}

pub fn verify(args: &VerifyArgs) -> Result<(), Failure> {
    let (reference, reference_kind) = reference(args)?;
    let platform_ca = match &args.platform_ca {
        Some(path) => Some(
            blindfold_x509::parse_certificates(&inputs::read(path)?)
                .map_err(|e| unusable(e, path.display()))?,
        ),
        None => None,
    };
    let addr = args
        .url
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string();
    let policy = blindfold_atls::ClientPolicy {
        reference,
        platform_ca,
        allow_dev: args.allow_dev,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Unusable(anyhow!(e)))?;
    let session = runtime
        .block_on(blindfold_atls::connect(&addr, &policy))
        .map_err(|e| Failure::CheckFailed(anyhow!(e).context(format!("verifying {addr}"))))?;
    let v = &session.verified;
    let events: Vec<_> = v
        .runtime_log()
        .map(|l| l.events.iter().map(|e| e.content()).collect())
        .unwrap_or_default();
    let report = json!({
        "verified": true,
        "enclave": addr,
        "platform": v.platform().name(),
        "trust_basis": v.trust_basis().name(),
        "chain": v.chain().map(|c| c.iter().map(|s| json!({"subject": s.subject, "sha256": s.fingerprint})).collect::<Vec<_>>()),
        "binding": {"tls_leaf_spki_sha256": session.leaf_spki_sha256, "session_exporter": "EXPORTER-blindfold-evidence-v1", "fresh": v.fresh()},
        "reference": reference_kind,
        "appraisal": session.appraisal.to_json(),
        "runtime_events": events,
    });
    if args.json {
        say!("{}", pretty(&report));
        return Ok(());
    }
    say!("enclave:     {addr}");
    say!(
        "verified:    yes (quote bound to this TLS session: leaf key {}, exporter, fresh nonce)",
        &session.leaf_spki_sha256[..16]
    );
    say!(
        "platform:    {} (trust basis: {})",
        v.platform().name(),
        v.trust_basis().name()
    );
    if v.trust_basis().name() == "development" {
        say!("             development: whoever holds the platform CA can forge this evidence");
    }
    say!("reference:   {reference_kind}");
    say!("appraisal:   {}", session.appraisal.status_name());
    for (name, c) in &session.appraisal.claims {
        say!("  {:<24} {:<16} {}", name, c.status.name(), c.detail);
    }
    for e in events {
        say!("  runtime event: {e}");
    }
    Ok(())
}
