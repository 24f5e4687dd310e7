//! Every format written and read back by the same type; each rule of a
//! reader shown rejecting the bad case with its specific error.
#![allow(clippy::unwrap_used, missing_docs)]

use blindfold_crypto::{default_provider, Digest, HashAlg};
use blindfold_protocol::{runtime_events, CelRecord, Error, EvidenceV1, QuoteV1, RuntimeEvent, RuntimeLog};
use blindfold_tpm::{PcrIndex, PcrValues};

fn log() -> RuntimeLog {
    let mut events = runtime_events(None, &[1; 32], b"{\"listen\": \"127.0.0.1:0\"}");
    events.push(RuntimeEvent::model("smollm2", &[3; 32]));
    RuntimeLog {
        events,
        banks: vec![HashAlg::Sha256, HashAlg::Sha384],
    }
}

fn evidence() -> EvidenceV1 {
    let mut pcrs = PcrValues::new();
    for i in 0..16 {
        pcrs.insert(PcrIndex(i), Digest::new(HashAlg::Sha256, &[i as u8; 32]).unwrap());
    }
    EvidenceV1 {
        blindfold_evidence: 1,
        platform: "local".into(),
        quote: QuoteV1 {
            message: vec![0xff, 0x54, 0x43, 0x47],
            signature: vec![0, 1, 2],
        },
        pcrs,
        ak_public: vec![9; 10],
        ak_cert_chain: vec![vec![0x30, 0x82], vec![0x30, 0x81]],
        firmware_log: None,
        runtime_log: log().to_records(),
        platform_report: None,
    }
}

#[test]
fn the_recipe_is_app_disk_config_ready() {
    let events = runtime_events(None, &[1; 32], b"config bytes");
    let sha = default_provider().hash(HashAlg::Sha256, &[b"config bytes"]);
    assert_eq!(
        events,
        vec![
            RuntimeEvent::AppDisk {
                root_hash: vec![1; 32]
            },
            RuntimeEvent::Config {
                sha256: sha.as_bytes().to_vec()
            },
            RuntimeEvent::Ready,
        ]
    );
}

#[test]
fn runtime_log_round_trip_and_replay() {
    let records = log().to_records();
    let json = serde_json::to_vec(&records).unwrap();
    let back: Vec<CelRecord> = serde_json::from_slice(&json).unwrap();
    let parsed = RuntimeLog::from_records(&back).unwrap();
    assert_eq!(parsed, log());
    let p = default_provider();
    let mut pcr = Digest::zero(HashAlg::Sha256);
    for e in &parsed.events {
        pcr = p.hash(
            HashAlg::Sha256,
            &[
                pcr.as_bytes(),
                p.hash(HashAlg::Sha256, &[&e.measured_bytes()]).as_bytes(),
            ],
        );
    }
    assert_eq!(parsed.replay().get(HashAlg::Sha256, PcrIndex(15)), Some(&pcr));
    assert!(parsed.is_ready());
}

#[test]
fn the_cel_shape_is_the_documented_one() {
    let v = serde_json::to_value(&log().to_records()[3]).unwrap();
    assert_eq!(v["content"]["type"], "model");
    assert_eq!(v["content"]["name"], "smollm2");
    assert_eq!(v["content"]["sha256"], "03".repeat(32));
    assert_eq!(v["digests"][0]["hashAlg"], "sha256");
    assert_eq!(v["content_type"], "blindfold");
    let ready = serde_json::to_value(&log().to_records()[2]).unwrap();
    assert_eq!(ready["content"], serde_json::json!({"type": "ready"}));
}

#[test]
fn an_edited_event_is_named() {
    let mut records = log().to_records();
    records[1].content = RuntimeEvent::Config { sha256: vec![9; 32] };
    let err = RuntimeLog::from_records(&records).unwrap_err();
    assert!(
        matches!(
            err,
            Error::RuntimeEventDigest {
                record: 1,
                bank: HashAlg::Sha256,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn only_model_loads_may_follow_ready() {
    let mut l = log();
    l.events.push(RuntimeEvent::model("second", &[4; 32]));
    RuntimeLog::from_records(&l.to_records()).unwrap();
    l.events.push(RuntimeEvent::Config { sha256: vec![5; 32] });
    assert_eq!(
        RuntimeLog::from_records(&l.to_records()).unwrap_err(),
        Error::RuntimeEventAfterReady { record: 5 }
    );
}

#[test]
fn records_must_be_numbered_in_pcr15_with_digests() {
    let mut records = log().to_records();
    records[2].recnum = 7;
    assert!(matches!(
        RuntimeLog::from_records(&records).unwrap_err(),
        Error::RuntimeRecord { record: 2, .. }
    ));
    let mut records = log().to_records();
    records[0].pcr = 14;
    assert!(matches!(
        RuntimeLog::from_records(&records).unwrap_err(),
        Error::RuntimeRecord { record: 0, .. }
    ));
    let mut records = log().to_records();
    records[1].digests.clear();
    assert!(matches!(
        RuntimeLog::from_records(&records).unwrap_err(),
        Error::RuntimeRecord { record: 1, .. }
    ));
    let mut records = log().to_records();
    records[1].digests.truncate(1);
    assert!(matches!(
        RuntimeLog::from_records(&records).unwrap_err(),
        Error::RuntimeRecord { record: 1, .. }
    ));
    assert_eq!(RuntimeLog::from_records(&[]).unwrap_err(), Error::EmptyRuntimeLog);
}

#[test]
fn an_unknown_event_type_is_refused_not_skipped() {
    let mut v = serde_json::to_value(log().to_records()).unwrap();
    v[0]["content"] = serde_json::json!({"type": "firmware-blob", "sha256": "00"});
    assert!(serde_json::from_value::<Vec<CelRecord>>(v).is_err());
}

#[test]
fn evidence_round_trip() {
    let e = evidence();
    let json = e.to_json();
    assert!(EvidenceV1::is_blindfold_evidence(&json));
    assert_eq!(EvidenceV1::from_json(&json).unwrap(), e);
    let with_log = EvidenceV1 {
        firmware_log: Some(vec![1, 2, 3]),
        ..evidence()
    };
    assert_eq!(EvidenceV1::from_json(&with_log.to_json()).unwrap(), with_log);
}

#[test]
fn a_newer_version_is_named() {
    let mut v: serde_json::Value = serde_json::from_slice(&evidence().to_json()).unwrap();
    v["blindfold_evidence"] = serde_json::json!(2);
    let err = EvidenceV1::from_json(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert_eq!(
        err,
        Error::UnsupportedVersion {
            format: "Blindfold evidence",
            found: 2,
            understood: 1
        }
    );
    assert!(err.to_string().contains("version 2"), "{err}");
}

#[test]
fn unknown_and_missing_fields_are_refused() {
    let mut v: serde_json::Value = serde_json::from_slice(&evidence().to_json()).unwrap();
    v["extra_claim"] = serde_json::json!("trust me");
    let err = EvidenceV1::from_json(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert!(
        matches!(&err, Error::Malformed { why, .. } if why.contains("extra_claim")),
        "{err:?}"
    );
    let mut v: serde_json::Value = serde_json::from_slice(&evidence().to_json()).unwrap();
    v.as_object_mut().unwrap().remove("quote");
    let err = EvidenceV1::from_json(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert!(
        matches!(&err, Error::Malformed { why, .. } if why.contains("quote")),
        "{err:?}"
    );
    let mut v: serde_json::Value = serde_json::from_slice(&evidence().to_json()).unwrap();
    v["pcrs"]["sha256"]["3"] = serde_json::json!("abcd");
    let err = EvidenceV1::from_json(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert!(
        matches!(&err, Error::Malformed { why, .. } if why.contains("PCR 3")),
        "{err:?}"
    );
}

#[test]
fn the_environment_report_round_trips_and_readers_ignore_new_fields() {
    use blindfold_protocol::EnvironmentV1;
    let report = EnvironmentV1::new("0.1.0", "embedded", Some("smollm2".into()), 42, "image");
    let json = serde_json::to_string(&report).unwrap();
    assert_eq!(serde_json::from_str::<EnvironmentV1>(&json).unwrap(), report);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["blindfold_environment"], 1);
    assert_eq!(v["uptime_seconds"], 42);
    // A newer enclave's extra field does not break an older reader.
    let newer = json.replacen('{', r#"{"gpu":"h100","#, 1);
    assert_eq!(serde_json::from_str::<EnvironmentV1>(&newer).unwrap(), report);
}

#[test]
fn the_platform_report_is_absent_unless_sent_and_round_trips_by_kind() {
    use blindfold_protocol::PlatformReportV1;
    let plain = evidence();
    let json: serde_json::Value = serde_json::from_slice(&plain.to_json()).unwrap();
    assert!(json.get("platform_report").is_none(), "absent, not null");
    for report in [
        PlatformReportV1::AzureSnp {
            hcl_report: vec![1, 2],
            vcek: vec![3],
        },
        PlatformReportV1::AzureTdx {
            hcl_report: vec![4],
            td_quote: vec![5, 6],
        },
        PlatformReportV1::NitroDocument { document: vec![7] },
    ] {
        let mut e = evidence();
        e.platform_report = Some(report);
        let bytes = e.to_json();
        assert_eq!(EvidenceV1::from_json(&bytes).unwrap(), e);
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let kind = json["platform_report"]["kind"].as_str().unwrap().to_string();
        assert!(["azure-snp", "azure-tdx", "nitro-document"].contains(&kind.as_str()));
    }
    // An unknown kind or field is refused, like any unknown field.
    let mut json: serde_json::Value = serde_json::from_slice(&evidence().to_json()).unwrap();
    json["platform_report"] = serde_json::json!({"kind": "sgx", "quote": "AA=="});
    let e = EvidenceV1::from_json(&serde_json::to_vec(&json).unwrap()).unwrap_err();
    assert!(matches!(e, Error::Malformed { .. }), "{e}");
    json["platform_report"] = serde_json::json!({"kind": "nitro-document", "document": "AA==", "extra": 1});
    let e = EvidenceV1::from_json(&serde_json::to_vec(&json).unwrap()).unwrap_err();
    assert!(matches!(e, Error::Malformed { .. }), "{e}");
}
