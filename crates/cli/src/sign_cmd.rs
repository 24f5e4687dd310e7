//! Publisher keys and signed reference bundles (the builder side; the
//! verifier side is `blindfold_attest::bundle`).

use std::path::Path;

use anyhow::anyhow;
use blindfold_attest::bundle::{self, BundlePayload, Envelope};
use blindfold_crypto::{EccCurve, PublicKey};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

use crate::args::{ApiKeyArgs, KeygenArgs};
use crate::exit::{say, unusable, Failure};
use crate::inputs;

fn with_ext(prefix: &Path, ext: &str) -> std::path::PathBuf {
    let mut p = prefix.as_os_str().to_owned();
    p.push(ext);
    p.into()
}

pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

fn public_key(pair: &EcdsaKeyPair) -> Result<PublicKey, Failure> {
    let point = pair.public_key().as_ref();
    PublicKey::ecc(EccCurve::NistP256, &point[1..33], &point[33..65])
        .map_err(|e| Failure::Unusable(anyhow!(e)))
}

pub fn keygen(args: &KeygenArgs) -> Result<(), Failure> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
        .map_err(|_| Failure::Unusable(anyhow!("key generation failed")))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|_| Failure::Unusable(anyhow!("key generation failed")))?;
    let key = public_key(&pair)?;
    let spki = key.to_spki_der().map_err(|e| Failure::Unusable(anyhow!(e)))?;
    let pem = |label: &str, der: &[u8]| {
        pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der)
            .map_err(|e| Failure::Unusable(anyhow!(e)))
    };
    let (key_path, pub_path) = (with_ext(&args.output, ".key"), with_ext(&args.output, ".pub"));
    write_private(&key_path, &pem("PRIVATE KEY", pkcs8.as_ref())?).map_err(|e| {
        unusable(
            e,
            format!("cannot create {} (it must not exist yet)", key_path.display()),
        )
    })?;
    std::fs::write(&pub_path, pem("PUBLIC KEY", &spki)?).map_err(|e| unusable(e, pub_path.display()))?;
    say!(
        "wrote {} (private, keep it offline) and {}",
        key_path.display(),
        pub_path.display()
    );
    say!(
        "key id {}",
        bundle::key_id(&key).map_err(|e| Failure::Unusable(anyhow!(e)))?
    );
    Ok(())
}

/// `blindfold api-key`: the key to a new private file, the entry to stdout.
pub fn api_key(args: &ApiKeyArgs) -> Result<(), Failure> {
    let (key, mut entry) =
        blindfold_protocol::api_keys::new_api_key(&args.name).map_err(|e| Failure::Unusable(anyhow!(e)))?;
    entry.requests_per_minute = args.requests_per_minute;
    entry.tokens_per_minute = args.tokens_per_minute;
    write_private(&args.key_out, &format!("{key}\n")).map_err(|e| {
        unusable(
            e,
            format!("cannot create {} (it must not exist yet)", args.key_out.display()),
        )
    })?;
    let text = serde_json::to_string_pretty(&entry).map_err(|e| Failure::Unusable(anyhow!(e)))?;
    println!("{text}");
    eprintln!(
        "blindfold: wrote the key to {}; add the entry above to enclave.json's \"api\": {{\"api_keys\": [...]}}",
        args.key_out.display()
    );
    Ok(())
}

/// Signs `payload` into a DSSE envelope with the key at `key_path`.
pub fn sign(payload: &BundlePayload, key_path: &Path) -> Result<Envelope, Failure> {
    let body = serde_json::to_vec(payload).map_err(|e| Failure::Unusable(anyhow!(e)))?;
    sign_typed(bundle::PAYLOAD_TYPE, &body, key_path)
}

/// The ECDSA P-256 key `keygen` wrote at `key_path`, as a signer.
pub fn signer(key_path: &Path) -> Result<blindfold_kbs::DsseSigner, Failure> {
    let text = String::from_utf8(inputs::read(key_path)?).map_err(|e| unusable(e, key_path.display()))?;
    blindfold_kbs::DsseSigner::from_pem(&text)
        .map_err(|e| Failure::Unusable(anyhow!("{}: {e}", key_path.display())))
}

/// Signs `body` as a DSSE envelope of `payload_type` with the key at `key_path`.
pub fn sign_typed(payload_type: &str, body: &[u8], key_path: &Path) -> Result<Envelope, Failure> {
    signer(key_path)?
        .sign(payload_type, body)
        .map_err(|e| Failure::Unusable(anyhow!("{}: {e}", key_path.display())))
}
