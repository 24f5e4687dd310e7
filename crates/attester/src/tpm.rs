//! A TPM reached through `tss-esapi`.

use std::convert::TryFrom;
use std::str::FromStr;

use blindfold_crypto::{Digest as BfDigest, HashAlg};
use blindfold_tpm::{PcrIndex, PcrValues};
use tss_esapi::abstraction::{ak, ek, nv, pcr, AsymmetricAlgorithmSelection};
use tss_esapi::attributes::NvIndexAttributesBuilder;
use tss_esapi::handles::{NvIndexTpmHandle, PcrHandle, PersistentTpmHandle, TpmHandle};
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, SignatureSchemeAlgorithm};
use tss_esapi::interface_types::dynamic_handles::Persistent;
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::key_bits::RsaKeyBits;
use tss_esapi::interface_types::resource_handles::{NvAuth, Provision};
use tss_esapi::interface_types::session_handles::AuthSession;
use tss_esapi::structures::{
    Data, Digest, DigestValues, MaxNvBuffer, NvPublicBuilder, PcrSelectionListBuilder, PcrSlot,
    SignatureScheme,
};
use tss_esapi::tcti_ldr::TctiNameConf;
use tss_esapi::traits::Marshall;
use tss_esapi::Context;

use crate::error::Error;

use crate::layout::AK_PERSISTENT_HANDLE;

/// The AK's key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AkAlgorithm {
    /// RSA-2048, RSASSA-SHA256 (Azure's choice).
    Rsa2048,
    /// ECC P-256, ECDSA-SHA256.
    EccP256,
}

/// A quote as the TPM returned it, marshalled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// `TPMS_ATTEST`.
    pub message: Vec<u8>,
    /// `TPMT_SIGNATURE`.
    pub signature: Vec<u8>,
}

/// An open TPM.
pub struct Tpm {
    pub(crate) ctx: Context,
    /// The AK [`Tpm::load_ak`] chose; `None`: the one at [`AK_PERSISTENT_HANDLE`].
    pub(crate) ak: Option<tss_esapi::handles::KeyHandle>,
}

impl std::fmt::Debug for Tpm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tpm")
    }
}

fn tss_hash(alg: HashAlg) -> Result<HashingAlgorithm, Error> {
    Ok(match alg {
        HashAlg::Sha1 => HashingAlgorithm::Sha1,
        HashAlg::Sha256 => HashingAlgorithm::Sha256,
        HashAlg::Sha384 => HashingAlgorithm::Sha384,
        HashAlg::Sha512 => HashingAlgorithm::Sha512,
        HashAlg::Sm3_256 => HashingAlgorithm::Sm3_256,
    })
}

fn slots(pcrs: &[u32]) -> Result<Vec<PcrSlot>, Error> {
    pcrs.iter()
        .map(|i| PcrSlot::try_from(1u32 << i).map_err(Error::from))
        .collect()
}

impl Tpm {
    /// Opens a TPM by TCTI string: `swtpm:host=127.0.0.1,port=2321`,
    /// `device:/dev/tpmrm0`.
    pub fn open(tcti: &str) -> Result<Tpm, Error> {
        let conf = TctiNameConf::from_str(tcti)?;
        Ok(Tpm {
            ctx: Context::new(conf)?,
            ak: None,
        })
    }

    /// True when a persistent object or NV index exists at `handle` (asked
    /// through GetCapability, so nothing fails and nothing is logged).
    pub(crate) fn handle_exists(&mut self, handle: u32) -> Result<bool, Error> {
        let (caps, _) = self
            .ctx
            .get_capability(tss_esapi::constants::CapabilityType::Handles, handle, 1)?;
        Ok(match caps {
            tss_esapi::structures::CapabilityData::Handles(list) => {
                list.into_inner().iter().any(|h| u32::from(*h) == handle)
            }
            _ => false,
        })
    }

    /// The PCR banks the TPM has active.
    pub fn active_banks(&mut self) -> Result<Vec<HashAlg>, Error> {
        let (caps, _) = self
            .ctx
            .get_capability(tss_esapi::constants::CapabilityType::AssignedPcr, 0, 16)?;
        let mut banks = Vec::new();
        if let tss_esapi::structures::CapabilityData::AssignedPcr(list) = caps {
            for sel in list.get_selections() {
                if sel.is_empty() {
                    continue;
                }
                if let Some(h) = HashAlg::from_tpm_alg_id(sel.hashing_algorithm().into()) {
                    banks.push(h);
                }
            }
        }
        Ok(banks)
    }

    /// Creates an AK under the RSA EK and leaves it loaded (transient).
    /// Returns its handle and `TPMT_PUBLIC`.
    pub(crate) fn create_ak_under_ek(
        &mut self,
        alg: AkAlgorithm,
    ) -> Result<(tss_esapi::handles::KeyHandle, Vec<u8>), Error> {
        let ek = ek::create_ek_object_2(
            &mut self.ctx,
            AsymmetricAlgorithmSelection::Rsa(RsaKeyBits::Rsa2048),
            None,
        )?;
        let (key, scheme) = match alg {
            AkAlgorithm::Rsa2048 => (
                AsymmetricAlgorithmSelection::Rsa(RsaKeyBits::Rsa2048),
                SignatureSchemeAlgorithm::RsaSsa,
            ),
            AkAlgorithm::EccP256 => (
                AsymmetricAlgorithmSelection::Ecc(EccCurve::NistP256),
                SignatureSchemeAlgorithm::EcDsa,
            ),
        };
        let created = ak::create_ak_2(
            &mut self.ctx,
            ek,
            HashingAlgorithm::Sha256,
            key,
            scheme,
            None,
            None,
        )?;
        let loaded = ak::load_ak(
            &mut self.ctx,
            ek,
            None,
            created.out_private,
            created.out_public.clone(),
        )?;
        self.ctx.flush_context(ek.into())?;
        Ok((loaded, created.out_public.marshall()?))
    }

    /// Creates an AK under the RSA EK and makes it persistent at
    /// [`AK_PERSISTENT_HANDLE`] (replacing one already there). Returns its
    /// `TPMT_PUBLIC`.
    pub fn create_persistent_ak(&mut self, alg: AkAlgorithm) -> Result<Vec<u8>, Error> {
        self.ak = None;
        let handle = PersistentTpmHandle::new(AK_PERSISTENT_HANDLE)?;
        if self.handle_exists(AK_PERSISTENT_HANDLE)? {
            let existing = self.ctx.tr_from_tpm_public(TpmHandle::Persistent(handle))?;
            self.ctx.execute_with_session(Some(AuthSession::Password), |c| {
                c.evict_control(Provision::Owner, existing, Persistent::Persistent(handle))
            })?;
        }
        let (loaded, public) = self.create_ak_under_ek(alg)?;
        self.ctx.execute_with_session(Some(AuthSession::Password), |c| {
            c.evict_control(Provision::Owner, loaded.into(), Persistent::Persistent(handle))
        })?;
        self.ctx.flush_context(loaded.into())?;
        Ok(public)
    }

    /// The AK in use (the one [`Tpm::load_ak`] chose, else the persistent one).
    pub(crate) fn ak_handle(&mut self) -> Result<tss_esapi::handles::KeyHandle, Error> {
        if let Some(ak) = self.ak {
            return Ok(ak);
        }
        let handle = self
            .ctx
            .tr_from_tpm_public(TpmHandle::Persistent(PersistentTpmHandle::new(
                AK_PERSISTENT_HANDLE,
            )?))?;
        let key = handle.into();
        self.ak = Some(key);
        Ok(key)
    }

    /// The AK's `TPMT_PUBLIC`.
    pub fn ak_public(&mut self) -> Result<Vec<u8>, Error> {
        let handle = self.ak_handle()?;
        let (public, _, _) = self.ctx.read_public(handle)?;
        Ok(public.marshall()?)
    }

    /// Defines `index` (owner read/write) with exactly `data`'s size and writes it.
    pub fn write_nv(&mut self, index: u32, data: &[u8]) -> Result<(), Error> {
        let nv_index = NvIndexTpmHandle::new(index)?;
        if self.handle_exists(index)? {
            let existing = self.ctx.tr_from_tpm_public(TpmHandle::NvIndex(nv_index))?;
            self.ctx.execute_with_session(Some(AuthSession::Password), |c| {
                c.nv_undefine_space(Provision::Owner, existing.into())
            })?;
        }
        let attributes = NvIndexAttributesBuilder::new()
            .with_owner_write(true)
            .with_owner_read(true)
            .with_auth_read(true)
            .with_auth_write(true)
            .build()?;
        let public = NvPublicBuilder::new()
            .with_nv_index(nv_index)
            .with_index_name_algorithm(HashingAlgorithm::Sha256)
            .with_index_attributes(attributes)
            .with_data_area_size(data.len())
            .build()?;
        let handle = self.ctx.execute_with_session(Some(AuthSession::Password), |c| {
            c.nv_define_space(Provision::Owner, None, public)
        })?;
        self.write_nv_chunks(NvAuth::Owner, handle, data)
    }

    /// Writes `data` from offset 0 of the index at `handle`, authorized
    /// by `auth`, in chunks of the TPM's largest NV buffer.
    pub(crate) fn write_nv_chunks(
        &mut self,
        auth: NvAuth,
        handle: tss_esapi::handles::NvIndexHandle,
        data: &[u8],
    ) -> Result<(), Error> {
        let chunk = nv::max_nv_buffer_size(&mut self.ctx)?;
        for (n, part) in data.chunks(chunk).enumerate() {
            let offset = u16::try_from(n * chunk).map_err(|_| Error::Io("NV data too large".into()))?;
            let buffer = MaxNvBuffer::try_from(part.to_vec())?;
            self.ctx.execute_with_session(Some(AuthSession::Password), |c| {
                c.nv_write(auth, handle, buffer, offset)
            })?;
        }
        Ok(())
    }

    /// Reads a whole NV index.
    pub fn read_nv(&mut self, index: u32) -> Result<Vec<u8>, Error> {
        let index = NvIndexTpmHandle::new(index)?;
        Ok(self.ctx.execute_with_session(Some(AuthSession::Password), |c| {
            nv::read_full(c, NvAuth::Owner, index)
        })?)
    }

    /// TPM2_Shutdown(CLEAR): the platform is going down in order. The
    /// next TPM2_Startup is then orderly; an unorderly one counts against
    /// dictionary-attack protection, and a few lock the TPM out.
    pub fn shutdown(&mut self) -> Result<(), Error> {
        self.ctx
            .shutdown(tss_esapi::constants::StartupType::Clear)
            .map_err(Error::from)
    }

    /// Extends `pcr` with one digest per bank (every active bank must be given).
    pub fn extend(&mut self, pcr: u32, digests: &[BfDigest]) -> Result<(), Error> {
        let mut values = DigestValues::new();
        for d in digests {
            values.set(tss_hash(d.alg())?, Digest::try_from(d.as_bytes().to_vec())?);
        }
        let handle = PcrHandle::try_from(tss_esapi::tss2_esys::ESYS_TR::from(pcr))?;
        self.ctx
            .execute_with_session(Some(AuthSession::Password), |c| c.pcr_extend(handle, values))?;
        Ok(())
    }

    fn selection(banks: &[HashAlg], pcrs: &[u32]) -> Result<tss_esapi::structures::PcrSelectionList, Error> {
        let slots = slots(pcrs)?;
        let mut b = PcrSelectionListBuilder::new();
        for bank in banks {
            b = b.with_selection(tss_hash(*bank)?, &slots);
        }
        Ok(b.build()?)
    }

    /// Reads `pcrs` in `banks`.
    pub fn read_pcrs(&mut self, banks: &[HashAlg], pcrs: &[u32]) -> Result<PcrValues, Error> {
        let data = pcr::read_all(&mut self.ctx, Self::selection(banks, pcrs)?)?;
        let mut out = PcrValues::new();
        for bank in banks {
            let Some(values) = data.pcr_bank(tss_hash(*bank)?) else {
                continue;
            };
            for (slot, digest) in values {
                let index = u32::from(*slot).trailing_zeros();
                if let Some(d) = BfDigest::new(*bank, digest.as_ref()) {
                    out.insert(PcrIndex(index), d);
                }
            }
        }
        Ok(out)
    }

    /// Quotes `pcrs` in `banks` with the AK and `qualifying_data`.
    pub fn quote(&mut self, qualifying_data: &[u8], banks: &[HashAlg], pcrs: &[u32]) -> Result<Quote, Error> {
        let ak = self.ak_handle()?;
        let data = Data::try_from(qualifying_data.to_vec())?;
        let selection = Self::selection(banks, pcrs)?;
        let (attest, signature) = self.ctx.execute_with_session(Some(AuthSession::Password), |c| {
            c.quote(ak, data, SignatureScheme::Null, selection)
        })?;
        Ok(Quote {
            message: attest.marshall()?,
            signature: signature.marshall()?,
        })
    }
}
