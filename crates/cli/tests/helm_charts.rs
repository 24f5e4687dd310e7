//! The Helm charts (`deploy/helm/blindfold`, the owner's key brokers;
//! `deploy/helm/blindfold-balancer`, the operator's L4 balancer), without
//! a cluster: `helm template` renders them and PyPI's
//! `kubernetes-validate --strict` checks every object against the
//! Kubernetes schemas (an unknown field is an error; typed structs would
//! ignore it); the objects keep the owner's key in a Secret volume, pass
//! TCP through, and deny by default; missing values are named; the
//! balancer's HAProxy configuration is the one `deploy/balancer` writes and
//! HAProxy itself accepts both charts' configurations.

#![allow(clippy::unwrap_used, missing_docs)] // test code: a failed unwrap is a failed test
mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::*;
use serde_json::Value;

fn helm() -> PathBuf {
    let helm = blindfold_testdata::cache_dir().join("helm/helm");
    assert!(
        helm.exists(),
        "{} is missing: run scripts/setup.sh",
        helm.display()
    );
    helm
}

fn venv_tool(name: &str) -> PathBuf {
    let tool = blindfold_testdata::cache_dir().join("venv/bin").join(name);
    assert!(
        tool.exists(),
        "{} is missing: run scripts/setup.sh",
        tool.display()
    );
    tool
}

/// `helm template` of a chart with `--set` values; its output.
fn render(chart: &str, sets: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(helm());
    cmd.env("HOME", home.path())
        .args(["template", "r"])
        .arg(repo_root().join("deploy/helm").join(chart))
        .args(["--namespace", "owner"]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    cmd.output().unwrap()
}

fn rendered(chart: &str, sets: &[&str]) -> String {
    let out = render(chart, sets);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// `kubernetes-validate --strict` over a multi-document YAML.
fn validate(yaml: &str) -> Output {
    let mut child = Command::new(venv_tool("kubernetes-validate"))
        .args(["--strict", "--quiet", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// The objects, as JSON (PyYAML from the same environment).
fn objects(yaml: &str) -> Vec<Value> {
    let mut child = Command::new(venv_tool("python"))
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

const OWNER: &[&str] = &[
    "image.repository=registry.example/blindfold",
    "broker.kekSecret=blindfold-kek",
    "broker.tlsSecret=blindfold-kbs-tls",
    "broker.ownerPublicKey=-----BEGIN PUBLIC KEY-----",
    "store.url=s3://owner-keys/blindfold",
    "store.endpoint=https://s3.owner.example",
    "store.credentialsSecret=blindfold-store",
];

fn owner_with(more: &[&'static str]) -> Vec<&'static str> {
    OWNER.iter().chain(more).copied().collect()
}

const ENCLAVES: &str = "enclaves={10.0.0.5:8443,10.0.0.6:8443,10.0.0.7:8443}";

#[test]
fn every_object_of_both_charts_validates_strictly() {
    let renders = [
        rendered("blindfold", OWNER),
        rendered(
            "blindfold",
            &owner_with(&[
                "passthrough.enabled=true",
                "broker.ownerTokenSha256=ab12",
                "store.allowHttp=true",
            ]),
        ),
        rendered("blindfold", &owner_with(&["broker.replicas=1"])),
        rendered("blindfold-balancer", &[ENCLAVES]),
    ];
    for yaml in &renders {
        let out = validate(yaml);
        assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!objects(yaml).is_empty());
    }
    // The check is not vacuous: one misspelt field fails it, named.
    let typo = renders[0].replacen("readinessProbe:", "readinesProbe:", 1);
    let out = validate(&typo);
    assert!(!out.status.success());
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(said.contains("'readinesProbe' was unexpected"), "{said}");
}

#[test]
fn the_brokers_keep_the_key_in_a_secret_volume_pass_tcp_through_and_deny_by_default() {
    let all = objects(&rendered("blindfold", OWNER));
    assert!(
        all.iter().all(|o| o["kind"] != "Ingress"),
        "an Ingress would terminate TLS in front of the broker"
    );
    let deployment = find(&all, "Deployment", "r-blindfold-kbs");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false);
    let container = &pod["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let after = |flag: &str| args[args.iter().position(|a| *a == flag).unwrap() + 1];
    assert_eq!(&args[..2], ["kbs", "serve"]);
    assert_eq!(after("--kek-file"), "/run/blindfold/kek/kek");
    assert_eq!(after("--key-store"), "s3://owner-keys/blindfold");
    // The KEK is a file from the owner's Secret, never an environment variable.
    let kek_volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "kek")
        .unwrap();
    assert_eq!(kek_volume["secret"]["secretName"], "blindfold-kek");
    assert_eq!(kek_volume["secret"]["defaultMode"], 0o400);
    let env = serde_json::to_string(&container["env"]).unwrap();
    assert!(!env.to_lowercase().contains("kek"), "{env}");
    assert!(container["readinessProbe"]["tcpSocket"].is_object());
    assert!(container["livenessProbe"]["tcpSocket"].is_object());
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    // The Service is layer 4: TCP to the broker's own TLS port.
    let service = find(&all, "Service", "r-blindfold-kbs");
    assert_eq!(service["spec"]["type"], "LoadBalancer");
    assert_eq!(service["spec"]["ports"][0]["protocol"], "TCP");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "kbs-tls");
    // Default deny: every pod of the release, no rule in either direction.
    let deny = find(&all, "NetworkPolicy", "r-blindfold-default-deny");
    assert_eq!(
        deny["spec"]["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    assert!(deny["spec"].get("ingress").is_none() && deny["spec"].get("egress").is_none());
    // The brokers reach the store's port and DNS, nothing else.
    let kbs = find(&all, "NetworkPolicy", "r-blindfold-kbs");
    let ports: Vec<i64> = kbs["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| {
            rule["ports"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["port"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(ports, [443, 53, 53]);

    // With the in-cluster passthrough, it is the only way in, and its own
    // egress goes to the brokers' port (and DNS) only.
    let all = objects(&rendered("blindfold", &owner_with(&["passthrough.enabled=true"])));
    let kbs = find(&all, "NetworkPolicy", "r-blindfold-kbs");
    let from = &kbs["spec"]["ingress"][0]["from"];
    assert_eq!(from.as_array().unwrap().len(), 1);
    assert_eq!(
        from[0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
        "passthrough"
    );
    assert_eq!(
        find(&all, "Service", "r-blindfold-kbs")["spec"]["type"],
        "ClusterIP"
    );
    let door = find(&all, "NetworkPolicy", "r-blindfold-passthrough");
    let egress = door["spec"]["egress"].as_array().unwrap();
    assert_eq!(egress.len(), 2);
    assert_eq!(
        egress[0]["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
        "key-broker"
    );
    assert_eq!(egress[0]["ports"][0]["port"], 8444);
    assert_eq!(egress[1]["ports"][0]["port"], 53);
}

#[test]
fn missing_or_unsafe_values_are_named() {
    for (drop, named) in [
        ("broker.kekSecret=", "broker.kekSecret"),
        ("broker.tlsSecret=", "broker.tlsSecret"),
        ("image.repository=", "image.repository"),
        ("store.credentialsSecret=", "store.credentialsSecret"),
        ("store.url=file:///var/keys", "must be s3://"),
    ] {
        let out = render("blindfold", &owner_with(&[drop]));
        assert!(!out.status.success(), "{drop} rendered");
        assert!(text(&out.stderr).contains(named), "{drop}: {}", text(&out.stderr));
    }
    let out = render("blindfold-balancer", &[]);
    assert!(
        text(&out.stderr).contains("list the enclaves"),
        "{}",
        text(&out.stderr)
    );
    let out = render("blindfold-balancer", &["enclaves={enclave.example:8443}"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("is not IPv4:PORT"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn haproxy_accepts_both_configurations_and_the_balancer_writes_what_the_script_writes() {
    require_tool("haproxy");
    let d = tempfile::tempdir().unwrap();
    let balancer = objects(&rendered("blindfold-balancer", &[ENCLAVES]));
    let config = find(&balancer, "ConfigMap", "r-blindfold-balancer")["data"]["haproxy.cfg"]
        .as_str()
        .unwrap()
        .to_string();
    let script = run(Command::new("bash")
        .arg(repo_root().join("deploy/balancer/haproxy-config.sh"))
        .args([
            "--listen",
            "0.0.0.0:8443",
            "10.0.0.5:8443",
            "10.0.0.6:8443",
            "10.0.0.7:8443",
        ]));
    assert_eq!(text(&script.stdout), config);
    // The balancer may reach exactly the listed enclaves.
    let policy = find(&balancer, "NetworkPolicy", "r-blindfold-balancer");
    let to: Vec<String> = policy["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}:{}",
                r["to"][0]["ipBlock"]["cidr"].as_str().unwrap(),
                r["ports"][0]["port"]
            )
        })
        .collect();
    assert_eq!(to, ["10.0.0.5/32:8443", "10.0.0.6/32:8443", "10.0.0.7/32:8443"]);

    let owner = objects(&rendered("blindfold", &owner_with(&["passthrough.enabled=true"])));
    let passthrough = find(&owner, "ConfigMap", "r-blindfold-passthrough")["data"]["haproxy.cfg"]
        .as_str()
        .unwrap()
        .to_string();
    for (name, cfg) in [("balancer", &config), ("passthrough", &passthrough)] {
        let path = d.path().join(format!("{name}.cfg"));
        std::fs::write(&path, cfg).unwrap();
        let out = Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert!(cfg.contains("mode tcp"), "{name} must pass TLS through");
    }
}
