//! NitroTPM's attestation document: an NSM request (CBOR, as
//! `aws-nitro-enclaves-nsm-api` writes it) placed in an NV index, the
//! vendor command `TPM2_CC_AWS_NSM_REQUEST` (0x20000001) on that index
//! under an HMAC session salted to the EK, and the NSM's response read back
//! from the same index (the layout of AWS's NitroTPM-Tools). swtpm has no
//! such command: the encodings are tested here, the session against swtpm
//! with a standard command; the command itself has not run on EC2 from
//! this code (docs/deploy.md).

use ciborium::Value;

use crate::error::Error;

/// `TPM2_CC_AWS_NSM_REQUEST`.
pub const CC_AWS_NSM_REQUEST: u32 = 0x2000_0001;
/// The message buffer's size: a document is about 5 KiB, each optional
/// field at most 1 KiB.
pub const MESSAGE_BUFFER_SIZE: usize = 8192;

/// The NSM request for an attestation document carrying `nonce` and
/// `public_key` (and no user data): `{"Attestation": {"user_data": null,
/// "nonce": bytes, "public_key": bytes}}`.
pub fn attestation_request(nonce: &[u8], public_key: &[u8]) -> Vec<u8> {
    let request = Value::Map(vec![(
        Value::Text("Attestation".into()),
        Value::Map(vec![
            (Value::Text("user_data".into()), Value::Null),
            (Value::Text("nonce".into()), Value::Bytes(nonce.to_vec())),
            (
                Value::Text("public_key".into()),
                Value::Bytes(public_key.to_vec()),
            ),
        ]),
    )]);
    let mut out = Vec::new();
    // Writing a Value to a Vec cannot fail.
    let _ = ciborium::into_writer(&request, &mut out);
    out
}

/// The document in an NSM response read from the message buffer (which
/// may carry the buffer's unused tail after the CBOR item).
pub fn attestation_document(response: &[u8]) -> Result<Vec<u8>, Error> {
    let value: Value =
        ciborium::from_reader(response).map_err(|e| Error::Nsm(format!("the response is not CBOR: {e}")))?;
    let Value::Map(entries) = value else {
        return Err(Error::Nsm("the response is not a map".into()));
    };
    let [(Value::Text(kind), body)] = entries.as_slice() else {
        return Err(Error::Nsm("the response is not one tagged variant".into()));
    };
    match (kind.as_str(), body) {
        ("Attestation", Value::Map(fields)) => fields
            .iter()
            .find_map(|(k, v)| match (k, v) {
                (Value::Text(k), Value::Bytes(document)) if k == "document" => Some(document.clone()),
                _ => None,
            })
            .ok_or_else(|| Error::Nsm("an Attestation response without its document".into())),
        ("Error", Value::Text(code)) => Err(Error::Nsm(format!("the module answered {code}"))),
        (other, _) => Err(Error::Nsm(format!(
            "a {other} response to an attestation request"
        ))),
    }
}

/// cpHash's inputs for the vendor command: the message buffer is both its
/// authorization handle and its NV index, and it has no parameters.
pub fn nsm_request_names(buffer_name: &[u8]) -> [&[u8]; 2] {
    [buffer_name, buffer_name]
}
