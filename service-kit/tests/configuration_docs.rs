//! The configuration a user reads is the configuration the binaries take: the README's
//! configuration table lists exactly the environment variables the binaries' `--help` prints
//! (subcommands included) — besides those `deploy/dev.sh` reads itself — and
//! `docker-compose.yml` (parsed as YAML) is consistent, gives each rtcx service only variables
//! its binary reads, and runs the model, ClickHouse and Kafka versions CI tests.
//!
//! Needs the workspace's binaries (`cargo test --workspace` builds them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const BINARIES: [&str; 7] =
    ["rtcx-ingest", "rtcx-processors", "rtcx-model", "rtcx-query-api", "rtcx-notifier", "rtcx-migrate", "rtcx-loadgen"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// A binary of the workspace, next to this test's executable.
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let path = exe.parent().and_then(|deps| deps.parent()).map(|dir| dir.join(name)).expect("target dir");
    assert!(path.exists(), "{} is missing: build the workspace first (cargo build --workspace)", path.display());
    path
}

/// `RTCX_…` names in `text` (a trailing `=` or `]` is not part of the name).
fn names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("RTCX_") {
        let tail = &rest[i..];
        let end =
            tail.find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')).unwrap_or(tail.len());
        out.insert(tail[..end].trim_end_matches('_').to_owned());
        rest = &tail[end..];
    }
    out
}

/// The environment variables `binary` (with `args`, a subcommand path) and its subcommands read.
fn help_env(binary: &Path, args: &mut Vec<String>) -> BTreeSet<String> {
    let out = Command::new(binary).args(args.iter()).arg("--help").output().expect("run --help");
    assert!(out.status.success(), "{} {args:?} --help failed", binary.display());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut env: BTreeSet<String> =
        text.split("[env: ").skip(1).filter_map(|s| s.split(['=', ']']).next()).map(str::to_owned).collect();
    let commands: Vec<String> = text
        .split("Commands:\n")
        .nth(1)
        .map(|block| {
            block
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .filter_map(|l| l.split_whitespace().next())
                .filter(|c| *c != "help")
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    for c in commands {
        args.push(c);
        env.extend(help_env(binary, args));
        args.pop();
    }
    env
}

fn binaries_env() -> BTreeMap<&'static str, BTreeSet<String>> {
    BINARIES.iter().map(|b| (*b, help_env(&binary(b), &mut Vec::new()))).collect()
}

/// The README's configuration section: its table, and the paragraph on `deploy/dev.sh`'s own
/// variables.
fn readme_configuration() -> (BTreeSet<String>, BTreeSet<String>) {
    let readme = read("README.md");
    let section = readme.split("\n## Configuration\n").nth(1).expect("a Configuration section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let table: String = section.lines().filter(|l| l.starts_with('|')).collect::<Vec<_>>().join("\n");
    let dev = section.split("`deploy/dev.sh` itself reads").nth(1).expect("the dev.sh paragraph");
    let dev = dev.split("\n\n").next().unwrap_or(dev);
    (names(&table), names(dev))
}

#[test]
fn the_readme_lists_exactly_what_the_binaries_read() {
    let binaries = binaries_env();
    let read_by_some: BTreeSet<String> = binaries.values().flatten().cloned().collect();
    assert!(read_by_some.len() > 50, "the binaries' help lists their variables: {read_by_some:?}");
    let (table, dev) = readme_configuration();
    let missing: Vec<&String> = read_by_some.difference(&table).collect();
    assert!(missing.is_empty(), "read by a binary but not in the README's configuration table: {missing:?}");
    // Besides the binaries' variables, the table names those the stack's own configuration
    // uses (the analyst login of the ClickHouse server config, written by dev.sh).
    let dev_sh = read("deploy/dev.sh");
    let unknown: Vec<&String> = table.iter().filter(|v| !read_by_some.contains(*v) && !dev_sh.contains(*v)).collect();
    assert!(unknown.is_empty(), "in the README's table but read by nothing: {unknown:?}");
    for v in &dev {
        assert!(dev_sh.contains(&format!("${{{v}")), "the README says deploy/dev.sh reads {v}; it does not");
    }
}

/// `docker-compose.yml`, parsed as YAML with its `<<` merges applied.
fn compose() -> serde_norway::Value {
    let mut v: serde_norway::Value =
        serde_norway::from_str(&read("docker-compose.yml")).expect("docker-compose.yml is YAML");
    v.apply_merge().expect("its merges resolve");
    v
}

/// Each service of `docker-compose.yml` that builds an rtcx image: the binary it runs and
/// the `RTCX_…` variables of its environment.
fn rtcx_services(compose: &serde_norway::Value) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let services = compose["services"].as_mapping().expect("services");
    let mut out = BTreeMap::new();
    for (name, service) in services {
        let name = name.as_str().expect("service name").to_owned();
        let build = &service["build"];
        let Some(bin) = build["args"]["BIN"].as_str() else { continue };
        let env: BTreeSet<String> = match &service["environment"] {
            serde_norway::Value::Mapping(m) => m.keys().filter_map(|k| k.as_str()).map(str::to_owned).collect(),
            serde_norway::Value::Null => BTreeSet::new(),
            other => panic!("{name}: environment must be a mapping, not {other:?}"),
        };
        out.insert(name, (bin.to_owned(), env.into_iter().filter(|k| k.starts_with("RTCX_")).collect()));
    }
    out
}

#[test]
fn compose_is_consistent() {
    let compose = compose();
    let services = compose["services"].as_mapping().expect("services");
    let volumes = compose["volumes"].as_mapping().expect("volumes");
    for (name, service) in services {
        let name = name.as_str().expect("name");
        assert!(service.get("image").is_some() || service.get("build").is_some(), "{name}: an image or a build");
        if let Some(deps) = service["depends_on"].as_mapping() {
            for dep in deps.keys() {
                assert!(services.contains_key(dep), "{name} depends on {dep:?}, not a service");
            }
        }
        for v in service["volumes"].as_sequence().into_iter().flatten() {
            let source = v.as_str().expect("short volume syntax").split(':').next().unwrap_or_default();
            if !source.starts_with('.') && !source.starts_with('/') {
                assert!(volumes.contains_key(source), "{name} mounts the undeclared volume {source}");
            } else {
                assert!(root().join(source).exists(), "{name} mounts {source}, which is not in the repository");
            }
        }
        if let serde_norway::Value::Mapping(env) = &service["environment"] {
            for (k, v) in env {
                assert!(v.is_string() || v.is_number(), "{name}: {k:?} must be a string or a number, not {v:?}");
            }
        }
    }
}

#[test]
fn compose_gives_each_service_only_variables_its_binary_reads() {
    let binaries = binaries_env();
    let services = rtcx_services(&compose());
    assert!(services.len() >= 5, "the rtcx services of docker-compose.yml: {services:?}");
    for (service, (bin, vars)) in &services {
        let known = binaries.get(bin.as_str()).unwrap_or_else(|| panic!("{service} runs {bin}, not an rtcx binary"));
        let unknown: Vec<&String> = vars.difference(known).collect();
        assert!(
            unknown.is_empty(),
            "docker-compose.yml gives {service} ({bin}) variables it does not read: {unknown:?}"
        );
    }
    let processors = services.get("processors").expect("a processors service");
    assert!(processors.1.contains("RTCX_KAFKA_BROKERS") && processors.1.contains("RTCX_CLICKHOUSE_URL"));
}

/// `NAME="value"` of a shell or Dockerfile line `prefix NAME="value"`.
fn assigned(text: &str, name: &str) -> String {
    let at = text.find(&format!("{name}=\"")).unwrap_or_else(|| panic!("{name}=\"…\" is set"));
    text[at + name.len() + 2..].split('"').next().unwrap_or_default().to_owned()
}

#[test]
fn images_pin_what_ci_tests() {
    let dev = read("deploy/dev.sh");
    let dockerfile = read("deploy/docker/Dockerfile");
    for pin in ["MODEL_PKG", "MODEL_WHEEL", "MODEL_SHA256"] {
        assert_eq!(assigned(&dockerfile, pin), assigned(&dev, pin), "{pin}: the image's model is deploy/dev.sh's");
    }
    assert!(
        dockerfile.contains("RTCX_MODEL_DIR=") && dockerfile.contains("RTCX_HEADS_DIR="),
        "the processors image says where"
    );
    let compose = compose();
    let image = |s: &str| compose["services"][s]["image"].as_str().unwrap_or_default().to_owned();
    let chdb = assigned(&dev, "CHDB_VERSION");
    let minor = chdb.rsplit_once('.').map(|(m, _)| m).unwrap_or(&chdb);
    assert_eq!(image("clickhouse"), format!("clickhouse/clickhouse-server:{minor}"), "ClickHouse as tested ({chdb})");
    let pom = read("deploy/kafka/pom.xml");
    let kafka = pom.split("<kafka.version>").nth(1).and_then(|s| s.split('<').next()).expect("kafka.version");
    assert_eq!(image("kafka"), format!("apache/kafka:{kafka}"), "Kafka as tested");
    assert_eq!(
        compose["services"]["processors"]["build"]["target"].as_str(),
        Some("processors"),
        "the image with the model"
    );
}

/// The crates of the workspace (`members` of the root `Cargo.toml`).
fn members() -> Vec<String> {
    let manifest = read("Cargo.toml");
    let list = manifest.split("members = [").nth(1).and_then(|s| s.split(']').next()).expect("members");
    list.split(',').map(|m| m.trim().trim_matches('"').to_owned()).filter(|m| !m.is_empty()).collect()
}

#[test]
fn the_architecture_table_names_every_module_and_binary() {
    let doc = read("docs/architecture.md");
    for member in members() {
        let row = doc
            .lines()
            .find(|l| l.starts_with("| `rtcx-") && l.contains(&format!("(`{member}/`)")))
            .unwrap_or_else(|| panic!("docs/architecture.md has no row for the crate in {member}/"));
        let lib = read(&format!("{member}/src/lib.rs"));
        for line in lib.lines() {
            let Some(module) = line.strip_prefix("pub mod ").or_else(|| line.strip_prefix("mod ")) else { continue };
            let module = module.trim_end_matches(';').trim();
            assert!(
                row.contains(&format!("`{module}`")),
                "docs/architecture.md: the {member} row misses module `{module}`"
            );
        }
        let manifest = read(&format!("{member}/Cargo.toml"));
        for bin in manifest.split("[[bin]]").skip(1) {
            let name = bin.split("name = \"").nth(1).and_then(|s| s.split('"').next()).expect("bin name");
            assert!(
                row.contains(&format!("`{name}`")),
                "docs/architecture.md: the {member} row misses binary `{name}`"
            );
        }
    }
}
