//! Reading the files users pass and recognising their formats.

use std::path::Path;

use anyhow::{anyhow, bail, Context};
use blindfold_crypto::{Digest, HashAlg, PublicKey, SignatureScheme};
use blindfold_tpm::{AttestationKey, PcrIndex, PcrValues, TpmPublic, TpmSignature};

use crate::exit::{unusable, Failure};

/// Reads a whole file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| unusable(e, format!("cannot read {}", path.display())))
}

/// How the AK was given.
pub struct LoadedAk {
    pub ak: AttestationKey,
    pub format: &'static str,
}

/// PEM or DER SPKI, or TPM2B_PUBLIC / TPMT_PUBLIC.
pub fn attestation_key(path: &Path) -> Result<LoadedAk, Failure> {
    let bytes = read(path)?;
    let ctx = || format!("attestation key {}", path.display());
    if bytes.starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(&bytes).map_err(|e| unusable(e, ctx()))?;
        let key = PublicKey::from_spki_pem(text).map_err(|e| unusable(e, ctx()))?;
        return Ok(LoadedAk {
            ak: AttestationKey::from_public_key(key),
            format: "spki-pem",
        });
    }
    if bytes.first() == Some(&0x30) {
        let key = PublicKey::from_spki_der(&bytes).map_err(|e| unusable(e, ctx()))?;
        return Ok(LoadedAk {
            ak: AttestationKey::from_public_key(key),
            format: "spki-der",
        });
    }
    let declared = bytes
        .get(..2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    let (public, format) = if declared == Some(bytes.len().saturating_sub(2)) {
        (TpmPublic::parse_tpm2b(&bytes), "TPM2B_PUBLIC")
    } else {
        (TpmPublic::parse_tpmt(&bytes), "TPMT_PUBLIC")
    };
    let public = public.map_err(|e| unusable(e, ctx()))?;
    let ak = AttestationKey::from_tpm_public(&public)
        .map_err(|e| Failure::CheckFailed(anyhow!(e).context(ctx())))?;
    Ok(LoadedAk { ak, format })
}

/// A publisher key (PEM SubjectPublicKeyInfo) for signed reference bundles.
pub fn publisher_key(path: &Path) -> Result<PublicKey, Failure> {
    let text = String::from_utf8(read(path)?).map_err(|e| unusable(e, path.display()))?;
    PublicKey::from_spki_pem(&text).map_err(|e| unusable(e, format!("publisher key {}", path.display())))
}

/// Parses `rsassa-sha256`, `rsapss-sha384`, `ecdsa-sha256`, ...
pub fn signature_scheme(text: &str) -> anyhow::Result<SignatureScheme> {
    let (kind, hash) = text
        .split_once('-')
        .ok_or_else(|| anyhow!("signature scheme \"{text}\" is not KIND-HASH, e.g. rsassa-sha256"))?;
    let hash =
        HashAlg::from_name(hash).ok_or_else(|| anyhow!("unknown hash \"{hash}\" in signature scheme"))?;
    Ok(match kind {
        "rsassa" => SignatureScheme::RsaPkcs1v15(hash),
        "rsapss" => SignatureScheme::RsaPss(hash),
        "ecdsa" => SignatureScheme::Ecdsa(hash),
        other => bail!("unknown signature scheme \"{other}\" (rsassa, rsapss, ecdsa)"),
    })
}

/// A TPMT_SIGNATURE, or raw bytes when it does not parse as one (or when a
/// scheme is forced).
pub fn signature(
    path: &Path,
    key: &PublicKey,
    scheme: Option<&str>,
) -> Result<(TpmSignature, &'static str), Failure> {
    let bytes = read(path)?;
    let ctx = || format!("signature {}", path.display());
    let forced = scheme
        .map(signature_scheme)
        .transpose()
        .map_err(|e| Failure::Unusable(e.context(ctx())))?;
    if forced.is_none() {
        if let Ok(sig) = TpmSignature::parse(&bytes) {
            return Ok((sig, "TPMT_SIGNATURE"));
        }
    }
    let sig = TpmSignature::raw(key, &bytes, forced).map_err(|e| unusable(e, ctx()))?;
    Ok((sig, "raw"))
}

/// A tpm2-tools PCR file or JSON `{"sha256": {"0": "<hex>"}}`.
pub fn pcr_values(path: &Path) -> Result<(PcrValues, &'static str), Failure> {
    let bytes = read(path)?;
    let ctx = || format!("PCR values {}", path.display());
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        let values = pcr_json(&bytes).map_err(|e| Failure::Unusable(e.context(ctx())))?;
        return Ok((values, "json"));
    }
    let (_, values) = blindfold_tpm::parse_tpm2_tools_pcrs(&bytes).map_err(|e| unusable(e, ctx()))?;
    Ok((values, "tpm2-tools"))
}

fn pcr_json(bytes: &[u8]) -> anyhow::Result<PcrValues> {
    let banks: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> =
        serde_json::from_slice(bytes).context("expected {\"<bank>\": {\"<pcr>\": \"<hex>\"}}")?;
    let mut values = PcrValues::new();
    for (bank_name, pcrs) in banks {
        let bank =
            HashAlg::from_name(&bank_name).ok_or_else(|| anyhow!("unknown PCR bank \"{bank_name}\""))?;
        for (index, value) in pcrs {
            let index: u32 = index
                .parse()
                .map_err(|_| anyhow!("PCR index \"{index}\" in bank {bank} is not a number"))?;
            let raw = hex_arg(&value).with_context(|| format!("PCR {index} in bank {bank}"))?;
            let digest = Digest::new(bank, &raw).ok_or_else(|| {
                anyhow!(
                    "PCR {index} in bank {bank} has {} bytes, expected {}",
                    raw.len(),
                    bank.output_len()
                )
            })?;
            values.insert(PcrIndex(index), digest);
        }
    }
    Ok(values)
}

/// Hex with an optional `0x` prefix.
pub fn hex_arg(text: &str) -> anyhow::Result<Vec<u8>> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    hex::decode(t).map_err(|e| match e {
        hex::FromHexError::OddLength => {
            anyhow!("\"{text}\" has an odd number of hex digits (bytes are written as two hex digits each)")
        }
        hex::FromHexError::InvalidHexCharacter { c, index } => {
            anyhow!("\"{text}\" is not hex: `{c}` at position {index} is not a hex digit (0-9, a-f)")
        }
        other => anyhow!("\"{text}\" is not hex: {other}"),
    })
}
