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
        reference_boot(
            &image,
            &platform,
            &firmware,
            &["--disk-bus".as_ref(), bus.as_ref()],
        );
        let measurements = d.join(format!("measurements-{bus}.json"));
        let o = measure_image(&image, &firmware, &measurements);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let port = free_port();
        let console = d.join(format!("console-{bus}.log"));
        let vm = vm_command(&image, &platform, port, &console)
            .args(["--disk-bus", bus])
            .spawn()
            .unwrap();
        let o = run(blindfold()
            .args([
                "verify",
                &format!("https://127.0.0.1:{port}"),
                "--json",
                "--wait",
                "240",
            ])
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
