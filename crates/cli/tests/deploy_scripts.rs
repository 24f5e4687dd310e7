//! The deploy scripts (`deploy/aws`, `deploy/azure`, `deploy/gcp`):
//! shell-checked; every AWS and Azure command they would run parses with
//! the cloud's own CLI (PyPI `awscli` and `azure-cli`, no credentials: a
//! command that parses stops at "no credentials", one that does not stops
//! at its usage error); the commands of each cloud's dry run match their
//! golden file (`deploy/*/dry-run.golden`; gcloud is not on PyPI, so for
//! GCP the golden file is the check); a missing required flag is named.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Inputs a dry run reads: an export directory with each cloud's disk
/// file, the UEFI variables and a certificate.
fn inputs(d: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let export = d.join("export");
    std::fs::create_dir_all(&export).unwrap();
    for f in ["disk.raw", "disk.vhd", "disk.tar.gz"] {
        std::fs::write(export.join(f), b"disk").unwrap();
    }
    let (_, cert) = self_signed_rsa(d, "db", "Blindfold deploy test");
    let uefi = d.join("uefi-data.bin");
    std::fs::write(&uefi, b"QU1aTlVFRkk=").unwrap();
    (export, uefi, cert)
}

fn args(cloud: &str, export: &Path, uefi: &Path, cert: &Path) -> Vec<String> {
    let s = |p: &Path| p.display().to_string();
    let mut a: Vec<String> = vec!["--export".into(), s(export)];
    let more: &[&str] = match cloud {
        "aws" => &[
            "--image-bucket",
            "owner-images",
            "--models-bucket",
            "owner-models",
            "--kms-key-arn",
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "--subnet",
            "subnet-0123456789abcdef0",
            "--security-group",
            "sg-0123456789abcdef0",
            "--region",
            "us-east-1",
        ],
        "azure" => &[
            "--resource-group",
            "blindfold-rg",
            "--storage-account",
            "blindfoldimages",
            "--gallery",
            "blindfold_gallery",
            "--subnet-id",
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/blindfold-rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/enclaves",
        ],
        _ => &[
            "--bucket",
            "owner-images",
            "--project",
            "blindfold-test",
            "--zone",
            "us-central1-a",
            "--subnet",
            "enclaves",
        ],
    };
    a.extend(more.iter().map(|s| s.to_string()));
    match cloud {
        "aws" => a.extend(["--uefi-data".into(), s(uefi)]),
        _ => a.extend(["--cert".into(), s(cert)]),
    }
    a
}

/// The commands a dry run prints (one per "+ " line), and its stderr.
fn dry_run(cloud: &str, d: &Path, extra: &[&str]) -> (Vec<String>, std::process::Output) {
    let (export, uefi, cert) = inputs(d);
    let tmp = d.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let o = run(Command::new("bash")
        .arg(repo_root().join(format!("deploy/{cloud}/deploy.sh")))
        .args(args(cloud, &export, &uefi, &cert))
        .args(extra)
        .env("BLINDFOLD_DEPLOY_DRY_RUN", "1")
        .env("TMPDIR", &tmp));
    let commands = text(&o.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("+ "))
        .map(str::to_string)
        .collect();
    (commands, o)
}

/// Paths of this run replaced by names, so the golden file holds none.
fn normalized(commands: &[String], d: &Path) -> String {
    let root = repo_root().canonicalize().unwrap();
    let tmp = format!("{}/tmp/tmp.", d.display());
    let mut out = String::new();
    for c in commands {
        let mut line = c.replace(&root.display().to_string(), "$REPO");
        while let Some(at) = line.find(&tmp) {
            let end = (at + tmp.len() + 10).min(line.len());
            line.replace_range(at..end, "$WORK");
        }
        line = line.replace(&d.display().to_string(), "$INPUTS");
        line = line.replace(&certificate_base64(d), "$DB_CERTIFICATE");
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The test certificate as the Azure template takes it: DER, base64.
fn certificate_base64(d: &Path) -> String {
    let o = run(Command::new("sh").arg("-c").arg(format!(
        "openssl x509 -in '{}' -outform DER | base64 -w0",
        d.join("db.pem").display()
    )));
    assert!(o.status.success());
    text(&o.stdout).trim().to_string()
}

fn check_golden(cloud: &str, commands: &[String], d: &Path) {
    let got = normalized(commands, d);
    let path = repo_root().join(format!("deploy/{cloud}/dry-run.golden"));
    if std::env::var_os("BLINDFOLD_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        got,
        want,
        "{cloud}'s commands differ from {} (BLINDFOLD_UPDATE_GOLDEN=1 rewrites it)",
        path.display()
    );
}

/// Runs each command with the cloud CLI at `cli` first on PATH and no
/// credentials anywhere; each must get past parsing to the credentials.
fn parses(commands: &[String], cli: &Path, d: &Path, parsed: &str, refused: &[&str]) {
    let home = d.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let path = format!(
        "{}:{}",
        cli.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for c in commands {
        let o = run(Command::new("bash")
            .args(["-c", c])
            .env_clear()
            .env("PATH", &path)
            .env("HOME", &home)
            .env("AWS_CONFIG_FILE", home.join("aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join("aws-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AZURE_CONFIG_DIR", home.join("azure"))
            .env("AZURE_CORE_COLLECT_TELEMETRY", "false")
            .env("AZURE_CORE_NO_COLOR", "true"));
        let out = text(&o.stdout) + &text(&o.stderr);
        assert!(!o.status.success(), "{c} ran without credentials: {out}");
        for r in refused {
            assert!(!out.contains(r), "{c} does not parse: {out}");
        }
        assert!(
            out.contains(parsed),
            "{c} stopped before asking for credentials: {out}"
        );
    }
}

#[test]
fn the_deploy_scripts_pass_shellcheck() {
    require_tool("shellcheck");
    let root = repo_root();
    let o = run(Command::new("shellcheck")
        .arg("-x")
        .args([
            "deploy/lib.sh",
            "deploy/aws/deploy.sh",
            "deploy/azure/deploy.sh",
            "deploy/gcp/deploy.sh",
            "deploy/balancer/haproxy-config.sh",
        ])
        .arg("scripts/secure-boot-vars.sh")
        .current_dir(&root));
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
}

#[test]
fn every_aws_command_parses_with_awscli() {
    let tmp = tempfile::tempdir().unwrap();
    let (commands, o) = dry_run("aws", tmp.path(), &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    for needed in [
        "--tpm-support v2.0",
        "--boot-mode uefi",
        "--uefi-data file://",
        "HttpTokens=required",
    ] {
        assert!(
            commands.iter().any(|c| c.contains(needed)),
            "no {needed} in {commands:#?}"
        );
    }
    let launch = commands.iter().find(|c| c.contains("run-instances")).unwrap();
    assert!(
        !launch.contains("--key-name"),
        "the instance gets an SSH key: {launch}"
    );
    check_golden("aws", &commands, tmp.path());
    let aws = blindfold_testdata::cache_dir().join("cloud-cli/bin/aws");
    assert!(aws.exists(), "{} is missing: run scripts/setup.sh", aws.display());
    parses(
        &commands,
        &aws,
        tmp.path(),
        "Unable to locate credentials",
        &[
            "usage:",
            "Unknown options",
            "Error parsing parameter",
            "Invalid choice",
            "Parameter validation failed",
        ],
    );
}

#[test]
fn every_azure_command_parses_with_azure_cli() {
    let tmp = tempfile::tempdir().unwrap();
    for (extra, golden) in [(&[][..], "azure"), (&["--confidential"][..], "")] {
        let (commands, o) = dry_run("azure", tmp.path(), extra);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let vm = commands.iter().find(|c| c.starts_with("az vm create")).unwrap();
        for needed in ["--specialized", "--enable-secure-boot true", "--enable-vtpm true"] {
            assert!(vm.contains(needed), "no {needed} in {vm}");
        }
        if golden.is_empty() {
            assert!(vm.contains("--security-type ConfidentialVM"), "{vm}");
            continue;
        }
        assert!(vm.contains("--security-type TrustedLaunch"), "{vm}");
        check_golden(golden, &commands, tmp.path());
        let az = blindfold_testdata::cache_dir().join("cloud-cli/bin/az");
        assert!(az.exists(), "{} is missing: run scripts/setup.sh", az.display());
        parses(
            &commands,
            &az,
            tmp.path(),
            "az login",
            &[
                "unrecognized arguments",
                "the following arguments are required",
                "is misspelled",
                "is not a valid value",
            ],
        );
    }
    // The image version's template is JSON with the db certificate slot.
    let template: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo_root().join("deploy/azure/image-version.json")).unwrap())
            .unwrap();
    let uefi = &template["resources"][0]["properties"]["securityProfile"]["uefiSettings"];
    assert_eq!(uefi["additionalSignatures"]["db"][0]["type"], "x509", "{uefi}");
}

#[test]
fn the_gcp_commands_match_their_golden_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (commands, o) = dry_run("gcp", tmp.path(), &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    check_golden("gcp", &commands, tmp.path());
    let create = commands.iter().find(|c| c.contains("instances create")).unwrap();
    for needed in [
        "--shielded-secure-boot",
        "--shielded-vtpm",
        "--no-service-account",
        "serial-port-enable=FALSE",
    ] {
        assert!(create.contains(needed), "no {needed} in {create}");
    }
}

#[test]
fn a_missing_required_flag_is_named() {
    for (cloud, flag) in [
        ("aws", "--kms-key-arn"),
        ("azure", "--gallery"),
        ("gcp", "--bucket"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let (export, uefi, cert) = inputs(tmp.path());
        let mut a = args(cloud, &export, &uefi, &cert);
        let at = a.iter().position(|x| x == flag).unwrap();
        a.drain(at..at + 2);
        let o = run(Command::new("bash")
            .arg(repo_root().join(format!("deploy/{cloud}/deploy.sh")))
            .args(&a)
            .env("BLINDFOLD_DEPLOY_DRY_RUN", "1"));
        assert!(!o.status.success());
        assert!(
            text(&o.stderr).contains(&format!("{flag} is required")),
            "{cloud}: {}",
            text(&o.stderr)
        );
    }
}
