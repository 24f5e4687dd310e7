//! Intel's TDX collateral, supplied as files (no network): the TCB Info
//! for the platform's FMSPC and the TD QE Identity, each signed by Intel's
//! TCB signing key whose certificate chains to Intel's SGX Root CA.
//!
//! Checked, in order, for each document: the issuer chain verifies to the
//! verifier's roots at the verification time; the ECDSA P-256 signature
//! over the exact text of the signed object verifies under that chain's
//! leaf; the document is the right kind (`TDX` TCB Info version 3, `TD_QE`
//! identity) and current (`issueDate` ≤ time < `nextUpdate`). Then the
//! quote is placed: the TCB Info must be for the PCK certificate's FMSPC,
//! and the first TCB level whose SGX components and PCE SVN the PCK
//! certificate reaches and whose TDX components the TD report's
//! TEE_TCB_SVN reaches gives the platform's status; the QE report must
//! match the identity (MRSIGNER, ISVPRODID, MISCSELECT and ATTRIBUTES under
//! their masks) and the first QE TCB level its ISVSVN reaches gives the
//! QE's status.
//!
//! Intel's formats are extensible: fields this reader does not use are
//! ignored, never refused.

use std::time::SystemTime;

use blindfold_crypto::{CryptoProvider, HashAlg, SignatureScheme};
use blindfold_x509::{parse_certificates, ChainVerifier, TrustStore};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::Error;
use crate::pck::PckTcb;
use crate::quote::TdQuote;

/// Collateral as files: what Intel's PCS serves for a platform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TdxCollateral {
    /// `GET /tdx/certification/v4/tcb?fmspc=..`: `{"tcbInfo": {..}, "signature": HEX}`.
    pub tcb_info: Vec<u8>,
    /// `GET /tdx/certification/v4/qe/identity`: `{"enclaveIdentity": {..}, "signature": HEX}`.
    pub qe_identity: Vec<u8>,
    /// The `TCB-Info-Issuer-Chain` header: PEM certificates, Intel's TCB
    /// signing certificate first (the QE Identity has the same issuer).
    pub issuer_chain: Vec<u8>,
}

/// A TCB level's status, as Intel names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum TcbStatus {
    /// Patched and configured as Intel recommends.
    UpToDate,
    /// Patched; software mitigations are needed for some advisories.
    SWHardeningNeeded,
    /// Patched; the platform's configuration needs changes.
    ConfigurationNeeded,
    /// Both of the above.
    ConfigurationAndSWHardeningNeeded,
    /// A newer TCB (microcode, TDX module, QE) exists that fixes advisories.
    OutOfDate,
    /// Out of date and needing configuration changes.
    OutOfDateConfigurationNeeded,
    /// The TCB is revoked.
    Revoked,
}

impl TcbStatus {
    /// Intel's name for it.
    pub fn name(self) -> &'static str {
        match self {
            TcbStatus::UpToDate => "UpToDate",
            TcbStatus::SWHardeningNeeded => "SWHardeningNeeded",
            TcbStatus::ConfigurationNeeded => "ConfigurationNeeded",
            TcbStatus::ConfigurationAndSWHardeningNeeded => "ConfigurationAndSWHardeningNeeded",
            TcbStatus::OutOfDate => "OutOfDate",
            TcbStatus::OutOfDateConfigurationNeeded => "OutOfDateConfigurationNeeded",
            TcbStatus::Revoked => "Revoked",
        }
    }
}

impl std::fmt::Display for TcbStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the collateral says about a verified quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcbVerdict {
    /// The platform's TCB level status (TDX module identity included).
    pub platform: TcbStatus,
    /// The quoting enclave's TCB level status.
    pub qe: TcbStatus,
    /// The platform level's `tcbDate`.
    pub tcb_date: String,
    /// Intel security advisories the platform's level lists.
    pub advisory_ids: Vec<String>,
    /// The earlier `nextUpdate` of the two documents (RFC 3339).
    pub next_update: String,
    /// The TCB Info's `tcbEvaluationDataNumber`.
    pub evaluation_data_number: u32,
}

impl TcbVerdict {
    /// The worse of the platform's and the QE's status.
    pub fn status(&self) -> TcbStatus {
        self.platform.max(self.qe)
    }
}

#[derive(Deserialize)]
struct Signed<'a> {
    #[serde(borrow, alias = "tcbInfo", alias = "enclaveIdentity")]
    body: &'a RawValue,
    signature: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TcbInfo {
    id: String,
    version: u32,
    issue_date: String,
    next_update: String,
    fmspc: String,
    tcb_evaluation_data_number: u32,
    #[serde(default)]
    tdx_module: Option<ModuleSigner>,
    #[serde(default)]
    tdx_module_identities: Vec<ModuleIdentity>,
    tcb_levels: Vec<TcbLevel>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TcbLevel {
    tcb: Tcb,
    tcb_date: String,
    tcb_status: TcbStatus,
    #[serde(default, rename = "advisoryIDs")]
    advisory_ids: Vec<String>,
}

#[derive(Deserialize)]
struct Tcb {
    sgxtcbcomponents: Vec<Component>,
    pcesvn: u16,
    tdxtcbcomponents: Vec<Component>,
}

#[derive(Deserialize)]
struct Component {
    svn: u8,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModuleIdentity {
    id: String,
    #[serde(flatten)]
    signer: ModuleSigner,
    tcb_levels: Vec<ModuleTcbLevel>,
}

/// Who signed the TDX module, and its attributes under a mask.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModuleSigner {
    mrsigner: String,
    attributes: String,
    attributes_mask: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModuleTcbLevel {
    tcb: IsvSvn,
    tcb_status: TcbStatus,
}

#[derive(Deserialize)]
struct IsvSvn {
    isvsvn: u16,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QeIdentity {
    id: String,
    issue_date: String,
    next_update: String,
    miscselect: String,
    miscselect_mask: String,
    attributes: String,
    attributes_mask: String,
    mrsigner: String,
    isvprodid: u16,
    tcb_levels: Vec<ModuleTcbLevel>,
}

/// Checks `collateral` and places `quote` (whose PCK leaf carried `pck`).
pub(crate) fn judge(
    collateral: &TdxCollateral,
    quote: &TdQuote,
    pck: &PckTcb,
    store: &TrustStore,
    provider: &'static dyn CryptoProvider,
    at: SystemTime,
) -> Result<TcbVerdict, Error> {
    let tcb_text = verified_body("TCB Info", &collateral.tcb_info, collateral, store, provider, at)?;
    let info: TcbInfo = serde_json::from_str(tcb_text).map_err(|e| malformed("TCB Info", e))?;
    if info.id != "TDX" || info.version != 3 {
        return Err(malformed(
            "TCB Info",
            format!("id {} version {}, expected TDX version 3", info.id, info.version),
        ));
    }
    current("TCB Info", &info.issue_date, &info.next_update, at)?;
    if !info.fmspc.eq_ignore_ascii_case(&hex::encode(pck.fmspc)) {
        return Err(Error::CollateralFmspc {
            collateral: info.fmspc.to_ascii_lowercase(),
            quote: hex::encode(pck.fmspc),
        });
    }
    let tee = &quote.body.tee_tcb_svn;
    // With a TDX module version (TEE_TCB_SVN[1]) above 0, the first two
    // components are the module's own SVN and version, judged by its
    // identity's levels instead.
    let skip = if tee[1] > 0 { 2 } else { 0 };
    let level = info
        .tcb_levels
        .iter()
        .find(|l| {
            l.tcb.sgxtcbcomponents.len() == 16
                && l.tcb.tdxtcbcomponents.len() == 16
                && l.tcb
                    .sgxtcbcomponents
                    .iter()
                    .zip(pck.cpu_svn)
                    .all(|(c, have)| have >= c.svn)
                && pck.pce_svn >= l.tcb.pcesvn
                && l.tcb
                    .tdxtcbcomponents
                    .iter()
                    .zip(tee)
                    .skip(skip)
                    .all(|(c, have)| *have >= c.svn)
        })
        .ok_or(Error::NoTcbLevel)?;
    let mut platform = level.tcb_status;
    let module_signer = if tee[1] > 0 {
        let id = format!("TDX_{:02X}", tee[1]);
        let module = info
            .tdx_module_identities
            .iter()
            .find(|m| m.id.eq_ignore_ascii_case(&id))
            .ok_or_else(|| malformed("TCB Info", format!("no TDX module identity {id}")))?;
        let module_level = module
            .tcb_levels
            .iter()
            .find(|l| u16::from(tee[0]) >= l.tcb.isvsvn)
            .ok_or(Error::NoTcbLevel)?;
        platform = platform.max(module_level.tcb_status);
        Some(&module.signer)
    } else {
        info.tdx_module.as_ref()
    };
    if let Some(signer) = module_signer {
        let body = &quote.body;
        masked_equal(
            "TCB Info",
            "the TDX module's MRSIGNER",
            &signer.mrsigner,
            &body.mr_signer_seam,
            None,
        )?;
        masked_equal(
            "TCB Info",
            "the TDX module's attributes",
            &signer.attributes,
            &body.seam_attributes,
            Some(&signer.attributes_mask),
        )?;
    }

    let qe_text = verified_body(
        "QE Identity",
        &collateral.qe_identity,
        collateral,
        store,
        provider,
        at,
    )?;
    let identity: QeIdentity = serde_json::from_str(qe_text).map_err(|e| malformed("QE Identity", e))?;
    if identity.id != "TD_QE" {
        return Err(malformed(
            "QE Identity",
            format!("id {}, expected TD_QE", identity.id),
        ));
    }
    current("QE Identity", &identity.issue_date, &identity.next_update, at)?;
    let qe = &quote.signature_data.qe_report;
    let field =
        |name, expected: &str, actual: &[u8], mask| masked_equal("QE Identity", name, expected, actual, mask);
    field("MRSIGNER", &identity.mrsigner, &qe.mr_signer, None)?;
    // MISCSELECT is little-endian in the report, big-endian text in the identity.
    field(
        "MISCSELECT",
        &identity.miscselect,
        &qe.misc_select.to_be_bytes(),
        Some(&identity.miscselect_mask),
    )?;
    field(
        "ATTRIBUTES",
        &identity.attributes,
        &qe.attributes,
        Some(&identity.attributes_mask),
    )?;
    if qe.isv_prod_id != identity.isvprodid {
        return Err(Error::CollateralMismatch {
            what: "QE Identity",
            field: "ISVPRODID",
            expected: identity.isvprodid.to_string(),
            actual: qe.isv_prod_id.to_string(),
        });
    }
    let qe_level = identity
        .tcb_levels
        .iter()
        .find(|l| qe.isv_svn >= l.tcb.isvsvn)
        .ok_or(Error::NoTcbLevel)?;

    let next_update = if earlier(&identity.next_update, &info.next_update) {
        identity.next_update
    } else {
        info.next_update
    };
    Ok(TcbVerdict {
        platform,
        qe: qe_level.tcb_status,
        tcb_date: level.tcb_date.clone(),
        advisory_ids: level.advisory_ids.clone(),
        next_update,
        evaluation_data_number: info.tcb_evaluation_data_number,
    })
}

/// The signed object's exact text, after its issuer chain and signature
/// verified.
fn verified_body<'a>(
    what: &'static str,
    document: &'a [u8],
    collateral: &TdxCollateral,
    store: &TrustStore,
    provider: &'static dyn CryptoProvider,
    at: SystemTime,
) -> Result<&'a str, Error> {
    let signed: Signed<'a> = serde_json::from_slice(document).map_err(|e| malformed(what, e))?;
    let certs = parse_certificates(&collateral.issuer_chain)
        .map_err(|e| Error::CollateralChain { what, cause: e })?;
    let (leaf, rest) = certs.split_first().ok_or_else(|| Error::CollateralChain {
        what,
        cause: blindfold_x509::Error::Parse("no certificate in the issuer chain".into()),
    })?;
    let chain = ChainVerifier::new(store.clone())
        .with_provider(provider)
        .verify(leaf, rest, at)
        .map_err(|e| Error::CollateralChain { what, cause: e })?;
    let rs = hex::decode(&signed.signature).map_err(|e| malformed(what, format!("signature: {e}")))?;
    if rs.len() != 64 {
        return Err(Error::CollateralSignature {
            what,
            why: format!("{} bytes, not a 64-byte ECDSA P-256 r || s", rs.len()),
        });
    }
    let (r, s) = rs.split_at(32);
    provider
        .verify_signature(
            chain.leaf_key(),
            SignatureScheme::Ecdsa(HashAlg::Sha256),
            signed.body.get().as_bytes(),
            &blindfold_crypto::Signature::Ecdsa {
                r: r.to_vec(),
                s: s.to_vec(),
            },
        )
        .map_err(|e| Error::CollateralSignature {
            what,
            why: e.to_string(),
        })?;
    Ok(signed.body.get())
}

/// `actual & mask == expected`, the collateral's values being hex text
/// (no mask: all bits compared).
fn masked_equal(
    what: &'static str,
    name: &'static str,
    expected: &str,
    actual: &[u8],
    mask: Option<&str>,
) -> Result<(), Error> {
    let hexes = |t: &str| hex::decode(t).map_err(|e| malformed(what, format!("{name}: {e}")));
    let expected = hexes(expected)?;
    let mask = match mask {
        Some(m) => hexes(m)?,
        None => vec![0xff; actual.len()],
    };
    let masked: Vec<u8> = actual.iter().zip(&mask).map(|(a, m)| a & m).collect();
    if mask.len() != actual.len() || masked != expected {
        return Err(Error::CollateralMismatch {
            what,
            field: name,
            expected: hex::encode(expected),
            actual: hex::encode(masked),
        });
    }
    Ok(())
}

fn malformed(what: &'static str, e: impl std::fmt::Display) -> Error {
    Error::CollateralFormat {
        what,
        why: e.to_string(),
    }
}

fn time(what: &'static str, text: &str) -> Result<SystemTime, Error> {
    humantime::parse_rfc3339_weak(text.trim_end_matches('Z'))
        .map_err(|e| malformed(what, format!("time {text}: {e}")))
}

fn current(what: &'static str, issued: &str, next_update: &str, at: SystemTime) -> Result<(), Error> {
    if time(what, issued)? > at {
        return Err(Error::CollateralNotYetValid {
            what,
            issued: issued.into(),
        });
    }
    if time(what, next_update)? <= at {
        return Err(Error::CollateralExpired {
            what,
            next_update: next_update.into(),
        });
    }
    Ok(())
}

fn earlier(a: &str, b: &str) -> bool {
    match (time("", a), time("", b)) {
        (Ok(a), Ok(b)) => a < b,
        _ => false,
    }
}
