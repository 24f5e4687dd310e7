//! The same image on the disks and network a cloud gives it: one image
//! whose configuration asks for a DHCP address, with the cloud drivers in
//! its initrd (loaded only where their hardware is), booted from
//! virtio-blk, from NVMe (an AWS Nitro instance's disk) and from a
//! virtio-scsi disk (Google Cloud's), gets its address from QEMU's DHCP
//! server and verifies against its prediction each time (each bus with its
//! own reference boot: the firmware's boot entries, PCR 1, follow the
//! bus). Hyper-V, ENA and gVNIC devices cannot be emulated here: their
//! drivers are in the image, and the console shows Hyper-V's refusing to
//! load off Hyper-V without stopping the machine.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
mod common;

use common::vm::*;
use common::*;

#[test]
fn one_image_boots_from_virtio_nvme_and_scsi_disks_with_a_dhcp_address_and_verifies() {
    for tool in ["qemu-system-x86_64", "swtpm", "strip", "mformat", "mkfs.erofs"] {
        require_tool(tool);
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let enclave = stripped_enclave(d);
    let config = r#"{"platform": "local", "network": {"address": "dhcp", "listen_port": 8443}}"#;
    let image = d.join("image");
    build_image(&spec_with_config(d, &enclave, config, "cloud\n", &[]), &image);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(image.join("image.json")).unwrap()).unwrap();
    let modules = manifest["modules"].to_string();
    for optional in [
        "?hv_vmbus",
        "?hv_storvsc",
        "?hv_netvsc",
        "?nvme",
        "?ena",
        "?virtio_scsi",
        "?gve",
    ] {
        assert!(
            modules.contains(optional),
            "{optional} is not an optional module: {modules}"
        );
    }
    assert!(modules.contains("\"dm_verity\""), "{modules}");
    let platform = d.join("platform");
    ok(blindfold().args(["platform", "init"]).arg(&platform));

    for bus in ["virtio", "nvme", "scsi"] {
        let firmware = d.join(format!("firmware-{bus}.log"));
        let measurements = d.join(format!("measurements-{bus}.json"));
        // NVMe stands for AWS: its reference is captured from the running
        // instance (`platform capture`) and its measurements come with the
        // AWS export, as docs/deploy.md has it; the others take a
        // reference boot first.
        let captured = bus == "nvme";
        if !captured {
            reference_boot(
                &image,
                &platform,
                &firmware,
                &["--disk-bus".as_ref(), bus.as_ref()],
            );
            let o = measure_image(&image, &firmware, &measurements);
            assert!(o.status.success(), "{}", text(&o.stderr));
        }
        let port = free_port();
        let console = d.join(format!("console-{bus}.log"));
        let vm = vm_command(&image, &platform, port, &console)
            .args(["--disk-bus", bus])
            .spawn()
            .unwrap();
        let url = format!("https://127.0.0.1:{port}");
        if captured {
            capture_and_export(d, &image, &platform, &url, &firmware, &measurements);
        }
        let o = run(blindfold()
            .args(["verify", &url, "--json", "--wait", "240"])
            .args(trust(&measurements, &platform)));
        stop(vm);
        let log = String::from_utf8_lossy(&std::fs::read(&console).unwrap_or_default()).into_owned();
        assert!(
            o.status.success(),
            "{bus}: verify: {}{}\nconsole:\n{log}",
            text(&o.stdout),
            text(&o.stderr)
        );
        assert!(log.contains("10.0.2.15/24 from DHCP"), "{bus}: {log}");
        assert!(log.contains("hv_vmbus not loaded"), "{bus}: {log}");
    }
}

/// `platform capture` from the running VM (anchored in the development
/// platform's CA: the evidence is `local`), refusing to take it as a cloud
/// platform's; then `image export --target aws --firmware-log` writes the
/// measurements beside the disk.
fn capture_and_export(
    d: &std::path::Path,
    image: &std::path::Path,
    platform: &std::path::Path,
    url: &str,
    firmware: &std::path::Path,
    measurements: &std::path::Path,
) {
    let o = run(blindfold()
        .args(["platform", "capture", url, "--wait", "240", "--platform-ca"])
        .arg(platform.join("ca.pem"))
        .arg("-o")
        .arg(firmware));
    assert!(o.status.success(), "capture: {}", text(&o.stderr));
    assert!(std::fs::metadata(firmware).unwrap().len() > 1000);
    // The same enclave asked for as a NitroTPM: its evidence is not.
    let o = run(blindfold()
        .args(["platform", "capture", url, "--platform", "aws-nitrotpm", "-o"])
        .arg(d.join("wrong.log")));
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("aws-nitrotpm"), "{}", text(&o.stderr));
    assert!(!d.join("wrong.log").exists());
    let o = run(blindfold()
        .args(["platform", "capture", url, "--platform", "local", "-o"])
        .arg(d.join("wrong.log")));
    assert!(
        text(&o.stderr).contains("platform reference"),
        "{}",
        text(&o.stderr)
    );

    let export = d.join("export-aws");
    let o = run(blindfold()
        .args(["image", "export"])
        .arg(image)
        .args(["--target", "aws", "-o"])
        .arg(&export)
        .arg("--firmware-log")
        .arg(firmware));
    assert!(o.status.success(), "export: {}", text(&o.stderr));
    assert!(export.join("disk.raw").is_file());
    std::fs::copy(export.join("measurements.json"), measurements).unwrap();
    // Without a captured log, export says how to capture one.
    let o = run(blindfold()
        .args(["image", "export"])
        .arg(image)
        .args(["--target", "gcp", "-o"])
        .arg(d.join("export-gcp")));
    assert!(o.status.success(), "export: {}", text(&o.stderr));
    let said = text(&o.stdout);
    assert!(
        said.contains("blindfold platform capture") && said.contains("gcp-vtpm"),
        "{said}"
    );
    assert!(!d.join("export-gcp/measurements.json").exists());
}
