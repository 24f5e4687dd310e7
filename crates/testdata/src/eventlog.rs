//! Hand-made crypto-agile event logs for tests: TPM logs (header in PCR
//! 0) and confidential-computing logs (TDX CCEL: header in MR index 1,
//! SHA-384 only, optionally padded with `0xFF`), written byte for byte as
//! the TCG PC Client PFP lays them out.

use sha1::Digest as _;

/// A bank of the log, with its `TPM_ALG_ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bank {
    /// SHA-1 (0x0004).
    Sha1,
    /// SHA-256 (0x000B).
    Sha256,
    /// SHA-384 (0x000C).
    Sha384,
}

impl Bank {
    fn alg_id(self) -> u16 {
        match self {
            Bank::Sha1 => 0x0004,
            Bank::Sha256 => 0x000B,
            Bank::Sha384 => 0x000C,
        }
    }

    /// The hash of `data` in this bank.
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Bank::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Bank::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Bank::Sha384 => sha2::Sha384::digest(data).to_vec(),
        }
    }

    /// `H(old || digest)`.
    pub fn extend(self, old: &[u8], digest: &[u8]) -> Vec<u8> {
        self.hash(&[old, digest].concat())
    }

    /// The name tpm2-tools uses (`sha1`, `sha256`, `sha384`).
    pub fn name(self) -> &'static str {
        match self {
            Bank::Sha1 => "sha1",
            Bank::Sha256 => "sha256",
            Bank::Sha384 => "sha384",
        }
    }
}

/// `EV_NO_ACTION`.
pub const EV_NO_ACTION: u32 = 3;
/// `EV_SEPARATOR`.
pub const EV_SEPARATOR: u32 = 4;
/// `EV_S_CRTM_VERSION`.
pub const EV_S_CRTM_VERSION: u32 = 8;
/// `EV_EFI_ACTION`.
pub const EV_EFI_ACTION: u32 = 0x8000_0007;
/// `EV_EFI_HCRTM_EVENT`.
pub const EV_EFI_HCRTM_EVENT: u32 = 0x8000_0010;

/// One logged event.
#[derive(Debug, Clone)]
pub struct LoggedEvent {
    /// PCR (or MR index).
    pub index: u32,
    /// Event type.
    pub event_type: u32,
    /// One digest per bank, in the log's bank order.
    pub digests: Vec<Vec<u8>>,
    /// Event data.
    pub data: Vec<u8>,
}

/// Builds a crypto-agile log.
#[derive(Debug, Clone)]
pub struct AgileLog {
    banks: Vec<Bank>,
    header_index: u32,
    events: Vec<LoggedEvent>,
}

impl AgileLog {
    /// A TPM log over `banks` (header in PCR 0).
    pub fn new(banks: &[Bank]) -> AgileLog {
        AgileLog {
            banks: banks.to_vec(),
            header_index: 0,
            events: Vec::new(),
        }
    }

    /// A TDX CC event log: SHA-384 only, the header in MR index 1 as TDVF
    /// writes it.
    pub fn ccel() -> AgileLog {
        AgileLog {
            banks: vec![Bank::Sha384],
            header_index: 1,
            events: Vec::new(),
        }
    }

    /// An event whose digests are the hash of its data in every bank.
    pub fn event(&mut self, index: u32, event_type: u32, data: &[u8]) -> &mut Self {
        let digests = self.banks.iter().map(|b| b.hash(data)).collect();
        self.event_with_digests(index, event_type, digests, data)
    }

    /// An event with the given digests (one per bank, in bank order).
    pub fn event_with_digests(
        &mut self,
        index: u32,
        event_type: u32,
        digests: Vec<Vec<u8>>,
        data: &[u8],
    ) -> &mut Self {
        assert_eq!(digests.len(), self.banks.len());
        self.events.push(LoggedEvent {
            index,
            event_type,
            digests,
            data: data.to_vec(),
        });
        self
    }

    /// A `StartupLocality` `EV_NO_ACTION` event in PCR 0.
    pub fn startup_locality(&mut self, locality: u8) -> &mut Self {
        let mut data = b"StartupLocality\0".to_vec();
        data.push(locality);
        let zeros = self.banks.iter().map(|b| vec![0; b.hash(b"").len()]).collect();
        self.event_with_digests(0, EV_NO_ACTION, zeros, &data)
    }

    /// An `EV_EFI_HCRTM_EVENT` in PCR 0 for an H-CRTM over `hcrtm_data`:
    /// the data is the string `HCRTM`, the digests the H-CRTM data's.
    pub fn hcrtm(&mut self, hcrtm_data: &[u8]) -> &mut Self {
        let digests = self.banks.iter().map(|b| b.hash(hcrtm_data)).collect();
        self.event_with_digests(0, EV_EFI_HCRTM_EVENT, digests, b"HCRTM")
    }

    /// The banks, in order.
    pub fn banks(&self) -> &[Bank] {
        &self.banks
    }

    /// The events after the header.
    pub fn events(&self) -> &[LoggedEvent] {
        &self.events
    }

    /// The log's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut spec = b"Spec ID Event03\0".to_vec();
        spec.extend_from_slice(&0u32.to_le_bytes()); // platform class: client
        spec.extend_from_slice(&[0, 2, 0, 2]); // minor, major, errata, uintn size
        spec.extend_from_slice(&(self.banks.len() as u32).to_le_bytes());
        for b in &self.banks {
            spec.extend_from_slice(&b.alg_id().to_le_bytes());
            spec.extend_from_slice(&(b.hash(b"").len() as u16).to_le_bytes());
        }
        spec.push(0); // no vendor info
        let mut out = Vec::new();
        out.extend_from_slice(&self.header_index.to_le_bytes());
        out.extend_from_slice(&EV_NO_ACTION.to_le_bytes());
        out.extend_from_slice(&[0u8; 20]);
        out.extend_from_slice(&(spec.len() as u32).to_le_bytes());
        out.extend_from_slice(&spec);
        for e in &self.events {
            out.extend_from_slice(&e.index.to_le_bytes());
            out.extend_from_slice(&e.event_type.to_le_bytes());
            out.extend_from_slice(&(e.digests.len() as u32).to_le_bytes());
            for (b, d) in self.banks.iter().zip(&e.digests) {
                out.extend_from_slice(&b.alg_id().to_le_bytes());
                out.extend_from_slice(d);
            }
            out.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
            out.extend_from_slice(&e.data);
        }
        out
    }

    /// The log's bytes followed by `0xFF` up to `area` bytes, as TDVF
    /// leaves its CCEL log area.
    pub fn to_padded_bytes(&self, area: usize) -> Vec<u8> {
        let mut out = self.to_bytes();
        assert!(out.len() <= area, "the log is longer than its area");
        out.resize(area, 0xFF);
        out
    }

    /// `tpm2_pcrextend` arguments for the measured events (not
    /// `EV_NO_ACTION`), skipping those `skip` says the TPM measured itself.
    pub fn extend_lines(&self, skip: impl Fn(&LoggedEvent) -> bool) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e.event_type != EV_NO_ACTION && !skip(e))
            .map(|e| {
                let digests: Vec<String> = self
                    .banks
                    .iter()
                    .zip(&e.digests)
                    .map(|(b, d)| format!("{}={}", b.name(), hex::encode(d)))
                    .collect();
                format!("{}:{}", e.index, digests.join(","))
            })
            .collect()
    }
}
