//! The model owner's routes (`/api/owner/...`, behind the owner's token):
//! the same operations as `blindfold model` and `blindfold kbs audit`,
//! through the same functions (`blindfold_kbs`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use blindfold_attest::bundle::{verify_bundle, BundleCheck};
use blindfold_crypto::PublicKey;
use serde::{Deserialize, Serialize};

use crate::{json_error, refuse, ApiError, Console, OwnerConfig};

/// Seal and rotate jobs, by id: their progress, polled by the page.
#[derive(Default)]
pub(crate) struct Jobs {
    next: Mutex<u64>,
    jobs: Mutex<BTreeMap<u64, Job>>,
}

/// One long operation.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Job {
    id: u64,
    /// `seal` or `rotate`.
    kind: &'static str,
    model: String,
    done: u64,
    total: u64,
    /// `running`, `done` or `failed`.
    state: &'static str,
    /// What happened (the error when failed).
    message: String,
}

impl Jobs {
    fn start(&self, kind: &'static str, model: &str) -> u64 {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        *next += 1;
        let id = *next;
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).insert(
            id,
            Job {
                id,
                kind,
                model: model.into(),
                done: 0,
                total: 0,
                state: "running",
                message: String::new(),
            },
        );
        id
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut Job)) {
        if let Some(job) = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&id) {
            f(job);
        }
    }

    fn list(&self) -> Vec<Job> {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

fn owner(console: &Console) -> Result<&OwnerConfig, ApiError> {
    console
        .config
        .owner
        .as_ref()
        .ok_or_else(|| refuse(StatusCode::NOT_FOUND, "the owner's pages are off"))
}

fn kbs_error(e: blindfold_kbs::Error) -> ApiError {
    let status = match &e {
        blindfold_kbs::Error::Store(blindfold_model_store::Error::NoSuchModel { .. }) => {
            StatusCode::NOT_FOUND
        }
        blindfold_kbs::Error::Store(blindfold_model_store::Error::Exists { .. }) => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    refuse(status, e.to_string())
}

fn store_error(e: blindfold_model_store::Error) -> ApiError {
    kbs_error(blindfold_kbs::Error::Store(e))
}

fn kek(owner: &OwnerConfig) -> Result<blindfold_kbs::Kek, ApiError> {
    blindfold_kbs::Kek::parse(&owner.kek_text).map_err(kbs_error)
}

/// `GET /api/owner/check`: the token is right; where the stores are.
pub(crate) async fn check(State(console): State<Arc<Console>>) -> Response {
    match owner(&console) {
        Ok(o) => Json(serde_json::json!({
            "models": o.stores.models.url(),
            "keys": o.stores.keys.url(),
            "audit": o.kbs_state_dir.is_some(),
        }))
        .into_response(),
        Err(r) => r.into_response(),
    }
}

/// `GET /api/owner/models`: each published model with its policy.
pub(crate) async fn list(State(console): State<Arc<Console>>) -> Response {
    let o = match owner(&console) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    let names = match o.stores.models.list().await {
        Ok(n) => n,
        Err(e) => return store_error(e).into_response(),
    };
    let owner_public = match o.owner_key.public_key() {
        Ok(k) => k,
        Err(e) => return kbs_error(e).into_response(),
    };
    let mut models = Vec::new();
    for name in names {
        let manifest = match o.stores.models.manifest(&name).await {
            Ok(m) => m,
            Err(e) => return store_error(e).into_response(),
        };
        let m = &manifest.manifest;
        let policy = match blindfold_kbs::load_policy(&o.stores.keys, &name).await {
            Ok(bytes) => {
                match blindfold_kbs::verify_policy(&bytes, &owner_public, &name, SystemTime::now(), 0) {
                    Ok(v) => serde_json::json!({
                        "version": v.policy.version,
                        "expires": v.policy.expires,
                        "key_id": v.policy.key_id,
                        "names_current_key": v.policy.key_id == m.key_id,
                        "allow_development": v.policy.allow_development,
                        "reference_version": v.reference.version,
                        "publisher_key_id": v.reference.key_id,
                        "app_disk_root_hash": app_disk_root_hash(&v.reference.reference),
                        "pcrs": v.reference.reference.pcrs.keys()
                            .map(|(bank, pcr)| format!("{} PCR {}", bank.name(), pcr.0))
                            .collect::<Vec<_>>(),
                    }),
                    Err(e) => serde_json::json!({ "error": e.to_string() }),
                }
            }
            Err(blindfold_kbs::Error::NoPolicy { .. }) => serde_json::Value::Null,
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        };
        models.push(serde_json::json!({
            "name": m.name,
            "size": m.plaintext_size,
            "sha256": m.plaintext_sha256,
            "key_id": m.key_id,
            "chunks": m.chunk_count,
            "policy": policy,
        }));
    }
    Json(models).into_response()
}

fn app_disk_root_hash(reference: &blindfold_attest::ReferenceValues) -> Option<String> {
    reference.runtime_events.iter().find_map(|e| match e {
        blindfold_protocol::RuntimeEvent::AppDisk { root_hash } => Some(hex::encode(root_hash)),
        _ => None,
    })
}

/// `DELETE /api/owner/models/NAME`.
pub(crate) async fn delete(State(console): State<Arc<Console>>, Path(name): Path<String>) -> Response {
    let o = match owner(&console) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    match o.stores.models.delete(&name).await {
        Ok(()) => Json(serde_json::json!({ "deleted": name })).into_response(),
        Err(e) => store_error(e).into_response(),
    }
}

#[derive(Deserialize)]
pub(crate) struct SealRequest {
    path: PathBuf,
    name: String,
}

/// `POST /api/owner/seal` `{path, name}`: starts sealing; the answer is
/// the job's id, whose progress `GET /api/owner/jobs` shows.
pub(crate) async fn seal(State(console): State<Arc<Console>>, Json(req): Json<SealRequest>) -> Response {
    let o = match owner(&console) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    if !req.path.is_file() {
        return json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{} is not a file on the console's machine", req.path.display()),
        );
    }
    let kek = match kek(o) {
        Ok(k) => k,
        Err(r) => return r.into_response(),
    };
    let id = console.owner_jobs.start("seal", &req.name);
    let job_console = console.clone();
    tokio::spawn(async move {
        let Some(o) = job_console.config.owner.as_ref() else {
            return;
        };
        let jobs = &job_console.owner_jobs;
        let sealed = blindfold_kbs::seal_model(
            &o.stores,
            kek,
            &req.path,
            &req.name,
            blindfold_sealed::DEFAULT_CHUNK_SIZE,
            &mut |done, total| jobs.update(id, |j| (j.done, j.total) = (done, total)),
        )
        .await;
        jobs.update(id, |j| match sealed {
            Ok(m) => {
                j.state = "done";
                j.message = format!(
                    "sealed {}: {} bytes, SHA-256 {}, key {}",
                    m.manifest.name,
                    m.manifest.plaintext_size,
                    m.manifest.plaintext_sha256,
                    m.manifest.key_id
                );
            }
            Err(e) => {
                j.state = "failed";
                j.message = e.to_string();
            }
        });
    });
    Json(serde_json::json!({ "job": id })).into_response()
}

/// `POST /api/owner/models/NAME/rotate`: starts re-sealing under a new key.
pub(crate) async fn rotate(State(console): State<Arc<Console>>, Path(name): Path<String>) -> Response {
    let o = match owner(&console) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    let kek = match kek(o) {
        Ok(k) => k,
        Err(r) => return r.into_response(),
    };
    let id = console.owner_jobs.start("rotate", &name);
    let job_console = console.clone();
    tokio::spawn(async move {
        let Some(o) = job_console.config.owner.as_ref() else {
            return;
        };
        let jobs = &job_console.owner_jobs;
        let rotated = blindfold_kbs::rotate_model_key(&o.stores, kek, &name, &mut |done, total| {
            jobs.update(id, |j| (j.done, j.total) = (done, total))
        })
        .await;
        jobs.update(id, |j| match rotated {
            Ok((m, old)) => {
                j.state = "done";
                j.message = format!(
                    "rotated {name}: key {old} -> {}; set a new policy (the stored one names the old key)",
                    m.manifest.key_id
                );
            }
            Err(e) => {
                j.state = "failed";
                j.message = e.to_string();
            }
        });
    });
    Json(serde_json::json!({ "job": id })).into_response()
}

/// `GET /api/owner/jobs`.
pub(crate) async fn jobs(State(console): State<Arc<Console>>) -> Response {
    Json(console.owner_jobs.list()).into_response()
}

#[derive(Deserialize)]
pub(crate) struct ReferenceRequest {
    /// The publisher's signed build reference (`blindfold measure --sign`).
    reference_path: PathBuf,
    /// The publisher's public key (PEM).
    publisher_key_path: PathBuf,
}

fn read_text(path: &std::path::Path) -> Result<String, ApiError> {
    std::fs::read_to_string(path).map_err(|e| {
        refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{}: {e}", path.display()),
        )
    })
}

/// The reference bundle and publisher key named, the bundle verified now.
fn verified_reference(
    req: &ReferenceRequest,
) -> Result<(Vec<u8>, String, blindfold_attest::bundle::VerifiedBundle), ApiError> {
    let bytes = read_text(&req.reference_path)?.into_bytes();
    let publisher_pem = read_text(&req.publisher_key_path)?;
    let publisher = PublicKey::from_spki_pem(&publisher_pem).map_err(|e| {
        refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{}: {e}", req.publisher_key_path.display()),
        )
    })?;
    let verified = verify_bundle(
        &bytes,
        &publisher,
        &BundleCheck {
            min_version: 0,
            at: SystemTime::now(),
        },
    )
    .map_err(|e| {
        refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "{} does not verify under {}: {e}",
                req.reference_path.display(),
                req.publisher_key_path.display()
            ),
        )
    })?;
    Ok((bytes, publisher_pem, verified))
}

/// `POST /api/owner/reference`: a signed build reference, verified, as the
/// policy editor shows it (each PCR, the app-disk root hash, the runtime
/// events it was computed from).
pub(crate) async fn reference(Json(req): Json<ReferenceRequest>) -> Response {
    let (_, _, verified) = match verified_reference(&req) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let r = &verified.reference;
    let pcrs: Vec<_> = r
        .pcrs
        .iter()
        .map(|((bank, pcr), values)| {
            serde_json::json!({
                "pcr": pcr.0,
                "bank": bank.name(),
                "values": values.allowed.iter().map(|d| d.to_hex()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(serde_json::json!({
        "version": verified.version,
        "publisher_key_id": verified.key_id,
        "kind": format!("{:?}", r.kind),
        "pcrs": pcrs,
        "app_disk_root_hash": app_disk_root_hash(r),
        "runtime_events": r.runtime_events,
    }))
    .into_response()
}

#[derive(Deserialize)]
pub(crate) struct PolicyRequest {
    #[serde(flatten)]
    reference: ReferenceRequest,
    #[serde(default)]
    allow_development: bool,
    /// Days until the policy expires (default 30).
    expires_days: Option<u64>,
}

/// `POST /api/owner/models/NAME/policy`: signs and stores a policy that
/// releases the model's key to the build in the reference.
pub(crate) async fn set_policy(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    Json(req): Json<PolicyRequest>,
) -> Response {
    let o = match owner(&console) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    let (bytes, publisher_pem, _) = match verified_reference(&req.reference) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let terms = blindfold_kbs::PolicyTerms {
        expires_in: Duration::from_secs(req.expires_days.unwrap_or(30).max(1) * 86_400),
        allow_development: req.allow_development,
    };
    match blindfold_kbs::set_policy(&o.stores, &name, &bytes, &publisher_pem, &o.owner_key, &terms).await {
        Ok(p) => Json(serde_json::json!({
            "model": p.model,
            "version": p.version,
            "key_id": p.key_id,
            "expires": p.expires,
            "allow_development": p.allow_development,
        }))
        .into_response(),
        Err(e) => kbs_error(e).into_response(),
    }
}

#[derive(Deserialize)]
pub(crate) struct KmsRequest {
    #[serde(flatten)]
    reference: ReferenceRequest,
    role_arn: String,
    owner_account: String,
    #[serde(default)]
    with_pcr7: bool,
}

/// `POST /api/owner/kms-policy`: the AWS KMS key policy for the build in
/// the reference (its SHA-384 PCR values, as NitroTPM quotes them).
pub(crate) async fn kms_policy(Json(req): Json<KmsRequest>) -> Response {
    let (_, _, verified) = match verified_reference(&req.reference) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let measurements = nitro_measurements(&verified.reference);
    match blindfold_kbs::kms_key_policy(&blindfold_kbs::KmsPolicyInput {
        measurements: &measurements,
        instance_role_arn: &req.role_arn,
        owner_account: &req.owner_account,
        include_pcr7: req.with_pcr7,
    }) {
        Ok(policy) => Json(policy).into_response(),
        Err(e) => kbs_error(e).into_response(),
    }
}

/// The build's SHA-384 PCR values in the `pcr_measurements.json` shape KMS
/// policies are written from (NitroTPM quotes SHA-384); a PCR the
/// reference allows several values for is left out (a KMS condition names
/// one), so the policy writer then says which PCR is missing.
fn nitro_measurements(reference: &blindfold_attest::ReferenceValues) -> blindfold_attest::NitroMeasurements {
    let pcrs = reference
        .pcrs
        .iter()
        .filter(|((bank, _), _)| *bank == blindfold_crypto::HashAlg::Sha384)
        .filter_map(|((_, pcr), values)| match values.allowed.as_slice() {
            [one] => Some((format!("PCR{}", pcr.0), one.to_hex())),
            _ => None,
        })
        .collect();
    blindfold_attest::NitroMeasurements {
        hash_algorithm: "SHA384".into(),
        pcrs,
    }
}

/// `GET /api/owner/audit`: the broker's releases and refusals.
pub(crate) async fn audit(State(console): State<Arc<Console>>) -> Response {
    let o = match owner(&console) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    let Some(dir) = &o.kbs_state_dir else {
        return json_error(
            StatusCode::NOT_FOUND,
            "the console was started without the broker's state directory",
        );
    };
    let path = dir.join(blindfold_kbs::AUDIT_LOG);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return json_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{}: {e}", path.display()),
            )
        }
    };
    match blindfold_kbs::parse_audit_log(&text) {
        Ok(records) => Json(records).into_response(),
        Err(e) => kbs_error(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measured_boot_build_gives_a_kms_policy_on_its_sha384_pcrs() {
        let (p4, p12, p4_256) = ("44".repeat(48), "cc".repeat(48), "aa".repeat(32));
        // Every mandatory PCR in SHA-256; 4 and 12 in SHA-384 too.
        let sha256: Vec<String> = [0, 1, 2, 3, 4, 7, 9, 11, 12, 13, 15]
            .iter()
            .map(|i| format!(r#""{i}": ["{p4_256}"]"#))
            .collect();
        let doc = format!(
            r#"{{"blindfold_measurements": 1, "kind": "measured-boot",
                "pcrs": {{"sha256": {{{}}}, "sha384": {{"4": ["{p4}"], "12": ["{p12}"]}}}}}}"#,
            sha256.join(", ")
        );
        let reference = blindfold_attest::ReferenceValues::parse(doc.as_bytes()).unwrap();
        let m = nitro_measurements(&reference);
        assert_eq!(m.pcrs.get("PCR4"), Some(&p4));
        assert_eq!(m.pcrs.get("PCR12"), Some(&p12));
        assert_eq!(m.pcrs.len(), 2, "SHA-256 values are not NitroTPM's");
        let policy = blindfold_kbs::kms_key_policy(&blindfold_kbs::KmsPolicyInput {
            measurements: &m,
            instance_role_arn: "arn:aws:iam::111122223333:role/enclave",
            owner_account: "444455556666",
            include_pcr7: false,
        })
        .unwrap();
        let text = policy.to_string();
        assert!(text.contains(&p4) && text.contains(&p12), "{text}");
    }
}
