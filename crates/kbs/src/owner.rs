//! The model owner's calls to the broker, behind the owner's bearer token:
//! reading the audit log and uploading a policy.
//!
//! The broker holds only the token's SHA-256 (`kbs token` prints it; the
//! token itself stays with the owner) and compares digests in constant
//! time. Without a configured digest the owner routes are off.

use blindfold_crypto::{ct_eq, default_provider, HashAlg};

/// The owner's audit route (GET; JSON lines).
pub const OWNER_AUDIT_PATH: &str = "/v1/owner/audit";
/// The owner's policy route prefix: `POST /v1/owner/policies/NAME` with a
/// signed policy envelope as the body.
pub const OWNER_POLICY_PREFIX: &str = "/v1/owner/policies/";
/// Bytes of randomness in a token.
const TOKEN_BYTES: usize = 32;
/// What every token starts with (so one found in a log is recognisable).
const TOKEN_PREFIX: &str = "bfo_";

/// A fresh owner token (`bfo_` and 64 hex digits) and its SHA-256, which
/// is all the broker keeps.
pub fn generate_owner_token() -> Result<(zeroize::Zeroizing<String>, [u8; 32]), getrandom::Error> {
    let mut random = zeroize::Zeroizing::new([0u8; TOKEN_BYTES]);
    getrandom::getrandom(random.as_mut_slice())?;
    let token = zeroize::Zeroizing::new(format!("{TOKEN_PREFIX}{}", hex::encode(random.as_slice())));
    let digest = owner_token_sha256(&token);
    Ok((token, digest))
}

/// The SHA-256 a broker keeps for `token`.
pub fn owner_token_sha256(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(
        default_provider()
            .hash(HashAlg::Sha256, &[token.as_bytes()])
            .as_bytes(),
    );
    out
}

/// Why an owner call is not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerAuth {
    /// The token's digest is the configured one.
    Allowed,
    /// No `Authorization: Bearer` header.
    Missing,
    /// A token whose digest differs.
    Wrong,
    /// The broker has no owner token: the routes are off.
    Off,
}

/// Checks an `Authorization` header value against the configured digest,
/// comparing digests in constant time.
pub fn check_owner_token(header: Option<&str>, configured: Option<&[u8; 32]>) -> OwnerAuth {
    let Some(configured) = configured else {
        return OwnerAuth::Off;
    };
    let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        return OwnerAuth::Missing;
    };
    if ct_eq(&owner_token_sha256(token.trim()), configured) {
        OwnerAuth::Allowed
    } else {
        OwnerAuth::Wrong
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_whose_digest_is_configured_passes() {
        let (token, digest) = generate_owner_token().unwrap();
        assert!(token.starts_with("bfo_") && token.len() == 4 + 64);
        let bearer = format!("Bearer {}", token.as_str());
        assert_eq!(
            check_owner_token(Some(&bearer), Some(&digest)),
            OwnerAuth::Allowed
        );
        let (other, _) = generate_owner_token().unwrap();
        let other = format!("Bearer {}", other.as_str());
        assert_eq!(check_owner_token(Some(&other), Some(&digest)), OwnerAuth::Wrong);
        assert_eq!(
            check_owner_token(Some(token.as_str()), Some(&digest)),
            OwnerAuth::Missing
        );
        assert_eq!(check_owner_token(None, Some(&digest)), OwnerAuth::Missing);
        assert_eq!(check_owner_token(Some(&bearer), None), OwnerAuth::Off);
    }
}
