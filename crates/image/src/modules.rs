//! Kernel modules for the initrd: the ones asked for and, before each,
//! the modules it depends on (the `depends=` field of its `.modinfo`
//! section), in an order the enclave can load them one by one. The
//! kernel package is unpacked, not installed, so there is no
//! `modules.dep`: the dependencies come from the modules themselves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use object::{Object, ObjectSection};

use crate::error::Error;

/// The modules a Blindfold image loads on Debian's 6.1 kernel, in order:
/// the virtio PCI transport, disk and network; `crc32c` (which
/// `libcrc32c` asks for by name at load time, something `depends=` does
/// not show); dm-verity; erofs; nf_tables (the enclave's firewall: the
/// `inet` family, filter chains, meta/payload/cmp/immediate are built into
/// it). TPM TIS/CRB, securityfs, devtmpfs, SHA-256
/// and packet sockets are built in.
pub const DEFAULT_MODULES: [&str; 7] = [
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "crc32c_generic",
    "dm_verity",
    "erofs",
    "nf_tables",
];

/// The drivers each cloud's machines need, in every image so that the
/// same image boots on each: Hyper-V's bus, storage and network (Azure),
/// NVMe and ENA (AWS), virtio-scsi and gVNIC (Google Cloud), and SCSI
/// disks (Azure and Google Cloud). They load only where their hardware is:
/// off Hyper-V `hv_vmbus` refuses to load, and so do the drivers on it; the
/// enclave logs such a failure and goes on (the disk it needs is found by
/// its GPT name, whichever driver brought it).
pub const CLOUD_MODULES: [&str; 8] = [
    "hv_vmbus",
    "hv_storvsc",
    "hv_netvsc",
    "nvme",
    "ena",
    "virtio_scsi",
    "gve",
    "sd_mod",
];

/// A module placed in the initrd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Its name (`dm_verity`).
    pub name: String,
    /// The `.ko` file in the kernel package.
    pub source: PathBuf,
    /// Loaded where its hardware is: a failure to load it is not fatal.
    pub optional: bool,
}

impl Module {
    /// How the module list (`/etc/blindfold/modules`) and `image.json`
    /// name it: its name, after a `?` when it is optional.
    pub fn listed(&self) -> String {
        format!("{}{}", if self.optional { "?" } else { "" }, self.name)
    }
}

fn normalise(name: &str) -> String {
    name.replace('-', "_")
}

/// Every `.ko` under `dir`, by normalised name.
fn index(dir: &Path, out: &mut BTreeMap<String, PathBuf>) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Input(format!("{}: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::Input(format!("{}: {e}", dir.display())))?;
        let path = entry.path();
        if path.is_dir() {
            index(&path, out)?;
        } else if let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".ko"))
        {
            out.insert(normalise(stem), path);
        }
    }
    Ok(())
}

/// The `depends=` list of a module file.
pub fn depends(bytes: &[u8], what: &str) -> Result<Vec<String>, Error> {
    let file = object::File::parse(bytes).map_err(|e| Error::Input(format!("module {what}: {e}")))?;
    let info = file
        .section_by_name(".modinfo")
        .and_then(|s| s.data().ok())
        .ok_or_else(|| Error::Input(format!("module {what} has no .modinfo section")))?;
    Ok(info
        .split(|b| *b == 0)
        .filter_map(|f| f.strip_prefix(b"depends="))
        .flat_map(|list| {
            String::from_utf8_lossy(list)
                .split(',')
                .map(normalise)
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .collect())
}

/// The modules to load for `wanted`, dependencies first, each once.
/// `modules_dir` is the package's `lib/modules/VERSION`; a name built into
/// the kernel (`modules.builtin`) needs no file and is skipped.
pub fn resolve(modules_dir: &Path, wanted: &[&str]) -> Result<Vec<Module>, Error> {
    let mut files = BTreeMap::new();
    index(&modules_dir.join("kernel"), &mut files)?;
    let builtin: Vec<String> = std::fs::read_to_string(modules_dir.join("modules.builtin"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.rsplit('/').next()?.strip_suffix(".ko").map(normalise))
        .collect();
    let mut out: Vec<Module> = Vec::new();
    fn visit(
        name: &str,
        files: &BTreeMap<String, PathBuf>,
        builtin: &[String],
        out: &mut Vec<Module>,
        path: &mut Vec<String>,
    ) -> Result<(), Error> {
        let name = normalise(name);
        if out.iter().any(|m| m.name == name) || builtin.contains(&name) {
            return Ok(());
        }
        if path.contains(&name) {
            return Err(Error::Input(format!("module dependencies loop through {name}")));
        }
        let source = files.get(&name).ok_or_else(|| {
            Error::Input(format!(
                "module {name} is neither in the kernel package nor built in"
            ))
        })?;
        let bytes = std::fs::read(source).map_err(|e| Error::Input(format!("{}: {e}", source.display())))?;
        path.push(name.clone());
        for dep in depends(&bytes, &name)? {
            visit(&dep, files, builtin, out, path)?;
        }
        path.pop();
        out.push(Module {
            name,
            source: source.clone(),
            optional: false,
        });
        Ok(())
    }
    for name in wanted {
        visit(name, &files, &builtin, &mut out, &mut Vec::new())?;
    }
    Ok(out)
}

/// [`resolve`] for `required`, then for `optional`: the modules only the
/// optional ones need come after, marked optional.
pub fn resolve_with_optional(
    modules_dir: &Path,
    required: &[&str],
    optional: &[&str],
) -> Result<Vec<Module>, Error> {
    let mut out = resolve(modules_dir, required)?;
    for mut m in resolve(modules_dir, optional)? {
        if !out.iter().any(|r| r.name == m.name) {
            m.optional = true;
            out.push(m);
        }
    }
    Ok(out)
}
