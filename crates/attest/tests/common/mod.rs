//! Samples and helpers shared by the cloud-evidence tests.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use blindfold_attest::{Evidence, HardwareOptions, Layout, Platform, VerifyOptions};
use blindfold_testdata::shared;
use blindfold_tpm::Freshness;
use serde_json::{json, Value};

pub const SNP_V1: &str = "azure-vtpm/trustee-az-snp-vtpm-v1/evidence-v1.json";
pub const TDX_V0: &str = "azure-vtpm/trustee-az-tdx-vtpm-v0/evidence-v0.json";
pub const KINVOLK: &str = "azure-vtpm/azure-cvm-tooling-snp";
/// Inside the sample VCEK's validity (2025-01-28 .. 2032-01-28).
pub const SNP_AT: &str = "2025-06-01T00:00:00Z";
/// Inside the sample PCK chain's validity (2023-09-13 .. 2030-09-13).
pub const TDX_AT: &str = "2024-06-01T00:00:00Z";

pub fn expected(rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(shared(rel)).unwrap()).unwrap()
}

pub fn options(nonce: Option<Vec<u8>>, at: SystemTime) -> VerifyOptions {
    VerifyOptions {
        platform: None,
        freshness: Some(nonce.map_or(Freshness::DangerNotChecked, Freshness::Nonce)),
        at,
        tpm_anchor: None,
        ak_intermediates: Vec::new(),
        replay: Default::default(),
        hardware: HardwareOptions::default(),
    }
}

pub fn rfc3339(t: &str) -> SystemTime {
    humantime::parse_rfc3339(t).unwrap()
}

pub fn challenge() -> Option<Vec<u8>> {
    Some(b"challenge".to_vec())
}

// ---------------------------------------------------------------- AWS Nitro

pub struct NitroSample {
    pub path: &'static str,
    pub expected: &'static str,
    pub platform: Platform,
    pub layout: Layout,
}

pub fn nitro_samples() -> Vec<NitroSample> {
    vec![
        NitroSample {
            path: "aws-nitro/evervault-enclave-nondebug/valid-attestation-doc-bytes",
            expected: "aws-nitro/evervault-enclave-nondebug/expected.json",
            platform: Platform::AwsNitroEnclave,
            layout: Layout::NitroDocument,
        },
        NitroSample {
            path: "aws-nitro/evervault-enclave-debug/debug-mode-attestation-doc-bytes",
            expected: "aws-nitro/evervault-enclave-debug/expected.json",
            platform: Platform::AwsNitroEnclave,
            layout: Layout::NitroDocument,
        },
        NitroSample {
            path: "aws-nitro/vaportpm-nitrotpm/nitrotpm-attestation-doc.cbor",
            expected: "aws-nitro/vaportpm-nitrotpm/expected.json",
            platform: Platform::AwsNitroTpm,
            layout: Layout::NitroDocument,
        },
        NitroSample {
            path: "aws-nitro/vaportpm-nitrotpm/test-nitro-fixture.json",
            expected: "aws-nitro/vaportpm-nitrotpm/expected.json",
            platform: Platform::AwsNitroTpm,
            layout: Layout::VaportpmNitro,
        },
    ]
}

pub fn nitro_time(expected: &Value) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(expected["timestamp_ms"].as_u64().unwrap())
}

pub fn nitro_nonce(expected: &Value) -> Option<Vec<u8>> {
    expected["nonce_hex"].as_str().map(|h| hex::decode(h).unwrap())
}

/// Rewrites trustee evidence into the other layout: versioned (hex quote,
/// base64url reports) ⇄ legacy (byte arrays, no version).
pub fn reencode(json: &Value) -> Value {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bytes_of = |v: &Value| -> Vec<u8> {
        match v {
            Value::Array(a) => a.iter().map(|n| n.as_u64().unwrap() as u8).collect(),
            Value::String(s) => b64.decode(s.trim_end_matches('=')).unwrap(),
            _ => panic!("{v}"),
        }
    };
    let hex_of = |v: &Value| -> Vec<u8> {
        match v {
            Value::Array(a) => a.iter().map(|n| n.as_u64().unwrap() as u8).collect(),
            Value::String(s) => hex::decode(s).unwrap(),
            _ => panic!("{v}"),
        }
    };
    let quote = &json["tpm_quote"];
    let versioned = json.get("version").is_some();
    let mut out = serde_json::Map::new();
    if versioned {
        out.insert(
            "tpm_quote".into(),
            json!({
                "signature": hex_of(&quote["signature"]),
                "message": hex_of(&quote["message"]),
                "pcrs": quote["pcrs"].as_array().unwrap().iter().map(hex_of).collect::<Vec<_>>(),
            }),
        );
        out.insert("hcl_report".into(), json!(bytes_of(&json["hcl_report"])));
        if let Some(vcek) = json.get("vcek") {
            let der = base64::engine::general_purpose::STANDARD
                .decode(vcek.as_str().unwrap())
                .or_else(|_| b64.decode(vcek.as_str().unwrap().trim_end_matches('=')))
                .unwrap();
            let body = base64::engine::general_purpose::STANDARD.encode(der);
            let lines: Vec<&str> = body
                .as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            let pem = format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                lines.join("\n")
            );
            out.insert("vcek".into(), json!(pem));
        }
        if let Some(td) = json.get("td_quote") {
            out.insert("td_quote".into(), json!(bytes_of(td)));
        }
    } else {
        out.insert("version".into(), json!(1));
        out.insert(
            "tpm_quote".into(),
            json!({
                "signature": hex::encode(hex_of(&quote["signature"])),
                "message": hex::encode(hex_of(&quote["message"])),
                "pcrs": quote["pcrs"].as_array().unwrap().iter().map(|p| hex::encode(hex_of(p))).collect::<Vec<_>>(),
            }),
        );
        out.insert(
            "hcl_report".into(),
            json!(b64.encode(bytes_of(&json["hcl_report"]))),
        );
        if let Some(td) = json.get("td_quote") {
            out.insert("td_quote".into(), json!(b64.encode(bytes_of(td))));
        }
    }
    Value::Object(out)
}

pub fn sample_json(rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(shared(rel)).unwrap()).unwrap()
}

pub fn parse(json: &Value) -> Evidence {
    Evidence::parse(&serde_json::to_vec(json).unwrap()).unwrap()
}

pub fn flip_hcl(json: &Value, offset: usize) -> Value {
    let legacy = if json.get("version").is_some() {
        reencode(json)
    } else {
        json.clone()
    };
    let mut out = legacy.clone();
    let mut bytes: Vec<u64> = legacy["hcl_report"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    bytes[offset] ^= 0x01;
    out["hcl_report"] = json!(bytes);
    out
}
