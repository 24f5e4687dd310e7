//! `image.toml`: what goes into a Blindfold image. Paths are relative to
//! the file's directory; `~/` is the user's home.
//!
//! ```toml
//! [kernel]
//! dir = "~/.cache/blindfold/kernel/6.1.0-57-amd64"  # vmlinuz, modules/
//! # modules = ["virtio_pci", ...]                    # default: DEFAULT_MODULES
//! # cloud_modules = ["nvme", ...]                     # default: CLOUD_MODULES
//!
//! [boot]
//! stub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
//!
//! [enclave]
//! binary = "target/enclave/blindfold-enclave"
//! config = "enclave.json"      # an EnclaveConfig for an image (no app disk path)
//!
//! [app.files]                  # placed on the app disk, mounted at /app
//! "model.gguf" = "~/.cache/blindfold/model/SmolLM2-135M-Instruct.Q4_1.gguf"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;

/// The parsed `image.toml`, paths resolved.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// The kernel package, unpacked.
    pub kernel: KernelSpec,
    /// The UKI's stub.
    pub boot: BootSpec,
    /// The program that runs as PID 1 and its configuration.
    pub enclave: EnclaveSpec,
    /// Files for the app disk.
    #[serde(default)]
    pub app: AppSpec,
    /// Other programs in the initrd, measured with it (PCR 4): name (a file
    /// name, installed as `/usr/bin/NAME`) to the file on this machine,
    /// with the libraries each needs. An upstream engine such as
    /// llama.cpp's `llama-server` ships this way and the enclave starts it
    /// (its configuration's `command`).
    #[serde(default)]
    pub programs: BTreeMap<String, PathBuf>,
}

/// `[kernel]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelSpec {
    /// A directory with `vmlinuz` and `modules/` (`scripts/setup.sh --vm`
    /// unpacks Debian's kernel package so).
    pub dir: PathBuf,
    /// Modules to load, in order (their dependencies are added).
    #[serde(default)]
    pub modules: Option<Vec<String>>,
    /// Drivers loaded only where their hardware is (a failed load is
    /// logged, not fatal); default: `modules::CLOUD_MODULES`, `[]` for none.
    #[serde(default)]
    pub cloud_modules: Option<Vec<String>>,
}

/// `[boot]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootSpec {
    /// systemd-stub (`linuxx64.efi.stub`).
    pub stub: PathBuf,
}

/// `[enclave]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnclaveSpec {
    /// The `blindfold-enclave` binary (built with the `enclave` profile).
    pub binary: PathBuf,
    /// Its configuration (JSON, `EnclaveConfig`), written to the app disk.
    pub config: PathBuf,
}

/// `[app]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// Name on the app disk → file on the build host.
    #[serde(default)]
    pub files: BTreeMap<String, PathBuf>,
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if let (Ok(rest), Some(home)) = (p.strip_prefix("~"), std::env::var_os("HOME")) {
        return PathBuf::from(home).join(rest);
    }
    base.join(p)
}

impl ImageSpec {
    /// Parses `text`, resolving paths against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<ImageSpec, Error> {
        let mut spec: ImageSpec = toml::from_str(text).map_err(|e| Error::Spec(e.to_string()))?;
        spec.kernel.dir = resolve(base, &spec.kernel.dir);
        spec.boot.stub = resolve(base, &spec.boot.stub);
        spec.enclave.binary = resolve(base, &spec.enclave.binary);
        spec.enclave.config = resolve(base, &spec.enclave.config);
        for (name, path) in spec.programs.iter_mut() {
            let ok = !name.is_empty() && !name.contains('/') && name != "." && name != "..";
            if !ok {
                return Err(Error::Spec(format!(
                    "program name `{name}` must be a file name (it is installed as /usr/bin/NAME)"
                )));
            }
            *path = resolve(base, path);
        }
        for (name, path) in spec.app.files.iter_mut() {
            let ok = !name.is_empty()
                && name != "config.json"
                && name.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
            if !ok {
                return Err(Error::Spec(format!(
                    "app file name `{name}` must be a relative path without . or .. and not config.json (the enclave's configuration)"
                )));
            }
            *path = resolve(base, path);
        }
        Ok(spec)
    }

    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<ImageSpec, Error> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
        ImageSpec::parse(&text, path.parent().unwrap_or(Path::new(".")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SPEC: &str = r#"
[kernel]
dir = "k"
[boot]
stub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
[enclave]
binary = "bin/blindfold-enclave"
config = "enclave.json"
[app.files]
"model.gguf" = "/m.gguf"
"#;

    #[test]
    fn paths_resolve_against_the_file_s_directory() {
        let s = ImageSpec::parse(SPEC, Path::new("/x")).unwrap();
        assert_eq!(s.kernel.dir, Path::new("/x/k"));
        assert_eq!(
            s.boot.stub,
            Path::new("/usr/lib/systemd/boot/efi/linuxx64.efi.stub")
        );
        assert_eq!(s.app.files["model.gguf"], Path::new("/m.gguf"));
        assert!(s.programs.is_empty());
        let s = ImageSpec::parse(
            &format!("{SPEC}[programs]\n\"llama-server\" = \"bin/llama-server\"\n"),
            Path::new("/x"),
        )
        .unwrap();
        assert_eq!(s.programs["llama-server"], Path::new("/x/bin/llama-server"));
        let e = ImageSpec::parse(
            &format!("{SPEC}[programs]\n\"../sbin/init\" = \"x\"\n"),
            Path::new("/x"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("must be a file name"), "{e}");
    }

    #[test]
    fn unknown_keys_and_escaping_names_are_refused() {
        let e = ImageSpec::parse(
            &SPEC.replace("[boot]", "[boot]\ncmdline = \"init=/bin/sh\""),
            Path::new("/"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `cmdline`"), "{e}");
        let e =
            ImageSpec::parse(&SPEC.replace("\"model.gguf\"", "\"../etc/x\""), Path::new("/")).unwrap_err();
        assert!(e.to_string().contains("without . or .."), "{e}");
    }
}
