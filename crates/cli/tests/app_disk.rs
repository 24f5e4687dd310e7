//! `blindfold disk build`: fsck.erofs accepts the image, veritysetup
//! accepts its tree, and it is reproducible across mtimes, owners and
//! creation order while any content change moves the root hash.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn tree(dir: &Path, order: &[&str], stamp: &str, owner: Option<&str>) {
    std::fs::create_dir_all(dir.join("models")).unwrap();
    for name in order {
        std::fs::write(dir.join(name), format!("contents of {name}\n").repeat(300)).unwrap();
    }
    std::fs::write(dir.join("models/tokenizer.json"), "{\"vocab\": {}}").unwrap();
    for entry in ["config.json", "runtime.toml", "models/tokenizer.json"] {
        assert!(
            run(Command::new("touch").args(["-d", stamp]).arg(dir.join(entry)))
                .status
                .success()
        );
    }
    if let Some(o) = owner {
        assert!(run(Command::new("chown").args(["-R", o]).arg(dir))
            .status
            .success());
    }
}

fn build(dir: &Path, image: &Path) -> (String, serde_json::Value) {
    let out = run(blindfold().args(["disk", "build"]).arg(dir).arg("-o").arg(image));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{}.json", image.display())).unwrap()).unwrap();
    (text(&out.stdout).trim().to_string(), json)
}

#[test]
fn app_disks_are_reproducible_checkable_and_content_bound() {
    require_tool("mkfs.erofs");
    require_tool("fsck.erofs");
    require_tool("veritysetup");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (a, b, c) = (d.join("a"), d.join("b"), d.join("c"));
    tree(&a, &["config.json", "runtime.toml"], "2001-01-01", None);
    tree(
        &b,
        &["runtime.toml", "config.json"],
        "2024-06-01",
        Some("1234:5678"),
    );
    let (root_a, json_a) = build(&a, &d.join("a.img"));
    let (root_b, _) = build(&b, &d.join("b.img"));
    assert_eq!(root_a, root_b);
    assert!(
        std::fs::read(d.join("a.img")).unwrap() == std::fs::read(d.join("b.img")).unwrap(),
        "images differ"
    );
    assert_eq!(json_a["root_hash"], root_a);

    let fsck = run(Command::new("fsck.erofs").arg(d.join("a.img")));
    assert!(fsck.status.success(), "fsck.erofs: {}", text(&fsck.stderr));
    let offset = json_a["hash_offset"].as_u64().unwrap().to_string();
    let v = run(Command::new("veritysetup")
        .arg("verify")
        .arg(d.join("a.img"))
        .arg(d.join("a.img"))
        .arg(&root_a)
        .args(["--hash-offset", &offset]));
    assert!(v.status.success(), "veritysetup: {}", text(&v.stderr));

    tree(&c, &["config.json", "runtime.toml"], "2001-01-01", None);
    std::fs::write(c.join("config.json"), "changed").unwrap();
    let (root_c, _) = build(&c, &d.join("c.img"));
    assert_ne!(root_a, root_c);
}
