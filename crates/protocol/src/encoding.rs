//! Serde helpers for the byte strings in Blindfold's JSON formats.

/// Standard base64 (padding; surrounding whitespace ignored on read).
pub(crate) mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| serde::de::Error::custom(format!("not base64: {e}")))
    }

    /// A list of base64 strings.
    pub mod list {
        use base64::Engine as _;
        use serde::ser::SerializeSeq;
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(items: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(items.len()))?;
            for item in items {
                seq.serialize_element(&base64::engine::general_purpose::STANDARD.encode(item))?;
            }
            seq.end()
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
            Vec::<String>::deserialize(d)?
                .iter()
                .enumerate()
                .map(|(n, t)| {
                    base64::engine::general_purpose::STANDARD
                        .decode(t.trim())
                        .map_err(|e| serde::de::Error::custom(format!("item {n}: not base64: {e}")))
                })
                .collect()
        }
    }

    /// An optional base64 string (`null` when absent).
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
            match bytes {
                Some(b) => super::serialize(b, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
            #[derive(Deserialize)]
            struct Wrap(#[serde(with = "super")] Vec<u8>);
            Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
        }
    }
}

/// Lower-case hex.
pub(crate) mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text.trim()).map_err(|e| serde::de::Error::custom(format!("not hex: {e}")))
    }
}

/// PCR values as `{"<bank>": {"<index>": "<hex>"}}`.
pub(crate) mod pcr_map {
    use std::collections::BTreeMap;

    use blindfold_crypto::{Digest, HashAlg};
    use blindfold_tpm::{PcrIndex, PcrValues};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(pcrs: &PcrValues, s: S) -> Result<S::Ok, S::Error> {
        pcrs.to_hex_map().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PcrValues, D::Error> {
        use serde::de::Error as _;
        let map = BTreeMap::<String, BTreeMap<u32, String>>::deserialize(d)?;
        let mut pcrs = PcrValues::new();
        for (bank_name, values) in map {
            let bank = HashAlg::from_name(&bank_name)
                .ok_or_else(|| D::Error::custom(format!("unknown PCR bank {bank_name}")))?;
            for (index, text) in values {
                let bytes = hex::decode(text.trim())
                    .map_err(|e| D::Error::custom(format!("PCR {index} ({bank}): not hex: {e}")))?;
                let digest = Digest::new(bank, &bytes)
                    .ok_or_else(|| D::Error::custom(format!("PCR {index} is not a {bank} digest")))?;
                pcrs.insert(PcrIndex(index), digest);
            }
        }
        Ok(pcrs)
    }
}
