//! Authenticode against `pesign --hash`, sections against `objdump -h`,
//! and a UKI we build: reproducible, and booted under QEMU + OVMF + swtpm,
//! where the PCRs the guest reads equal our predictions.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use blindfold_measure::pe::PeImage;
use common::*;

const STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";

fn sample(f: &str) -> PathBuf {
    shared_testdata().join("local-ovmf-boot/stub252").join(f)
}

fn pesign_hash(file: &Path) -> String {
    require_tool("pesign");
    let out = run(Command::new("pesign").args(["--hash", "-i"]).arg(file));
    assert!(out.status.success(), "pesign: {}", text(&out.stderr));
    text(&out.stdout).trim().trim_start_matches("hash: ").to_string()
}

fn our_hash(file: &Path) -> String {
    let out = run(blindfold().args(["pe", "hash"]).arg(file));
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).split_whitespace().next().unwrap().to_string()
}

/// Writes the sample UKI's .linux (a Debian 6.1 kernel) and .initrd (a
/// busybox initrd that prints PCRs and the event log) into `dir`.
fn sample_parts(dir: &Path) -> (PathBuf, PathBuf) {
    let uki = std::fs::read(sample("uki.efi")).unwrap();
    let pe = PeImage::parse(&uki).unwrap();
    let mut out = Vec::new();
    for name in [".linux", ".initrd"] {
        let p = dir.join(name.trim_start_matches('.'));
        std::fs::write(&p, pe.section_data(&uki, pe.section(name).unwrap())).unwrap();
        out.push(p);
    }
    (out[0].clone(), out[1].clone())
}

fn build(dir: &Path, out: &str, linux: &Path, initrd: &Path) -> PathBuf {
    let path = dir.join(out);
    let o = run(blindfold()
        .args(["uki", "build", "--stub", STUB, "--linux"])
        .arg(linux)
        .arg("--initrd")
        .arg(initrd)
        .args(["--cmdline", "console=ttyS0 panic=-1 loglevel=4", "--osrel"])
        .arg(sample("osrel.txt"))
        .arg("-o")
        .arg(&path));
    assert!(o.status.success(), "{}", text(&o.stderr));
    path
}

#[test]
fn authenticode_equals_pesign_on_stub_kernel_and_ukis() {
    let tmp = tempfile::tempdir().unwrap();
    let (linux, initrd) = sample_parts(tmp.path());
    let ours = build(tmp.path(), "ours.efi", &linux, &initrd);
    for file in [PathBuf::from(STUB), linux, sample("uki.efi"), ours] {
        assert_eq!(our_hash(&file), pesign_hash(&file), "{}", file.display());
    }
    // pesign does not pad trailing data here; the firmware's measurement agrees too.
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sample("expected.json")).unwrap()).unwrap();
    assert_eq!(
        our_hash(&sample("uki.efi")),
        expected["uki_authenticode_sha256"].as_str().unwrap()
    );
}

#[test]
fn uki_inspect_lists_the_sections_objdump_lists() {
    require_tool("objdump");
    let tmp = tempfile::tempdir().unwrap();
    let (linux, initrd) = sample_parts(tmp.path());
    let ours = build(tmp.path(), "ours.efi", &linux, &initrd);
    for file in [sample("uki.efi"), ours] {
        let o = run(Command::new("objdump").arg("-h").arg(&file));
        let theirs: Vec<String> = text(&o.stdout)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() == 7 && f[0].parse::<u32>().is_ok())
                    .then(|| format!("{} {}", f[1], u64::from_str_radix(f[2], 16).unwrap()))
            })
            .collect();
        let inspect = run(blindfold().args(["uki", "inspect", "--json"]).arg(&file));
        let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
        let mine: Vec<String> = v["sections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| format!("{} {}", s["name"].as_str().unwrap(), s["virtual_size"]))
            .collect();
        assert_eq!(mine, theirs, "{}", file.display());
    }
}

#[test]
fn a_built_uki_is_reproducible_and_boots_as_predicted() {
    for tool in ["qemu-system-x86_64", "swtpm", "mkfs.vfat", "mcopy"] {
        require_tool(tool);
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (linux, initrd) = sample_parts(d);
    let a = build(d, "a.efi", &linux, &initrd);
    let b = build(d, "b.efi", &linux, &initrd);
    assert!(
        std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
        "two builds differ"
    );

    // Predict with our measure command (PCR 15 from a one-block app disk).
    std::fs::write(d.join("app.img"), vec![7u8; 4096]).unwrap();
    let f = run(blindfold()
        .args(["verity", "format", "--json", "--salt", "-"])
        .arg(d.join("app.img"))
        .arg(d.join("app.hash")));
    std::fs::write(d.join("app.json"), &f.stdout).unwrap();
    let m = run(blindfold()
        .args(["measure", "--uki"])
        .arg(&a)
        .arg("--firmware-log")
        .arg(sample("eventlog.bin"))
        .arg("--app-disk")
        .arg(d.join("app.json"))
        .arg("-o")
        .arg(d.join("measurements.json")));
    assert!(m.status.success(), "{}", text(&m.stderr));
    let predicted: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("measurements.json")).unwrap()).unwrap();

    // Boot it: OVMF + swtpm, the UKI as \EFI\BOOT\BOOTX64.EFI on a FAT ESP.
    let state = d.join("tpm");
    std::fs::create_dir(&state).unwrap();
    let sock = d.join("swtpm.sock");
    let mut swtpm = Command::new("swtpm")
        .args(["socket", "--tpm2", "--tpmstate"])
        .arg(format!("dir={}", state.display()))
        .args(["--ctrl"])
        .arg(format!("type=unixio,path={}", sock.display()))
        .arg("--terminate")
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let esp = d.join("esp.img");
    std::fs::File::create(&esp).unwrap().set_len(64 << 20).unwrap();
    assert!(run(Command::new("mkfs.vfat").arg(&esp)).status.success());
    assert!(run(Command::new("mmd")
        .arg("-i")
        .arg(&esp)
        .args(["::/EFI", "::/EFI/BOOT"]))
    .status
    .success());
    assert!(run(Command::new("mcopy")
        .arg("-i")
        .arg(&esp)
        .arg(&a)
        .arg("::/EFI/BOOT/BOOTX64.EFI"))
    .status
    .success());
    let vars = d.join("vars.fd");
    std::fs::copy("/usr/share/OVMF/OVMF_VARS_4M.fd", &vars).unwrap();
    let qemu = run(Command::new("timeout")
        .args([
            "180",
            "qemu-system-x86_64",
            "-machine",
            "q35",
            "-accel",
            "tcg",
            "-m",
            "1024",
            "-smp",
            "1",
        ])
        .args(["-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio"])
        .args([
            "-drive",
            "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
        ])
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,unit=1,file={}", vars.display()))
        .arg("-chardev")
        .arg(format!("socket,id=chrtpm,path={}", sock.display()))
        .args([
            "-tpmdev",
            "emulator,id=tpm0,chardev=chrtpm",
            "-device",
            "tpm-tis,tpmdev=tpm0",
        ])
        .arg("-drive")
        .arg(format!("if=none,id=esp,format=raw,file={}", esp.display()))
        .args(["-device", "virtio-blk-pci,drive=esp,bootindex=1"]));
    let _ = swtpm.kill();
    let _ = swtpm.wait();
    let serial = text(&qemu.stdout).replace('\r', "");
    let read: std::collections::BTreeMap<u32, String> = serial
        .lines()
        .filter_map(|l| l.strip_prefix("PCR-sha256 "))
        .filter_map(|l| l.split_once(' '))
        .map(|(i, v)| (i.parse().unwrap(), v.to_ascii_lowercase()))
        .collect();
    assert!(
        !read.is_empty(),
        "the guest printed no PCRs:\n{}",
        &serial[serial.len().saturating_sub(3000)..]
    );
    for pcr in [4u32, 9, 11, 12, 13] {
        let want = predicted["pcrs"]["sha256"][pcr.to_string()][0].as_str().unwrap();
        assert_eq!(read[&pcr], want, "PCR {pcr}: read in the guest vs predicted");
    }
}
