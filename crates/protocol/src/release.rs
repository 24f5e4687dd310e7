//! The key-release protocol between an enclave and the key broker
//! (`docs/sealed-models.md`): what the enclave asks, what its evidence
//! binds, and how the data key travels back (HPKE, RFC 9180).
//!
//! On one TLS connection to the broker (whose SPKI the enclave pins from
//! its measured configuration) the enclave gets a [`ChallengeV1`], makes a
//! fresh HPKE key pair in memory, and sends a [`ReleaseRequestV1`] whose
//! evidence's qualifying data is [`release_qualifying_data`]: the
//! key-release purpose label, a nonce that hashes the challenge, the model,
//! the key id and the HPKE public key, the broker's SPKI and this
//! session's exporter. Evidence made for a client session never verifies
//! here, nor this evidence there (the purpose differs). The broker answers
//! a [`ReleaseResponseV1`]: the data key sealed to that HPKE key with
//! `info` = label ‖ model ‖ policy version, which only the enclave that
//! made the key pair can open ([`ReleaseKeyPair::open`]).
//!
//! Extension rule: each message carries its version; a reader refuses
//! other versions and unknown fields.

use hpke::{Deserializable, Kem as _, Serializable};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::binding::{length_prefixed_sha256, qualifying_data, Purpose};
use crate::evidence::EvidenceV1;

/// The HPKE suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.
type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::AesGcm256;

/// The label that starts the HPKE `info` and the release nonce.
pub const RELEASE_LABEL: &str = "blindfold/kbs/key-release/v1";
/// The broker's challenge route (POST, empty body).
pub const CHALLENGE_PATH: &str = "/v1/challenge";
/// The broker's release route (POST, a [`ReleaseRequestV1`]).
pub const RELEASE_PATH: &str = "/v1/release";
/// The name in the broker's self-signed certificate (the enclave pins its
/// key, not its name).
pub const BROKER_SERVER_NAME: &str = "blindfold-kbs";
/// Bytes of a broker challenge.
pub const CHALLENGE_LEN: usize = 32;

/// The broker's challenge: single use, for this connection only, valid
/// for a minute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeV1 {
    /// Always 1.
    pub blindfold_challenge: u64,
    /// [`CHALLENGE_LEN`] random bytes, hex.
    pub challenge: String,
    /// Seconds it stays valid.
    pub expires_in: u64,
}

/// The enclave's request for a model's data key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequestV1 {
    /// Always 1.
    pub blindfold_release: u64,
    /// The challenge it answers (hex).
    pub challenge: String,
    /// The model its measured configuration names.
    pub model: String,
    /// The key id the model's manifest names.
    pub key_id: String,
    /// The enclave's ephemeral X25519 HPKE public key (hex).
    pub hpke_public_key: String,
    /// Evidence whose qualifying data is [`release_qualifying_data`].
    pub evidence: EvidenceV1,
}

/// The broker's answer: the data key sealed to the request's HPKE key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseResponseV1 {
    /// Always 1.
    pub blindfold_release: u64,
    /// The policy version the release was decided under (in the HPKE info).
    pub policy_version: u64,
    /// The HPKE encapsulated key (hex).
    pub encapsulated_key: String,
    /// The data key under HPKE, with its tag (hex).
    pub sealed_key: String,
}

/// The nonce a release request's evidence answers: SHA-256 over the
/// length-prefixed label, challenge, model, key id and HPKE public key.
pub fn release_nonce(challenge: &[u8], model: &str, key_id: &str, hpke_public_key: &[u8]) -> [u8; 32] {
    length_prefixed_sha256(&[
        RELEASE_LABEL.as_bytes(),
        challenge,
        model.as_bytes(),
        key_id.as_bytes(),
        hpke_public_key,
    ])
}

/// The qualifying data of a key-release quote: the [`Purpose::KeyRelease`]
/// binding of [`release_nonce`] to the broker's TLS key and this session.
pub fn release_qualifying_data(
    challenge: &[u8],
    model: &str,
    key_id: &str,
    hpke_public_key: &[u8],
    broker_spki_der: &[u8],
    exporter: &[u8],
) -> [u8; 32] {
    let nonce = release_nonce(challenge, model, key_id, hpke_public_key);
    qualifying_data(Purpose::KeyRelease, &nonce, broker_spki_der, exporter)
}

fn info(model: &str, policy_version: u64) -> Vec<u8> {
    let mut out = RELEASE_LABEL.as_bytes().to_vec();
    out.extend_from_slice(&(model.len() as u32).to_be_bytes());
    out.extend_from_slice(model.as_bytes());
    out.extend_from_slice(&policy_version.to_be_bytes());
    out
}

/// Why a release message could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    /// A field is not what the protocol says.
    #[error("release message: {0}")]
    Malformed(String),
    /// The sealed key does not open with this key pair, model and policy
    /// version.
    #[error("the released key does not open: sealed to another key pair, model or policy version")]
    Open,
}

/// The enclave's ephemeral HPKE key pair for one release; the private key
/// lives only in memory (`hpke` wipes it on drop).
pub struct ReleaseKeyPair {
    private: <Kem as hpke::Kem>::PrivateKey,
    public: <Kem as hpke::Kem>::PublicKey,
}

impl ReleaseKeyPair {
    /// A fresh key pair from the operating system's randomness.
    pub fn generate() -> ReleaseKeyPair {
        let (private, public) = Kem::gen_keypair(&mut rand::rngs::OsRng);
        ReleaseKeyPair { private, public }
    }

    /// The public key's bytes (32).
    pub fn public_key(&self) -> Vec<u8> {
        self.public.to_bytes().to_vec()
    }

    /// Opens the data key in `response`, released for `model`.
    pub fn open(
        &self,
        response: &ReleaseResponseV1,
        model: &str,
    ) -> Result<Zeroizing<Vec<u8>>, ReleaseError> {
        let hex_field = |name: &str, v: &str| {
            hex::decode(v).map_err(|_| ReleaseError::Malformed(format!("{name} is not hex")))
        };
        let encapped = <Kem as hpke::Kem>::EncappedKey::from_bytes(&hex_field(
            "encapsulated_key",
            &response.encapsulated_key,
        )?)
        .map_err(|_| ReleaseError::Malformed("encapsulated_key is not an X25519 key".into()))?;
        let sealed = hex_field("sealed_key", &response.sealed_key)?;
        hpke::single_shot_open::<Aead, Kdf, Kem>(
            &hpke::OpModeR::Base,
            &self.private,
            &encapped,
            &info(model, response.policy_version),
            &sealed,
            b"",
        )
        .map(Zeroizing::new)
        .map_err(|_| ReleaseError::Open)
    }
}

/// Seals `data_key` to the HPKE public key `recipient` (the request's) for
/// `model` under policy `policy_version`: the broker's side.
pub fn seal_key(
    recipient: &[u8],
    model: &str,
    policy_version: u64,
    data_key: &[u8],
) -> Result<ReleaseResponseV1, ReleaseError> {
    let public = <Kem as hpke::Kem>::PublicKey::from_bytes(recipient)
        .map_err(|_| ReleaseError::Malformed("hpke_public_key is not an X25519 key".into()))?;
    let (encapped, sealed) = hpke::single_shot_seal::<Aead, Kdf, Kem, _>(
        &hpke::OpModeS::Base,
        &public,
        &info(model, policy_version),
        data_key,
        b"",
        &mut rand::rngs::OsRng,
    )
    .map_err(|e| ReleaseError::Malformed(format!("sealing: {e}")))?;
    Ok(ReleaseResponseV1 {
        blindfold_release: 1,
        policy_version,
        encapsulated_key: hex::encode(encapped.to_bytes()),
        sealed_key: hex::encode(sealed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_only_for_its_pair_model_and_version() {
        let pair = ReleaseKeyPair::generate();
        let response = seal_key(&pair.public_key(), "smollm2", 3, &[9; 32]).unwrap();
        assert_eq!(pair.open(&response, "smollm2").unwrap().as_slice(), &[9; 32]);
        assert_eq!(pair.open(&response, "other").unwrap_err(), ReleaseError::Open);
        let mut older = response.clone();
        older.policy_version = 2;
        assert_eq!(pair.open(&older, "smollm2").unwrap_err(), ReleaseError::Open);
        let other = ReleaseKeyPair::generate();
        assert_eq!(other.open(&response, "smollm2").unwrap_err(), ReleaseError::Open);
    }

    #[test]
    fn every_field_moves_the_qualifying_data() {
        let base = release_qualifying_data(&[1; 32], "m", "k", &[2; 32], b"spki", &[3; 32]);
        for changed in [
            release_qualifying_data(&[9; 32], "m", "k", &[2; 32], b"spki", &[3; 32]),
            release_qualifying_data(&[1; 32], "n", "k", &[2; 32], b"spki", &[3; 32]),
            release_qualifying_data(&[1; 32], "m", "j", &[2; 32], b"spki", &[3; 32]),
            release_qualifying_data(&[1; 32], "m", "k", &[8; 32], b"spki", &[3; 32]),
            release_qualifying_data(&[1; 32], "m", "k", &[2; 32], b"other", &[3; 32]),
            release_qualifying_data(&[1; 32], "m", "k", &[2; 32], b"spki", &[7; 32]),
        ] {
            assert_ne!(base, changed);
        }
        // The client-session binding of the same nonce is another value.
        let nonce = release_nonce(&[1; 32], "m", "k", &[2; 32]);
        assert_ne!(
            base,
            qualifying_data(Purpose::ClientSession, &nonce, b"spki", &[3; 32])
        );
    }
}
