//! What a VCEK certificate says about the chip it was issued to: its
//! product line (from the issuer), its hwID and the TCB it was derived
//! for (AMD's VCEK specification, "VCEK certificate extensions").

use blindfold_x509::Certificate;
use const_oid::ObjectIdentifier;
use der::Decode;

use crate::error::Error;
use crate::product::ProductLine;
use crate::report::{SnpReport, TcbVersion};

/// The common name of every VCEK's subject.
pub const VCEK_COMMON_NAME: &str = "SEV-VCEK";

/// One AMD extension: its name in the specification and its OID.
struct AmdExtension {
    name: &'static str,
    oid: &'static str,
}

const HW_ID: AmdExtension = AmdExtension {
    name: "hwID",
    oid: "1.3.6.1.4.1.3704.1.4",
};
const BL_SPL: AmdExtension = AmdExtension {
    name: "blSPL",
    oid: "1.3.6.1.4.1.3704.1.3.1",
};
const TEE_SPL: AmdExtension = AmdExtension {
    name: "teeSPL",
    oid: "1.3.6.1.4.1.3704.1.3.2",
};
const SNP_SPL: AmdExtension = AmdExtension {
    name: "snpSPL",
    oid: "1.3.6.1.4.1.3704.1.3.3",
};
const UCODE_SPL: AmdExtension = AmdExtension {
    name: "ucodeSPL",
    oid: "1.3.6.1.4.1.3704.1.3.8",
};
const FMC_SPL: AmdExtension = AmdExtension {
    name: "fmcSPL",
    oid: "1.3.6.1.4.1.3704.1.3.9",
};

impl AmdExtension {
    fn error(&self, why: impl Into<String>) -> Error {
        Error::VcekExtension {
            name: self.name,
            oid: self.oid,
            why: why.into(),
        }
    }

    /// The extension's value bytes, `None` when absent.
    fn value<'c>(&self, vcek: &'c Certificate) -> Result<Option<&'c [u8]>, Error> {
        let oid = ObjectIdentifier::new(self.oid).map_err(|e| self.error(e.to_string()))?;
        Ok(vcek.extension(oid).map(|(value, _critical)| value))
    }

    /// A security patch level: a DER INTEGER from 0 to 255.
    fn spl(&self, vcek: &Certificate) -> Result<Option<u8>, Error> {
        self.value(vcek)?
            .map(|v| u8::from_der(v).map_err(|e| self.error(format!("not an INTEGER 0..=255: {e}"))))
            .transpose()
    }

    fn required_spl(&self, vcek: &Certificate) -> Result<u8, Error> {
        self.spl(vcek)?.ok_or_else(|| self.error("missing"))
    }
}

/// The VCEK's product line, from its issuer (`SEV-Milan`, `SEV-Genoa`,
/// `SEV-Turin`); its subject must be `SEV-VCEK`. A VLEK (issued by
/// `SEV-VLEK-<line>`) is refused.
pub(crate) fn product_line(vcek: &Certificate) -> Result<ProductLine, Error> {
    let subject = vcek.subject_common_name();
    if subject.as_deref() != Some(VCEK_COMMON_NAME) {
        return Err(Error::NotAVcek {
            why: format!("subject \"{}\" is not CN={VCEK_COMMON_NAME}", vcek.subject()),
        });
    }
    let issuer = vcek.issuer_common_name();
    issuer
        .as_deref()
        .and_then(ProductLine::from_ask_common_name)
        .ok_or_else(|| Error::NotAVcek {
            why: format!(
                "issuer \"{}\" is not SEV-Milan, SEV-Genoa or SEV-Turin (VLEKs are not supported)",
                vcek.issuer()
            ),
        })
}

/// The report's CHIP_ID equals the VCEK's hwID. A masked (all-zero)
/// CHIP_ID is not compared; the caller records that it was masked. Turin
/// VCEKs carry only the first 8 bytes of the chip id.
pub(crate) fn check_chip_id(vcek: &Certificate, line: ProductLine, report: &SnpReport) -> Result<(), Error> {
    if report.chip_id_masked() {
        return Ok(());
    }
    let hw_id = HW_ID.value(vcek)?.ok_or_else(|| HW_ID.error("missing"))?;
    let chip_id = report.chip_id();
    let compared: &[u8] = match (line, hw_id.len()) {
        (_, 64) => &chip_id,
        (ProductLine::Turin, 8) => &chip_id[..8],
        (_, n) => return Err(HW_ID.error(format!("{n} bytes, expected 64"))),
    };
    if hw_id != compared {
        return Err(Error::ChipIdMismatch {
            vcek: hex::encode(hw_id),
            report: hex::encode(compared),
        });
    }
    Ok(())
}

/// The VCEK's TCB extensions equal the report's REPORTED_TCB (decoded
/// for `line`): boot loader, TEE, SNP and microcode, and on Turin the
/// FMC level when the VCEK carries one.
pub(crate) fn check_tcb(vcek: &Certificate, reported: &TcbVersion) -> Result<(), Error> {
    let pairs = [
        ("bootloader", &BL_SPL, reported.bootloader),
        ("tee", &TEE_SPL, reported.tee),
        ("snp", &SNP_SPL, reported.snp),
        ("microcode", &UCODE_SPL, reported.microcode),
    ];
    for (component, ext, report) in pairs {
        let vcek = ext.required_spl(vcek)?;
        if vcek != report {
            return Err(Error::TcbMismatch {
                component,
                vcek,
                report,
            });
        }
    }
    if let (Some(report), Some(vcek)) = (reported.fmc, FMC_SPL.spl(vcek)?) {
        if vcek != report {
            return Err(Error::TcbMismatch {
                component: "fmc",
                vcek,
                report,
            });
        }
    }
    Ok(())
}
