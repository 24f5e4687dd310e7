//! The AWS KMS path for owners on AWS: a key policy that lets only an
//! instance booted from the measured image decrypt, through KMS's own
//! NitroTPM attestation checks.
//!
//! The policy has four statements: the owner's account administers the key
//! (never `kms:*`, never `Decrypt`); the instance role may `kms:Decrypt`
//! only when the request's NitroTPM attestation document carries the
//! build's PCR 4 and PCR 12 (SHA-384, lower-case hex,
//! `StringEqualsIgnoreCase`; PCR 7 too when asked, since it must come from
//! the image's UEFI data or a captured reference boot); a `Decrypt` without
//! a `Recipient` (no attestation) is denied; and the instance role is
//! denied `ReEncrypt*`, `CreateGrant` and `PutKeyPolicy`. An instance role
//! in the owner's own account is refused: the operator would administer
//! the key.

use blindfold_attest::NitroMeasurements;
use serde_json::{json, Value};

use crate::Error;

/// What the key policy is made from.
#[derive(Debug, Clone, Copy)]
pub struct KmsPolicyInput<'a> {
    /// The build's `pcr_measurements.json` (SHA-384).
    pub measurements: &'a NitroMeasurements,
    /// The instance role the enclave's instance runs as (the operator's).
    pub instance_role_arn: &'a str,
    /// The owner's AWS account (12 digits), which administers the key.
    pub owner_account: &'a str,
    /// Condition on PCR 7 as well (only when its value comes from the
    /// image's UEFI data or a captured reference boot).
    pub include_pcr7: bool,
}

/// The actions the owner's account keeps: administration, never use.
const OWNER_ACTIONS: [&str; 16] = [
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:EnableKey",
    "kms:Encrypt",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
];

fn bad(why: String) -> Error {
    Error::KmsPolicy(why)
}

/// The 12-digit account of an IAM role ARN (`arn:aws:iam::ACCOUNT:role/NAME`).
fn role_account(arn: &str) -> Result<&str, Error> {
    let rest = arn.strip_prefix("arn:aws:iam::").ok_or_else(|| {
        bad(format!(
            "{arn} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
        ))
    })?;
    let (account, role) = rest
        .split_once(':')
        .ok_or_else(|| bad(format!("{arn} is not an IAM role ARN")))?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) || !role.starts_with("role/") {
        return Err(bad(format!(
            "{arn} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
        )));
    }
    Ok(account)
}

/// The build's value of PCR `index`, lower-case hex of 48 bytes.
fn pcr(measurements: &NitroMeasurements, index: u32) -> Result<String, Error> {
    let value = measurements
        .pcrs
        .get(&format!("PCR{index}"))
        .ok_or_else(|| bad(format!("the measurements have no PCR{index}")))?;
    let value = value.trim().to_ascii_lowercase();
    if value.len() != 96 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(format!("PCR{index} is not 48 bytes of hex (SHA-384)")));
    }
    Ok(value)
}

/// The key policy (IAM policy JSON) for `input`.
pub fn kms_key_policy(input: &KmsPolicyInput<'_>) -> Result<Value, Error> {
    if !input.measurements.hash_algorithm.eq_ignore_ascii_case("sha384") {
        return Err(bad(format!(
            "the measurements are {}, NitroTPM attestation documents carry SHA-384",
            input.measurements.hash_algorithm
        )));
    }
    let owner = input.owner_account;
    if owner.len() != 12 || !owner.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!("owner account {owner} is not 12 digits")));
    }
    if role_account(input.instance_role_arn)? == owner {
        return Err(bad(format!(
            "the instance role is in the owner's account {owner}: the operator would administer the key"
        )));
    }
    let mut conditions = serde_json::Map::new();
    let mut indices = vec![4, 12];
    if input.include_pcr7 {
        indices.push(7);
    }
    for i in indices {
        conditions.insert(
            format!("kms:RecipientAttestation:NitroTPMPCR{i}"),
            Value::String(pcr(input.measurements, i)?),
        );
    }
    let role = input.instance_role_arn;
    Ok(json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OwnerAdministersTheKey",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{owner}:root")},
                "Action": OWNER_ACTIONS,
                "Resource": "*"
            },
            {
                "Sid": "EnclaveDecryptsOnlyWithTheBuildsPcrs",
                "Effect": "Allow",
                "Principal": {"AWS": role},
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"StringEqualsIgnoreCase": conditions}
            },
            {
                "Sid": "NoDecryptWithoutAttestation",
                "Effect": "Deny",
                "Principal": {"AWS": role},
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"Null": {"kms:RecipientAttestation:NitroTPMPCR4": "true"}}
            },
            {
                "Sid": "InstanceRoleCannotReEncryptGrantOrChangeThePolicy",
                "Effect": "Deny",
                "Principal": {"AWS": role},
                "Action": ["kms:ReEncrypt*", "kms:CreateGrant", "kms:PutKeyPolicy"],
                "Resource": "*"
            }
        ]
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measurements(alg: &str) -> NitroMeasurements {
        serde_json::from_value(json!({
            "HashAlgorithm": alg,
            "PCR4": "AA".repeat(48),
            "PCR7": "bb".repeat(48),
            "PCR12": "cc".repeat(48)
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn input(m: &NitroMeasurements) -> KmsPolicyInput<'_> {
        KmsPolicyInput {
            measurements: m,
            instance_role_arn: "arn:aws:iam::444455556666:role/enclave",
            owner_account: "111122223333",
            include_pcr7: false,
        }
    }

    #[test]
    fn decrypt_is_allowed_only_on_the_builds_pcrs_and_nothing_grants_everything() {
        let m = measurements("SHA384");
        let policy = kms_key_policy(&input(&m)).unwrap_or_else(|e| panic!("{e}"));
        let text = policy.to_string();
        assert!(!text.contains("kms:*"), "{text}");
        let statements = policy["Statement"].as_array().cloned().unwrap_or_default();
        let allows_decrypt: Vec<&Value> = statements
            .iter()
            .filter(|s| s["Effect"] == "Allow" && s["Action"].to_string().contains("Decrypt"))
            .collect();
        assert_eq!(allows_decrypt.len(), 1);
        let condition = &allows_decrypt[0]["Condition"]["StringEqualsIgnoreCase"];
        assert_eq!(
            condition["kms:RecipientAttestation:NitroTPMPCR4"],
            "aa".repeat(48)
        );
        assert_eq!(
            condition["kms:RecipientAttestation:NitroTPMPCR12"],
            "cc".repeat(48)
        );
        assert!(condition.get("kms:RecipientAttestation:NitroTPMPCR7").is_none());
        assert!(text.contains("NoDecryptWithoutAttestation") && text.contains("kms:ReEncrypt*"));
        let with7 = kms_key_policy(&KmsPolicyInput {
            include_pcr7: true,
            ..input(&m)
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(with7.to_string().contains("NitroTPMPCR7"));
    }

    #[test]
    fn unsafe_inputs_are_refused() {
        let m = measurements("SHA384");
        let same = KmsPolicyInput {
            owner_account: "444455556666",
            ..input(&m)
        };
        assert!(kms_key_policy(&same)
            .unwrap_err()
            .to_string()
            .contains("operator would administer"));
        let sha256 = measurements("SHA256");
        assert!(kms_key_policy(&input(&sha256))
            .unwrap_err()
            .to_string()
            .contains("SHA-384"));
        let bad_arn = KmsPolicyInput {
            instance_role_arn: "arn:aws:iam::444455556666:user/bob",
            ..input(&m)
        };
        assert!(kms_key_policy(&bad_arn)
            .unwrap_err()
            .to_string()
            .contains("not an IAM role ARN"));
    }
}
