//! A reproducible initramfs: a `newc` cpio archive (the format the kernel
//! unpacks) with sorted names, fixed inode numbers, owner root, and every
//! time stamp `SOURCE_DATE_EPOCH`.

use std::collections::BTreeMap;

/// One entry of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A directory (mode 0755).
    Dir,
    /// A regular file with its permission bits.
    File {
        /// Permission bits (e.g. 0o755).
        mode: u32,
        /// Contents.
        data: Vec<u8>,
    },
    /// A character device node (for `/dev/console`, which the kernel opens
    /// for init's standard streams before devtmpfs is mounted).
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
}

/// The archive being assembled: path (no leading `/`) to entry. Parent
/// directories are added on write.
#[derive(Debug, Default)]
pub struct Archive {
    entries: BTreeMap<String, Entry>,
}

impl Archive {
    /// An empty archive.
    pub fn new() -> Self {
        Archive::default()
    }

    /// Adds (or replaces) `path`.
    pub fn insert(&mut self, path: &str, entry: Entry) {
        self.entries
            .insert(path.trim_start_matches('/').to_string(), entry);
    }

    /// Whether `path` is in the archive.
    pub fn contains(&self, path: &str) -> bool {
        self.entries.contains_key(path.trim_start_matches('/'))
    }

    /// Paths of the regular files, sorted.
    pub fn files(&self) -> impl Iterator<Item = (&str, usize)> {
        self.entries.iter().filter_map(|(p, e)| match e {
            Entry::File { data, .. } => Some((p.as_str(), data.len())),
            _ => None,
        })
    }

    /// The `newc` bytes, entries in name order (a directory sorts before
    /// what it holds), ending with the trailer.
    pub fn to_bytes(&self, mtime: u64) -> Vec<u8> {
        let mut all = self.entries.clone();
        for path in self.entries.keys() {
            let mut parent = path.as_str();
            while let Some((p, _)) = parent.rsplit_once('/') {
                all.entry(p.to_string()).or_insert(Entry::Dir);
                parent = p;
            }
        }
        let mut out = Vec::new();
        let mtime = u32::try_from(mtime).unwrap_or(u32::MAX);
        for (ino, (path, entry)) in all.iter().enumerate() {
            let (mode, data, rdev): (u32, &[u8], (u32, u32)) = match entry {
                Entry::Dir => (0o040_755, &[], (0, 0)),
                Entry::File { mode, data } => (0o100_000 | (mode & 0o7777), data, (0, 0)),
                Entry::CharDevice { major, minor } => (0o020_600, &[], (*major, *minor)),
            };
            let nlink = if matches!(entry, Entry::Dir) { 2 } else { 1 };
            header(
                &mut out,
                ino as u32 + 1,
                mode,
                nlink,
                mtime,
                data.len() as u32,
                rdev,
                path,
            );
            out.extend_from_slice(data);
            pad4(&mut out);
        }
        header(&mut out, 0, 0, 1, 0, 0, (0, 0), "TRAILER!!!");
        out
    }
}

#[allow(clippy::too_many_arguments)]
fn header(
    out: &mut Vec<u8>,
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    size: u32,
    rdev: (u32, u32),
    name: &str,
) {
    out.extend_from_slice(b"070701");
    // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        mtime,
        size,
        0,
        0,
        rdev.0,
        rdev.1,
        name.len() as u32 + 1,
        0,
    ];
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parents_come_first_and_the_bytes_do_not_depend_on_insertion_order() {
        let mut a = Archive::new();
        a.insert(
            "lib/x/libz.so",
            Entry::File {
                mode: 0o644,
                data: b"z".to_vec(),
            },
        );
        a.insert(
            "/init",
            Entry::File {
                mode: 0o755,
                data: b"#!".to_vec(),
            },
        );
        let mut b = Archive::new();
        b.insert(
            "init",
            Entry::File {
                mode: 0o755,
                data: b"#!".to_vec(),
            },
        );
        b.insert(
            "lib/x/libz.so",
            Entry::File {
                mode: 0o644,
                data: b"z".to_vec(),
            },
        );
        let bytes = a.to_bytes(7);
        assert_eq!(bytes, b.to_bytes(7));
        let text = String::from_utf8_lossy(&bytes);
        let order: Vec<usize> = ["init\0", "lib\0", "lib/x\0", "lib/x/libz.so\0", "TRAILER!!!\0"]
            .iter()
            .map(|n| text.find(n).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        assert_eq!(bytes.len() % 4, 0);
        assert_ne!(bytes, a.to_bytes(8), "the time stamp is in the archive");
    }
}
