//! The shared libraries a program needs: its ELF interpreter and the
//! closure of `DT_NEEDED` entries, looked up in the build host's library
//! directories (the Debian packages installed there are the pinned
//! inputs), plus the libraries it opens at run time that `DT_NEEDED` does
//! not show (tss-esapi's TCTI loader opens `libtss2-tcti-device.so.0`).

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use object::elf;
use object::read::elf::{Dyn, ElfFile64, FileHeader, ProgramHeader};
use object::Endianness;

use crate::error::Error;

/// Where libraries are looked up, in order (Debian's multiarch layout).
pub const LIBRARY_DIRS: [&str; 2] = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"];

/// Libraries `blindfold-enclave` opens with `dlopen`: the TPM transport
/// tss-esapi's loader picks for `device:/dev/tpmrm0`.
pub const RUNTIME_LOADED: [&str; 1] = ["libtss2-tcti-device.so.0"];

/// What an ELF file asks of the dynamic linker.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// `PT_INTERP`, if any.
    pub interpreter: Option<String>,
    /// `DT_NEEDED` names.
    pub needed: Vec<String>,
}

/// Reads the interpreter and the `DT_NEEDED` entries of a 64-bit ELF file.
pub fn needs(bytes: &[u8], what: &str) -> Result<Needs, Error> {
    let bad = |e: object::Error| Error::Input(format!("{what} is not a 64-bit ELF file: {e}"));
    let file = ElfFile64::<Endianness>::parse(bytes).map_err(bad)?;
    let endian = file.endian();
    let header = file.elf_header();
    let mut out = Needs::default();
    for ph in header.program_headers(endian, bytes).map_err(bad)? {
        if ph.p_type(endian) == elf::PT_INTERP {
            if let Ok(Some(data)) = ph.interpreter(endian, bytes) {
                out.interpreter = Some(String::from_utf8_lossy(data).into_owned());
            }
        }
    }
    let sections = header.sections(endian, bytes).map_err(bad)?;
    if let Some((dynamic, index)) = sections.dynamic(endian, bytes).map_err(bad)? {
        let strings = sections.strings(endian, bytes, index).map_err(bad)?;
        for d in dynamic {
            if d.d_tag(endian) == elf::DT_NEEDED {
                let name = d.string(endian, strings).map_err(bad)?;
                out.needed.push(String::from_utf8_lossy(name).into_owned());
            }
        }
    }
    Ok(out)
}

/// A library placed in the initrd: where it goes (the path the dynamic
/// linker looks at) and the file it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Library {
    /// Absolute path inside the image.
    pub target: String,
    /// The file read on the build host (symlinks followed).
    pub source: PathBuf,
}

/// The closure of the libraries of `programs` (each named, for errors) and
/// of `extra` (opened at run time), each placed once at
/// `/lib/x86_64-linux-gnu/NAME`; each program's interpreter at its own
/// path. Sorted by target.
pub fn closure(programs: &[(&str, &[u8])], extra: &[&str], dirs: &[&Path]) -> Result<Vec<Library>, Error> {
    let mut found: BTreeMap<String, Library> = BTreeMap::new();
    let mut interpreters: Vec<String> = Vec::new();
    let mut queue: VecDeque<String> = VecDeque::new();
    for (what, program) in programs {
        let top = needs(program, what)?;
        if let Some(interp) = top.interpreter {
            if !found.contains_key(&interp) {
                let source = std::fs::canonicalize(&interp)
                    .map_err(|e| Error::Input(format!("the ELF interpreter {interp}: {e}")))?;
                found.insert(
                    interp.clone(),
                    Library {
                        target: interp.clone(),
                        source,
                    },
                );
                interpreters.push(interp);
            }
        }
        queue.extend(top.needed);
    }
    queue.extend(extra.iter().map(|s| s.to_string()));
    while let Some(name) = queue.pop_front() {
        let target = format!("{}/{name}", LIBRARY_DIRS[0]);
        if found.contains_key(&target) || interpreters.iter().any(|i| i.ends_with(&format!("/{name}"))) {
            continue;
        }
        let source = dirs
            .iter()
            .map(|d| d.join(&name))
            .find(|p| p.exists())
            .ok_or_else(|| {
                Error::Input(format!(
                    "library {name} is not in {} (install its package on the build host)",
                    dirs.iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ))
            })?;
        let source =
            std::fs::canonicalize(&source).map_err(|e| Error::Input(format!("{}: {e}", source.display())))?;
        let bytes = std::fs::read(&source).map_err(|e| Error::Input(format!("{}: {e}", source.display())))?;
        queue.extend(needs(&bytes, &name)?.needed);
        found.insert(target.clone(), Library { target, source });
    }
    Ok(found.into_values().collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_program_s_needs_match_what_the_dynamic_linker_is_asked_for() {
        // /bin/true on Debian: the interpreter and libc.
        let bytes = std::fs::read("/bin/true").unwrap();
        let n = needs(&bytes, "true").unwrap();
        assert_eq!(n.interpreter.as_deref(), Some("/lib64/ld-linux-x86-64.so.2"));
        assert_eq!(n.needed, vec!["libc.so.6".to_string()]);
        assert!(needs(b"#!/bin/sh\n", "script")
            .unwrap_err()
            .to_string()
            .contains("not a 64-bit ELF"));
    }

    #[test]
    fn the_closure_places_each_library_once_and_names_a_missing_one() {
        let dirs: Vec<&Path> = LIBRARY_DIRS.iter().map(Path::new).collect();
        let bytes = std::fs::read("/bin/true").unwrap();
        let libs = closure(&[("true", &bytes)], &[], &dirs).unwrap();
        let targets: Vec<&str> = libs.iter().map(|l| l.target.as_str()).collect();
        assert_eq!(
            targets,
            ["/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"]
        );
        let err = closure(&[("true", &bytes)], &["libnot-there.so.9"], &dirs)
            .unwrap_err()
            .to_string();
        assert!(err.contains("libnot-there.so.9 is not in"), "{err}");
    }
}
