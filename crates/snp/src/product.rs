//! Product lines and the AMD roots of each: ARK (root), ASK (VCEK
//! signer) and ASVK (VLEK signer).

use std::fmt;
use std::sync::OnceLock;

use blindfold_x509::{parse_certificates, Certificate, TrustStore};

use crate::error::Error;

/// SHA-256 of the DER of the bundled `ARK-Milan`.
pub const ARK_MILAN_SHA256: &str = "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd";
/// SHA-256 of the DER of the bundled `ARK-Genoa`.
pub const ARK_GENOA_SHA256: &str = "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1";
/// SHA-256 of the DER of the bundled `ARK-Turin`.
pub const ARK_TURIN_SHA256: &str = "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a";

/// An EPYC generation with its own AMD root key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductLine {
    /// EPYC 7003 (Zen 3).
    Milan,
    /// EPYC 9004 / 8004 (Zen 4; Siena shares Genoa's keys).
    Genoa,
    /// EPYC 9005 (Zen 5).
    Turin,
}

impl ProductLine {
    /// Every product line.
    pub const ALL: [ProductLine; 3] = [ProductLine::Milan, ProductLine::Genoa, ProductLine::Turin];

    /// `"Milan"`, `"Genoa"`, `"Turin"` (as in AMD's certificate names).
    pub fn name(self) -> &'static str {
        match self {
            ProductLine::Milan => "Milan",
            ProductLine::Genoa => "Genoa",
            ProductLine::Turin => "Turin",
        }
    }

    /// The common name of the line's ASK: `SEV-<line>`.
    pub fn ask_common_name(self) -> String {
        format!("SEV-{}", self.name())
    }

    /// The common name of the line's ASVK: `SEV-VLEK-<line>`.
    pub fn asvk_common_name(self) -> String {
        format!("SEV-VLEK-{}", self.name())
    }

    /// The line whose ASK has this common name (`SEV-Milan`, ...).
    pub fn from_ask_common_name(cn: &str) -> Option<ProductLine> {
        ProductLine::ALL.into_iter().find(|l| l.ask_common_name() == cn)
    }
}

impl fmt::Display for ProductLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One product line's certificates.
#[derive(Debug, Clone)]
struct LineRoots {
    line: ProductLine,
    ark: Certificate,
    ask: Certificate,
    asvk: Option<Certificate>,
}

/// The AMD roots a verifier trusts, per product line: the ARK as the
/// root, the ASK as the one intermediate a VCEK may chain through. The
/// ASVK (VLEK signer) is kept but never used to verify a VCEK.
#[derive(Debug, Clone)]
pub struct AmdRoots {
    lines: Vec<LineRoots>,
}

impl AmdRoots {
    /// AMD's chains for Milan, Genoa and Turin as the KDS publishes them
    /// (bundled at build time, parsed once). The ARKs' fingerprints are
    /// [`ARK_MILAN_SHA256`], [`ARK_GENOA_SHA256`], [`ARK_TURIN_SHA256`].
    pub fn bundled() -> &'static AmdRoots {
        static ROOTS: OnceLock<AmdRoots> = OnceLock::new();
        ROOTS.get_or_init(|| {
            let pems: [(ProductLine, &[u8]); 3] = [
                (
                    ProductLine::Milan,
                    include_bytes!("../roots/milan_ask_ark_asvk.pem"),
                ),
                (
                    ProductLine::Genoa,
                    include_bytes!("../roots/genoa_ask_ark_asvk.pem"),
                ),
                (
                    ProductLine::Turin,
                    include_bytes!("../roots/turin_ask_ark_asvk.pem"),
                ),
            ];
            let lines = pems
                .into_iter()
                .map(|(line, pem)| {
                    // Invariant: the bundled files are fixed at build time
                    // and the crate's tests parse them and check each ARK's
                    // fingerprint, so this cannot fail at run time.
                    #[allow(clippy::expect_used)]
                    LineRoots::from_pem(line, pem).expect("bundled AMD roots parse")
                })
                .collect();
            AmdRoots { lines }
        })
    }

    /// Roots for one product line from a PEM holding its ASK and ARK (and
    /// optionally its ASVK), in any order: for tests with a generated
    /// chain, or a caller who fetched AMD's chain out of band. Never
    /// bundled. The ARK is the one self-issued certificate; the ASK is the
    /// certificate named `SEV-<line>` issued by it.
    pub fn from_chain_pem(line: ProductLine, pem: &[u8]) -> Result<AmdRoots, Error> {
        Ok(AmdRoots {
            lines: vec![LineRoots::from_pem(line, pem)?],
        })
    }

    /// The product lines these roots cover.
    pub fn lines(&self) -> impl Iterator<Item = ProductLine> + '_ {
        self.lines.iter().map(|l| l.line)
    }

    fn get(&self, line: ProductLine) -> Option<&LineRoots> {
        self.lines.iter().find(|l| l.line == line)
    }

    /// The line's ARK (self-signed root).
    pub fn ark(&self, line: ProductLine) -> Option<&Certificate> {
        self.get(line).map(|l| &l.ark)
    }

    /// The line's ASK (signs VCEKs).
    pub fn ask(&self, line: ProductLine) -> Option<&Certificate> {
        self.get(line).map(|l| &l.ask)
    }

    /// The line's ASVK (signs VLEKs), when it was given.
    pub fn asvk(&self, line: ProductLine) -> Option<&Certificate> {
        self.get(line).and_then(|l| l.asvk.as_ref())
    }

    /// The store a VCEK of `line` is verified under: the ARK as the only
    /// root, the ASK as the only intermediate. Empty when these roots do
    /// not cover `line` (every VCEK of it then has an unknown issuer).
    pub(crate) fn vcek_store(&self, line: ProductLine) -> TrustStore {
        match self.get(line) {
            Some(l) => TrustStore::new(vec![l.ark.clone()]).with_intermediates(vec![l.ask.clone()]),
            None => TrustStore::default(),
        }
    }
}

impl LineRoots {
    fn from_pem(line: ProductLine, pem: &[u8]) -> Result<LineRoots, Error> {
        let bad = |why: String| Error::Roots { line, why };
        let certs = parse_certificates(pem).map_err(|e| bad(e.to_string()))?;
        let mut roots = certs.iter().filter(|c| c.subject() == c.issuer());
        let ark = match (roots.next(), roots.next()) {
            (Some(ark), None) => ark.clone(),
            (None, _) => return Err(bad("no self-issued certificate (ARK)".into())),
            (Some(_), Some(_)) => return Err(bad("more than one self-issued certificate".into())),
        };
        let named = |cn: String| -> Result<Option<Certificate>, Error> {
            let mut found = certs
                .iter()
                .filter(|c| c.subject_common_name().as_deref() == Some(cn.as_str()));
            match (found.next(), found.next()) {
                (None, _) => Ok(None),
                (Some(c), None) if c.issuer() == ark.subject() => Ok(Some(c.clone())),
                (Some(c), None) => Err(bad(format!(
                    "{cn} is issued by \"{}\", not the ARK \"{}\"",
                    c.issuer(),
                    ark.subject()
                ))),
                (Some(_), Some(_)) => Err(bad(format!("more than one {cn}"))),
            }
        };
        let ask = named(line.ask_common_name())?
            .ok_or_else(|| bad(format!("no ASK (a certificate named {})", line.ask_common_name())))?;
        let asvk = named(line.asvk_common_name())?;
        let known = 2 + usize::from(asvk.is_some());
        if certs.len() != known {
            return Err(bad(format!(
                "{} certificates, expected the ARK, the ASK and at most the ASVK",
                certs.len()
            )));
        }
        Ok(LineRoots { line, ark, ask, asvk })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bundled_roots_cover_every_line_with_pinned_arks() {
        let roots = AmdRoots::bundled();
        for (line, pin) in [
            (ProductLine::Milan, ARK_MILAN_SHA256),
            (ProductLine::Genoa, ARK_GENOA_SHA256),
            (ProductLine::Turin, ARK_TURIN_SHA256),
        ] {
            assert_eq!(roots.ark(line).unwrap().fingerprint_hex(), pin, "{line}");
            assert_eq!(
                roots.ark(line).unwrap().subject_common_name().unwrap(),
                format!("ARK-{line}")
            );
            assert_eq!(
                roots.ask(line).unwrap().subject_common_name().unwrap(),
                line.ask_common_name()
            );
            assert!(roots.asvk(line).is_some(), "{line}");
        }
    }

    #[test]
    fn a_chain_for_another_line_is_refused() {
        let genoa = include_bytes!("../roots/genoa_ask_ark_asvk.pem");
        let err = AmdRoots::from_chain_pem(ProductLine::Milan, genoa).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Roots {
                    line: ProductLine::Milan,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn ask_common_names_map_to_lines() {
        assert_eq!(
            ProductLine::from_ask_common_name("SEV-Genoa"),
            Some(ProductLine::Genoa)
        );
        assert_eq!(ProductLine::from_ask_common_name("SEV-VLEK-Genoa"), None);
        assert_eq!(ProductLine::Turin.name(), "Turin");
    }
}
