//! `blindfold image build`: two builds of the same inputs are
//! byte-identical; the GPT disk, the ESP, the UKI's command line and the
//! app disk check out with other tools (mtools, fsck.vfat, veritysetup,
//! objdump); `image export` carries the disk into Azure's and AWS's
//! import formats; and the disk boots under QEMU + OVMF to the enclave
//! running as PID 1 from the initrd, its libraries found.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use blindfold_measure::pe::PeImage;
use blindfold_measure::verity::AppDiskTable;
use common::*;

fn kernel_dir() -> PathBuf {
    let dir = blindfold_image::default_kernel_dir();
    assert!(
        dir.join("vmlinuz").is_file() && dir.join("modules").is_dir(),
        "{} has no kernel: run scripts/setup.sh (it unpacks Debian's kernel package there)",
        dir.display()
    );
    dir
}

/// An image description with a small app file instead of a model.
fn spec(dir: &Path) -> PathBuf {
    std::fs::write(
        dir.join("enclave.json"),
        r#"{"platform": "local", "network": {"address": "10.0.2.15/24", "gateway": "10.0.2.2", "listen_port": 8443}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("notes.txt"),
        "what the enclave reads from its app disk\n",
    )
    .unwrap();
    let toml = format!(
        "[kernel]\ndir = \"{}\"\n[boot]\nstub = \"/usr/lib/systemd/boot/efi/linuxx64.efi.stub\"\n\
         [enclave]\nbinary = \"{}\"\nconfig = \"enclave.json\"\n[app.files]\n\"docs/notes.txt\" = \"notes.txt\"\n",
        kernel_dir().display(),
        stripped_enclave(dir).display()
    );
    std::fs::write(dir.join("image.toml"), toml).unwrap();
    dir.join("image.toml")
}

fn build(spec: &Path, out: &Path) -> serde_json::Value {
    let o = run(blindfold()
        .args(["image", "build", "--json", "--config"])
        .arg(spec)
        .arg("-o")
        .arg(out)
        .env("SOURCE_DATE_EPOCH", "1700000000"));
    assert!(o.status.success(), "{}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn an_image_builds_reproducibly_and_its_parts_check_out_with_other_tools() {
    for tool in ["mdir", "mcopy", "fsck.vfat", "veritysetup", "strip"] {
        require_tool(tool);
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let spec = spec(d);
    let image = build(&spec, &d.join("a"));
    build(&spec, &d.join("b"));
    for f in [
        "disk.img",
        "uki.efi",
        "app.img.json",
        "enclave.json",
        "image.json",
    ] {
        assert!(
            std::fs::read(d.join("a").join(f)).unwrap() == std::fs::read(d.join("b").join(f)).unwrap(),
            "{f} differs between two builds of the same inputs"
        );
    }
    let disk = d.join("a/disk.img");
    let disk_bytes = std::fs::read(&disk).unwrap();

    // The built disk as Azure and AWS import it (the formats themselves:
    // crates/image/tests/export.rs).
    for (target, file) in [("azure", "disk.vhd"), ("aws", "disk.raw")] {
        let o = run(blindfold()
            .args(["image", "export"])
            .arg(d.join("a"))
            .args(["--target", target, "-o"])
            .arg(d.join(target))
            .env("SOURCE_DATE_EPOCH", "1700000000"));
        assert!(o.status.success(), "{}", text(&o.stderr));
        let exported = std::fs::read(d.join(target).join(file)).unwrap();
        assert_eq!(&exported[..disk_bytes.len()], &disk_bytes[..], "{target}");
        if target == "azure" {
            assert_eq!(exported.len(), disk_bytes.len() + 512);
            assert_eq!(&exported[disk_bytes.len()..disk_bytes.len() + 8], b"conectix");
        }
    }
    let o = run(blindfold()
        .args(["image", "export"])
        .arg(d.join("azure"))
        .args(["--target", "gcp", "-o"])
        .arg(d.join("gcp")));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("has no disk.img"), "{}", text(&o.stderr));

    // The ESP (partition 1, at 1 MiB) holds the UKI where firmware looks.
    let listing = run(Command::new("mdir")
        .arg("-i")
        .arg(format!("{}@@1M", disk.display()))
        .arg("::/EFI/BOOT"));
    assert!(listing.status.success(), "{}", text(&listing.stderr));
    assert!(
        text(&listing.stdout).contains("BOOTX64  EFI"),
        "{}",
        text(&listing.stdout)
    );
    let copied = d.join("copied.efi");
    let o = run(Command::new("mcopy")
        .arg("-i")
        .arg(format!("{}@@1M", disk.display()))
        .arg("::/EFI/BOOT/BOOTX64.EFI")
        .arg(&copied));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let uki = std::fs::read(d.join("a/uki.efi")).unwrap();
    assert!(
        std::fs::read(&copied).unwrap() == uki,
        "the ESP's UKI is not uki.efi"
    );
    // The ESP's extent from its GPT entry (the first, at LBA 2): its size
    // follows the UKI's.
    let entry = &disk_bytes[1024..1024 + 128];
    let lba = |at: usize| u64::from_le_bytes(entry[at..at + 8].try_into().unwrap()) as usize * 512;
    let (esp_start, esp_end) = (lba(32), lba(40) + 512);
    assert_eq!(esp_start, 1 << 20);
    std::fs::write(d.join("esp.part"), &disk_bytes[esp_start..esp_end]).unwrap();
    let fsck = run(Command::new("fsck.vfat").arg("-n").arg(d.join("esp.part")));
    assert!(
        fsck.status.success(),
        "fsck.vfat: {}{}",
        text(&fsck.stdout),
        text(&fsck.stderr)
    );

    // The UKI's .cmdline is image.json's, and its verity table alone opens
    // the app partition (veritysetup, no superblock read).
    let pe = PeImage::parse(&uki).unwrap();
    let cmdline = String::from_utf8(pe.section_data(&uki, pe.section(".cmdline").unwrap()).to_vec()).unwrap();
    assert_eq!(cmdline.trim_end_matches('\0'), image["cmdline"].as_str().unwrap());
    assert!(
        cmdline.contains("console=ttyS0") && !cmdline.contains("init="),
        "{cmdline}"
    );
    let table = AppDiskTable::from_cmdline(&cmdline).unwrap();
    assert_eq!(
        hex::encode(&table.root_hash),
        image["app_disk_root_hash"].as_str().unwrap()
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("a/app.img.json")).unwrap()).unwrap();
    assert_eq!(manifest["root_hash"], image["app_disk_root_hash"]);
    let app_offset = find_app_partition(&disk_bytes);
    let app_len = (table.hash_start_block as usize + 64) * 4096;
    let part = d.join("app.part");
    std::fs::write(
        &part,
        &disk_bytes[app_offset..app_offset + app_len.min(disk_bytes.len() - app_offset)],
    )
    .unwrap();
    let verify = |root: &str| {
        run(Command::new("veritysetup")
            .arg("verify")
            .arg(&part)
            .arg(&part)
            .arg(root)
            .arg("--no-superblock")
            .arg(format!("--data-blocks={}", table.data_blocks))
            .arg(format!("--hash-offset={}", table.hash_start_block * 4096))
            .arg(format!("--salt={}", hex::encode(&table.salt)))
            .arg("--hash=sha256"))
    };
    let ok = verify(&hex::encode(&table.root_hash));
    assert!(ok.status.success(), "veritysetup: {}", text(&ok.stderr));
    let mut other = table.root_hash.clone();
    other[0] ^= 1;
    assert!(
        !verify(&hex::encode(other)).status.success(),
        "veritysetup accepted another root hash"
    );
}

/// The app partition's first byte, from the GPT's second entry.
fn find_app_partition(disk: &[u8]) -> usize {
    assert_eq!(&disk[512..520], b"EFI PART");
    let entry = &disk[1024 + 128..1024 + 256];
    let name: Vec<u16> = entry[56..128]
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let name = String::from_utf16_lossy(&name);
    assert_eq!(name.trim_end_matches('\0'), "blindfold-app");
    u64::from_le_bytes(entry[32..40].try_into().unwrap()) as usize * 512
}

#[test]
fn the_image_boots_to_the_enclave_as_pid_1_which_opens_the_app_disk_and_powers_off_without_a_tpm() {
    for tool in ["qemu-system-x86_64", "strip"] {
        require_tool(tool);
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    build(&spec(d), &d.join("img"));
    let vars = d.join("vars.fd");
    std::fs::copy("/usr/share/OVMF/OVMF_VARS_4M.fd", &vars).unwrap();
    let o = run(Command::new("timeout")
        .args([
            "240",
            "qemu-system-x86_64",
            "-machine",
            "q35",
            "-accel",
            "tcg",
            "-cpu",
            "max",
            "-m",
            "1024",
        ])
        .args([
            "-smp",
            "1",
            "-nographic",
            "-no-reboot",
            "-nodefaults",
            "-serial",
            "stdio",
        ])
        .args([
            "-drive",
            "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
        ])
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,unit=1,file={}", vars.display()))
        .arg("-drive")
        .arg(format!(
            "if=none,id=d0,format=raw,readonly=on,file={}",
            d.join("img/disk.img").display()
        ))
        .args(["-device", "virtio-blk-pci,drive=d0,bootindex=1"]));
    let serial = text(&o.stdout);
    // The kernel from the UKI ran the initrd's only program, the enclave:
    // its libraries resolved, its modules loaded, the app disk opened
    // through the kernel's dm-verity with the command line's table.
    assert!(
        !serial.contains("error while loading shared libraries"),
        "{serial}"
    );
    // The 18 required modules, and the cloud drivers this machine's
    // hardware takes (NVMe, ENA, gVNIC, virtio-scsi, SCSI disks load
    // without their devices); Hyper-V's refuse off Hyper-V and are logged.
    let loaded: usize = serial
        .split("blindfold-enclave: PID 1, ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(loaded > 18, "{serial}");
    assert!(serial.contains("hv_vmbus not loaded"), "{serial}");
    assert!(
        serial.contains("app disk blindfold-app opened through dm-verity"),
        "{serial}"
    );
    // With no TPM attached there is no measured boot: the enclave says so
    // and powers the machine off (QEMU exits by itself, not by the time-out).
    assert!(
        serial.contains("the firmware left no event log") && serial.contains("powering off"),
        "{serial}"
    );
    assert!(!serial.contains("Kernel panic"), "{serial}");
    assert_eq!(o.status.code(), Some(0), "QEMU did not stop by itself: {serial}");
}
