//! Golden reports: the JSON report of every committed fixture, of `compare --offline` (both
//! APIs, a cache run over two runs, both gateway routes, a fault that ends in an exception
//! frame, a retried 429), of a gateway run with `--ledger` against a `serve` process, and the
//! JSON / JUnit / Markdown reports and the table of the offline gate, compared byte for byte
//! with `tests/golden/`. Refactors must leave them identical; only the tool version is
//! masked. When a change is meant to alter a report, regenerate with
//! `TOKAUDIT_BLESS=1 cargo test --test integration golden` and say why in the commit.

use crate::util::*;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Mask what legitimately changes between builds: the tool version.
fn masked_json(text: &str) -> String {
    let mut v: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"));
    if let Some(tool) = v.get_mut("tool").and_then(Value::as_object_mut) {
        tool.insert("version".into(), "<version>".into());
    }
    let mut s = serde_json::to_string_pretty(&v).unwrap();
    s.push('\n');
    s
}

fn masked_text(text: &str) -> String {
    text.replace(env!("CARGO_PKG_VERSION"), "<version>")
}

/// Compare `actual` with the golden file, or write it when blessing.
fn check(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("TOKAUDIT_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; generate it with TOKAUDIT_BLESS=1", path.display()));
    if want != actual {
        let line = want
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .map_or(want.lines().count().min(actual.lines().count()), |i| i);
        panic!(
            "{name} differs from its golden file at line {}:\n  golden: {:?}\n  actual: {:?}",
            line + 1,
            want.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

#[test]
fn every_fixture_replays_to_its_golden_report() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            names.push(path);
        }
    }
    names.sort();
    assert!(names.len() >= 18);
    for path in names {
        let r = run(tokaudit()
            .arg("replay")
            .arg(&path)
            .args(["--format", "json"]));
        let stem = path.file_stem().unwrap().to_string_lossy();
        check(&format!("replay/{stem}.json"), &masked_json(&r.stdout));
    }
    let table = run(tokaudit().arg("replay").arg(fixtures()));
    check("replay/corpus-table.txt", &masked_text(&table.stdout));
}

#[test]
fn offline_compare_runs_give_their_golden_reports() {
    let runs: &[(&str, &[&str])] = &[
        ("write-hi", &["--prompt", "Write Hi"]),
        (
            "cache-two-runs",
            &[
                "--prompt",
                "Write 20 words",
                "--model",
                CACHING_MODEL,
                "--system",
                LONG_SYSTEM,
                "--cache",
                "--cache-ttl",
                "1h",
                "--runs",
                "2",
            ],
        ),
        (
            "responses-thinking",
            &[
                "--prompt",
                "Write Hi",
                "--target",
                "openai",
                "--api",
                "responses",
                "--model",
                "claude-sonnet-4-5-20250929",
                "--system",
                LONG_SYSTEM,
                "--cache",
                "--thinking",
                "1024",
            ],
        ),
        (
            "openai",
            &[
                "--prompt",
                "Write 30 words",
                "--target",
                "openai",
                "--model",
                "claude-haiku",
            ],
        ),
        (
            "anthropic",
            &[
                "--prompt",
                "Write 30 words",
                "--target",
                "anthropic",
                "--model",
                "claude-haiku",
            ],
        ),
        (
            "stream-exception",
            &[
                "--prompt",
                "Write 30 words",
                "--api",
                "invoke",
                "--emulator-fault",
                "stream-exception",
            ],
        ),
        (
            "throttle-once",
            &[
                "--prompt",
                "Write Hi",
                "--api",
                "converse",
                "--emulator-fault",
                "throttle-once",
            ],
        ),
    ];
    for (name, args) in runs {
        let r = run(tokaudit()
            .args(["compare", "--offline", "--format", "json"])
            .args(*args));
        check(&format!("compare/{name}.json"), &masked_json(&r.stdout));
    }
}

#[test]
fn a_gateway_run_with_a_ledger_gives_its_golden_report() {
    let upstream = serve(&[]);
    let ledger = format!("{}/_tokaudit/ledger", upstream.url);
    let r = run(tokaudit().args([
        "compare",
        "--prompt",
        "Write Hi",
        "--target",
        "openai",
        "--model",
        "m",
        "--format",
        "json",
        "--system",
        "You are terse and exact, always.",
        "--cache",
        "--base-url",
        &upstream.url,
        "--ledger",
        &ledger,
    ]));
    check("compare/gateway-ledger.json", &masked_json(&r.stdout));
}

#[test]
fn the_offline_gate_gives_its_golden_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (junit, md, json) = (
        dir.path().join("junit.xml"),
        dir.path().join("gate.md"),
        dir.path().join("gate.json"),
    );
    let r = run(tokaudit()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("GITHUB_STEP_SUMMARY")
        .args(["gate", "--offline", "--junit"])
        .arg(&junit)
        .arg("--markdown")
        .arg(&md)
        .arg("--json")
        .arg(&json));
    check("gate/stdout.txt", &masked_text(&r.stdout));
    check(
        "gate/gate.json",
        &masked_json(&std::fs::read_to_string(&json).unwrap()),
    );
    check(
        "gate/junit.xml",
        &masked_text(&std::fs::read_to_string(&junit).unwrap()),
    );
    check(
        "gate/gate.md",
        &masked_text(&std::fs::read_to_string(&md).unwrap()),
    );
}
