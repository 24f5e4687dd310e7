//! The per-platform parts of attesting: the AK a platform's layout names
//! and its certificate, an Azure confidential VM's HCL report, and a
//! NitroTPM attestation document.

use std::convert::TryFrom;

use blindfold_crypto::{default_provider, HashAlg};
use blindfold_tpm::TpmPublic;
use tss_esapi::abstraction::nv;
use tss_esapi::attributes::NvIndexAttributesBuilder;
use tss_esapi::handles::{NvIndexHandle, NvIndexTpmHandle, PersistentTpmHandle, TpmHandle};
use tss_esapi::interface_types::algorithm::HashingAlgorithm;
use tss_esapi::interface_types::dynamic_handles::Persistent;
use tss_esapi::interface_types::resource_handles::{Hierarchy, NvAuth, Provision};
use tss_esapi::interface_types::session_handles::AuthSession;
use tss_esapi::structures::{Auth, NvPublicBuilder, Public};
use tss_esapi::traits::{Marshall, UnMarshall};

use crate::error::Error;
use crate::layout::{AkSource, PlatformLayout};
use crate::nitro_tpm::{self, CC_AWS_NSM_REQUEST, MESSAGE_BUFFER_SIZE};
use crate::raw::{RawTpm, ResponseCheck, SaltedSession, SessionCommand};
use crate::tpm::{AkAlgorithm, Tpm};

/// The TCG's persistent handle for the RSA EK (the salt key of the NSM
/// request's session).
pub const EK_PERSISTENT_HANDLE: u32 = 0x8101_0001;
/// Where the NSM request's message buffer is defined (the first free
/// index from here).
const MESSAGE_BUFFER_FIRST: u32 = 0x0180_0000;

/// The AK a layout names, loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedAk {
    /// Its `TPMT_PUBLIC`.
    pub public: Vec<u8>,
    /// Its certificate (DER), where the platform keeps one.
    pub certificate: Option<Vec<u8>>,
}

impl Tpm {
    /// Loads (or creates) the AK `layout` names; every later quote is
    /// signed by it.
    pub fn load_ak(&mut self, layout: &PlatformLayout) -> Result<LoadedAk, Error> {
        match &layout.ak {
            AkSource::Persistent { handle, certificate } => {
                if !self.handle_exists(*handle)? {
                    return Err(Error::MissingNvIndex {
                        index: *handle,
                        what: "the platform's persistent AK",
                    });
                }
                let object = self
                    .ctx
                    .tr_from_tpm_public(TpmHandle::Persistent(PersistentTpmHandle::new(*handle)?))?;
                self.ak = Some(object.into());
                let certificate = match certificate {
                    Some(index) => Some(self.read_defined_nv(*index, "the AK certificate")?),
                    None => None,
                };
                Ok(LoadedAk {
                    public: self.ak_public()?,
                    certificate,
                })
            }
            AkSource::EndorsementTemplate(pairs) => {
                for (template_index, cert_index) in pairs {
                    if !self.handle_exists(*template_index)? {
                        continue;
                    }
                    let template = self.read_nv(*template_index)?;
                    let (handle, public) = self.endorsement_primary(&template)?;
                    self.ak = Some(handle);
                    return Ok(LoadedAk {
                        public,
                        certificate: Some(self.read_defined_nv(*cert_index, "the AK certificate")?),
                    });
                }
                Err(Error::MissingNvIndex {
                    index: pairs.first().map_or(0, |p| p.0),
                    what: "the AK template",
                })
            }
            AkSource::CreatedUnderEk => {
                let (handle, public) = self.create_ak_under_ek(AkAlgorithm::EccP256)?;
                self.ak = Some(handle);
                Ok(LoadedAk {
                    public,
                    certificate: None,
                })
            }
        }
    }

    /// Creates the primary key `template` (a `TPMT_PUBLIC`) describes in
    /// the endorsement hierarchy: the same template on the same TPM gives
    /// the same key. Returns its handle and `TPMT_PUBLIC`.
    fn endorsement_primary(
        &mut self,
        template: &[u8],
    ) -> Result<(tss_esapi::handles::KeyHandle, Vec<u8>), Error> {
        let template = Public::unmarshall(template)?;
        let created = self.ctx.execute_with_session(Some(AuthSession::Password), |c| {
            c.create_primary(Hierarchy::Endorsement, template, None, None, None, None)
        })?;
        Ok((created.key_handle, created.out_public.marshall()?))
    }

    /// The `TPMT_PUBLIC` of the key [`Tpm::load_ak`] makes from `template`
    /// (for provisioning a GCE-shaped TPM: its certificate names this key).
    pub fn endorsement_primary_public(&mut self, template: &[u8]) -> Result<Vec<u8>, Error> {
        let (handle, public) = self.endorsement_primary(template)?;
        self.ctx.flush_context(handle.into())?;
        Ok(public)
    }

    /// The HCL report an Azure confidential VM keeps at `index`.
    pub fn hcl_report(&mut self, index: u32) -> Result<Vec<u8>, Error> {
        self.read_defined_nv(index, "the HCL report")
    }

    /// Reads NV `index`, which the platform's layout says holds `what`;
    /// an undefined index is [`Error::MissingNvIndex`].
    fn read_defined_nv(&mut self, index: u32, what: &'static str) -> Result<Vec<u8>, Error> {
        if !self.handle_exists(index)? {
            return Err(Error::MissingNvIndex { index, what });
        }
        self.read_nv(index)
    }

    /// Makes the RSA EK persistent at [`EK_PERSISTENT_HANDLE`] unless a key
    /// is there, and returns its public area.
    pub fn persistent_ek(&mut self) -> Result<TpmPublic, Error> {
        let handle = PersistentTpmHandle::new(EK_PERSISTENT_HANDLE)?;
        if !self.handle_exists(EK_PERSISTENT_HANDLE)? {
            let ek = tss_esapi::abstraction::ek::create_ek_object_2(
                &mut self.ctx,
                tss_esapi::abstraction::AsymmetricAlgorithmSelection::Rsa(
                    tss_esapi::interface_types::key_bits::RsaKeyBits::Rsa2048,
                ),
                None,
            )?;
            self.ctx.execute_with_session(Some(AuthSession::Password), |c| {
                c.evict_control(Provision::Owner, ek.into(), Persistent::Persistent(handle))
            })?;
            self.ctx.flush_context(ek.into())?;
        }
        let object = self.ctx.tr_from_tpm_public(TpmHandle::Persistent(handle))?;
        let (public, _, _) = self.ctx.read_public(object.into())?;
        Ok(TpmPublic::parse_tpmt(&public.marshall()?)?)
    }

    /// Defines an NV index of `size` bytes under owner, readable and
    /// writable with `auth` only (SHA-512 names, as NitroTPM-Tools defines
    /// its message buffer), at the first free index from `first`.
    pub fn define_auth_nv(
        &mut self,
        first: u32,
        size: usize,
        auth: &[u8],
    ) -> Result<(u32, NvIndexHandle), Error> {
        let mut index = first;
        while self.handle_exists(index)? {
            index += 1;
        }
        let attributes = NvIndexAttributesBuilder::new()
            .with_auth_read(true)
            .with_auth_write(true)
            .build()?;
        let public = NvPublicBuilder::new()
            .with_nv_index(NvIndexTpmHandle::new(index)?)
            .with_index_name_algorithm(HashingAlgorithm::Sha512)
            .with_index_attributes(attributes)
            .with_data_area_size(size)
            .build()?;
        let auth = Auth::try_from(auth.to_vec())?;
        let handle = self.ctx.execute_with_session(Some(AuthSession::Password), |c| {
            c.nv_define_space(Provision::Owner, Some(auth.clone()), public)
        })?;
        self.ctx.tr_set_auth(handle.into(), auth)?;
        Ok((index, handle))
    }

    /// An index defined by [`Tpm::define_auth_nv`] (on an earlier
    /// connection), opened with its `auth`.
    pub fn auth_nv_handle(&mut self, index: u32, auth: &[u8]) -> Result<NvIndexHandle, Error> {
        let object = self
            .ctx
            .tr_from_tpm_public(TpmHandle::NvIndex(NvIndexTpmHandle::new(index)?))?;
        self.ctx.tr_set_auth(object, Auth::try_from(auth.to_vec())?)?;
        Ok(object.into())
    }

    /// Writes `data` at offset 0 of an index defined by [`Tpm::define_auth_nv`].
    pub fn write_auth_nv(&mut self, handle: NvIndexHandle, data: &[u8]) -> Result<(), Error> {
        self.write_nv_chunks(NvAuth::NvIndex(handle), handle, data)
    }

    /// Reads `size` bytes of an index defined by [`Tpm::define_auth_nv`].
    pub fn read_auth_nv(&mut self, handle: NvIndexHandle, size: usize) -> Result<Vec<u8>, Error> {
        let chunk = nv::max_nv_buffer_size(&mut self.ctx)?;
        let mut out = Vec::with_capacity(size);
        while out.len() < size {
            let n = u16::try_from(chunk.min(size - out.len())).unwrap_or(u16::MAX);
            let offset = u16::try_from(out.len()).map_err(|_| Error::Io("NV data too large".into()))?;
            let part = self.ctx.execute_with_session(Some(AuthSession::Password), |c| {
                c.nv_read(NvAuth::NvIndex(handle), handle, n, offset)
            })?;
            out.extend_from_slice(&part);
        }
        Ok(out)
    }

    /// The index's name as the TPM computes it (it changes once written).
    pub fn nv_name(&mut self, handle: NvIndexHandle) -> Result<Vec<u8>, Error> {
        Ok(self.ctx.tr_get_name(handle.into())?.value().to_vec())
    }

    /// Undefines an index defined by [`Tpm::define_auth_nv`].
    pub fn undefine_nv(&mut self, handle: NvIndexHandle) -> Result<(), Error> {
        self.ctx.execute_with_session(Some(AuthSession::Password), |c| {
            c.nv_undefine_space(Provision::Owner, handle)
        })?;
        Ok(())
    }

    /// A NitroTPM attestation document with `nonce` and `public_key`
    /// (the AK's SubjectPublicKeyInfo), through the vendor command sent on
    /// `raw` (another connection to the same TPM).
    pub fn nitro_document(
        &mut self,
        raw: &mut RawTpm,
        nonce: &[u8],
        public_key: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let ek = self.persistent_ek()?;
        let auth = session_secret()?;
        let (index, handle) = self.define_auth_nv(MESSAGE_BUFFER_FIRST, MESSAGE_BUFFER_SIZE, &auth)?;
        let result = (|| {
            self.write_auth_nv(handle, &nitro_tpm::attestation_request(nonce, public_key))?;
            let name = self.nv_name(handle)?;
            let mut session = SaltedSession::start(
                raw,
                EK_PERSISTENT_HANDLE,
                &ek.key,
                HashAlg::Sha256,
                default_provider(),
            )?;
            // The document is signed by the NSM and carries our nonce: its
            // integrity does not rest on the session, so the response is
            // checked for its code only (as NitroTPM-Tools does).
            let sent = session.run(
                raw,
                &SessionCommand {
                    code: CC_AWS_NSM_REQUEST,
                    handles: &[index, index],
                    names: &nitro_tpm::nsm_request_names(&name),
                    params: &[],
                    auth_value: &auth,
                },
                ResponseCheck::CodeOnly,
            );
            let flushed = session.flush(raw);
            sent?;
            flushed?;
            nitro_tpm::attestation_document(&self.read_auth_nv(handle, MESSAGE_BUFFER_SIZE)?)
        })();
        let undefined = self.undefine_nv(handle);
        let document = result?;
        undefined?;
        Ok(document)
    }
}

/// An AK template shaped like GCE's (`TPMT_PUBLIC`): a restricted signing
/// key with SHA-256 names, fixed to the TPM, under dictionary-attack
/// protection (no `noDA`), RSA-2048 RSASSA-SHA256 or P-256 ECDSA-SHA256,
/// empty unique field. The RSA one has the attributes and parameters of
/// a real GCE AK (tested against a published GCE attestation).
pub fn gce_ak_template(alg: AkAlgorithm) -> Result<Vec<u8>, Error> {
    use tss_esapi::attributes::ObjectAttributesBuilder;
    use tss_esapi::interface_types::algorithm::{EccSchemeAlgorithm, PublicAlgorithm, RsaSchemeAlgorithm};
    use tss_esapi::interface_types::ecc::EccCurve;
    use tss_esapi::interface_types::key_bits::RsaKeyBits;
    use tss_esapi::structures::{
        EccPoint, EccScheme, KeyDerivationFunctionScheme, PublicBuilder, PublicEccParametersBuilder,
        PublicKeyRsa, PublicRsaParametersBuilder, RsaExponent, RsaScheme, SymmetricDefinitionObject,
    };
    let attributes = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_restricted(true)
        .with_sign_encrypt(true)
        .build()?;
    let builder = PublicBuilder::new()
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attributes);
    let public = match alg {
        AkAlgorithm::Rsa2048 => builder
            .with_public_algorithm(PublicAlgorithm::Rsa)
            .with_rsa_parameters(
                PublicRsaParametersBuilder::new()
                    .with_scheme(RsaScheme::create(
                        RsaSchemeAlgorithm::RsaSsa,
                        Some(HashingAlgorithm::Sha256),
                    )?)
                    .with_key_bits(RsaKeyBits::Rsa2048)
                    .with_exponent(RsaExponent::default())
                    .with_is_signing_key(true)
                    .with_restricted(true)
                    .build()?,
            )
            .with_rsa_unique_identifier(PublicKeyRsa::default())
            .build()?,
        AkAlgorithm::EccP256 => builder
            .with_public_algorithm(PublicAlgorithm::Ecc)
            .with_ecc_parameters(
                PublicEccParametersBuilder::new()
                    .with_ecc_scheme(EccScheme::create(
                        EccSchemeAlgorithm::EcDsa,
                        Some(HashingAlgorithm::Sha256),
                        None,
                    )?)
                    .with_curve(EccCurve::NistP256)
                    .with_is_signing_key(true)
                    .with_restricted(true)
                    .with_key_derivation_function_scheme(KeyDerivationFunctionScheme::Null)
                    .with_symmetric(SymmetricDefinitionObject::Null)
                    .build()?,
            )
            .with_ecc_unique_identifier(EccPoint::default())
            .build()?,
    };
    Ok(public.marshall()?)
}

/// A random 32-byte auth value whose last byte is not zero (the TPM
/// strips trailing zeros from auth values).
pub fn session_secret() -> Result<Vec<u8>, Error> {
    let mut out = vec![0u8; 32];
    getrandom::getrandom(&mut out).map_err(|e| Error::Io(format!("no randomness: {e}")))?;
    if out[31] == 0 {
        out[31] = 1;
    }
    Ok(out)
}
