//! Generated AWS Nitro attestation documents for tests: a chain the test
//! makes ("test nitro root" → a leaf, ECDSA P-384; never bundled anywhere)
//! signs a `COSE_Sign1` document whose fields the test chooses, an enclave's
//! (`pcrs`) or a NitroTPM's (`nitrotpm_pcrs`). Real documents verify only to
//! AWS's Root-G1; these verify only to their own root.

use coset::{iana, CborSerializable, CoseSign1Builder, HeaderBuilder};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P384_SHA384_FIXED_SIGNING};

/// What a generated document says.
#[derive(Debug, Clone)]
pub struct DocumentSpec {
    /// The signature algorithm the protected header names (the key is
    /// P-384 either way: another name makes a malformed document).
    pub algorithm: iana::Algorithm,
    /// `nitrotpm_pcrs` (a NitroTPM) rather than `pcrs` (an enclave).
    pub nitrotpm: bool,
    /// The PCRs, by index (48-byte values).
    pub pcrs: Vec<(u8, Vec<u8>)>,
    /// `nonce`.
    pub nonce: Option<Vec<u8>>,
    /// `public_key`.
    pub public_key: Option<Vec<u8>>,
    /// `timestamp`, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

/// The signed document (`COSE_Sign1` bytes) and the root (DER) it
/// verifies to.
pub fn document(spec: &DocumentSpec) -> (Vec<u8>, Vec<u8>) {
    let alg = &rcgen::PKCS_ECDSA_P384_SHA384;
    let root_key = KeyPair::generate_for(alg).expect("root key");
    let mut root = CertificateParams::new(vec![]).expect("root params");
    root.distinguished_name
        .push(DnType::CommonName, "test nitro root");
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let root_cert = root.self_signed(&root_key).expect("root");
    let leaf_key = KeyPair::generate_for(alg).expect("leaf key");
    let mut leaf = CertificateParams::new(vec![]).expect("leaf params");
    leaf.distinguished_name.push(DnType::CommonName, "i-test-enc0");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let leaf_cert = leaf.signed_by(&leaf_key, &root_cert, &root_key).expect("leaf");

    use ciborium::Value as V;
    let bytes = |b: &Option<Vec<u8>>| b.as_ref().map_or(V::Null, |b| V::Bytes(b.clone()));
    let pcrs = spec
        .pcrs
        .iter()
        .map(|(i, v)| (V::Integer((*i).into()), V::Bytes(v.clone())))
        .collect();
    let pcr_field = if spec.nitrotpm { "nitrotpm_pcrs" } else { "pcrs" };
    let payload = V::Map(vec![
        (V::Text("module_id".into()), V::Text("i-test-enc0".into())),
        (V::Text("digest".into()), V::Text("SHA384".into())),
        (V::Text("timestamp".into()), V::Integer(spec.timestamp_ms.into())),
        (V::Text(pcr_field.into()), V::Map(pcrs)),
        (V::Text("certificate".into()), V::Bytes(leaf_cert.der().to_vec())),
        (
            V::Text("cabundle".into()),
            V::Array(vec![V::Bytes(root_cert.der().to_vec())]),
        ),
        (V::Text("public_key".into()), bytes(&spec.public_key)),
        (V::Text("user_data".into()), V::Null),
        (V::Text("nonce".into()), bytes(&spec.nonce)),
    ]);
    let mut payload_bytes = Vec::new();
    ciborium::ser::into_writer(&payload, &mut payload_bytes).expect("CBOR");
    let signer = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P384_SHA384_FIXED_SIGNING,
        &leaf_key.serialize_der(),
        &SystemRandom::new(),
    )
    .expect("leaf key as PKCS#8");
    let sign1 = CoseSign1Builder::new()
        .protected(HeaderBuilder::new().algorithm(spec.algorithm).build())
        .payload(payload_bytes)
        .create_signature(&[], |tbs| {
            signer
                .sign(&SystemRandom::new(), tbs)
                .expect("signature")
                .as_ref()
                .to_vec()
        })
        .build();
    (sign1.to_vec().expect("COSE"), root_cert.der().to_vec())
}
