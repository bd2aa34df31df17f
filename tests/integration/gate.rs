//! `tokaudit gate`: suites, baselines, JUnit / Markdown / JSON.

use crate::util::*;

fn suite(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("suite.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn fixture(name: &str) -> String {
    fixtures().join(name).display().to_string()
}

/// Parse a JUnit file with an independent XML parser and return
/// (suites, tests, failures, errors, skipped), checking the declared counts match the elements.
fn junit_counts(path: &Path) -> (usize, usize, usize, usize, usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let doc =
        roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("invalid XML: {e}\n{text}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let attr =
        |n: roxmltree::Node, a: &str| n.attribute(a).unwrap_or("0").parse::<usize>().unwrap();
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    let (mut tests, mut failures, mut errors, mut skipped) = (0, 0, 0, 0);
    for s in &suites {
        let cases: Vec<_> = s
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(
            attr(*s, "tests"),
            cases.len(),
            "declared tests of {:?}",
            s.attribute("name")
        );
        let count = |tag: &str| {
            cases
                .iter()
                .filter(|c| c.children().any(|x| x.has_tag_name(tag)))
                .count()
        };
        assert_eq!(attr(*s, "failures"), count("failure"));
        assert_eq!(attr(*s, "errors"), count("error"));
        assert_eq!(attr(*s, "skipped"), count("skipped"));
        tests += cases.len();
        failures += count("failure");
        errors += count("error");
        skipped += count("skipped");
    }
    assert_eq!(attr(root, "tests"), tests);
    (suites.len(), tests, failures, errors, skipped)
}

#[test]
fn the_example_suite_runs_green_offline_and_writes_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let (junit, md, json) = (
        dir.path().join("junit.xml"),
        dir.path().join("r.md"),
        dir.path().join("r.json"),
    );
    let summary = dir.path().join("step-summary.md");
    let r = run(tokaudit()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["gate", "--offline", "--junit"])
        .arg(&junit)
        .arg("--markdown")
        .arg(&md)
        .arg("--json")
        .arg(&json));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            "6 cases: 5 pass, 0 mismatch, 0 inconclusive, 0 error, 1 expected failure (exit 0)"
        ),
        "{}",
        r.stdout
    );
    let (suites, tests, failures, errors, skipped) = junit_counts(&junit);
    assert_eq!((suites, failures, errors), (6, 0, 0));
    assert!(
        tests > 50 && skipped >= 3,
        "{tests} tests, {skipped} skipped"
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        (
            report["kind"].as_str(),
            report["complete"].as_bool(),
            report["exit_code"].as_i64()
        ),
        (Some("gate"), Some(true), Some(0))
    );
    assert_eq!(report["summary"]["expected_failures"], 1);
    // The cache case really caches: after the warm-up both paths read the whole prefix, split
    // alike, and stay within the case's cost budget.
    let cache = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "prompt-cache")
        .unwrap();
    for pair in cache["reports"].as_array().unwrap() {
        let read = |side: &str| pair[side]["usage"]["cache_read"]["value"].as_u64().unwrap();
        assert!(read("non_streaming") > 1024 && read("non_streaming") == read("streaming"));
        assert!(
            pair["warmup"].is_object() && pair["costs"]["warmup"]["usd"].as_f64().unwrap() > 0.0
        );
        let held = |inv: &str| {
            pair["checks"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["invariant"] == inv)
                .all(|c| c["status"] == "held")
        };
        assert!(held("cache-split-parity") && held("cost-budget"), "{pair}");
    }
    let md_text = std::fs::read_to_string(&md).unwrap();
    assert!(
        md_text.contains("### ✅ litellm-1.63.14 — expected-failure"),
        "{md_text}"
    );
    assert_eq!(
        std::fs::read_to_string(&summary).unwrap(),
        md_text,
        "appended to the step summary"
    );
}

#[test]
fn a_known_bad_fixture_fails_the_gate_unless_expected_and_an_error_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let bad = suite(
        dir.path(),
        &format!(
            "[[case]]\nname = \"headers\"\nfixtures = [{:?}]\n",
            fixture("invoke-headers-disagree.json")
        ),
    );
    let r = run(tokaudit().args(["gate", "--suite"]).arg(&bad));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("== headers (line 1): mismatch"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("✗ headers-match-body"));

    let expected = suite(
        dir.path(),
        &format!(
            "[[case]]\nname = \"headers\"\nfixtures = [{:?}]\n[case.expect]\nverdict = \"mismatch\"\nreason = \"a relay rewrites the header\"\n",
            fixture("invoke-headers-disagree.json")
        ),
    );
    let r = run(tokaudit().args(["gate", "--suite"]).arg(&expected));
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout.contains("expected-failure") && r.stdout.contains("a relay rewrites the header"),
        "{}",
        r.stdout
    );

    let stale = suite(
        dir.path(),
        &format!(
            "[[case]]\nname = \"good\"\nfixtures = [{:?}]\n[case.expect]\nverdict = \"mismatch\"\nreason = \"was broken\"\n",
            fixture("invoke-write-hi.json")
        ),
    );
    let r = run(tokaudit().args(["gate", "--suite"]).arg(&stale));
    assert_eq!(
        r.code, 1,
        "an unexpected pass is reported and fails: {}",
        r.stdout
    );
    assert!(r.stdout.contains("unexpected-pass"));

    let erroring = suite(
        dir.path(),
        &format!(
            "[[case]]\nname = \"cut\"\nfixtures = [{:?}]\n",
            fixture("invoke-stream-cut-by-exception.json")
        ),
    );
    let r = run(tokaudit().args(["gate", "--suite"]).arg(&erroring));
    assert_eq!(r.code, 3, "{}", r.stdout);

    let tolerated = suite(
        dir.path(),
        &format!(
            "[[case]]\nname = \"headers\"\nfixtures = [{:?}]\n[case.tolerance]\nheaders-match-body = 2\n",
            fixture("invoke-headers-disagree.json")
        ),
    );
    let r = run(tokaudit().args(["gate", "--suite"]).arg(&tolerated));
    assert_eq!(
        r.code, 0,
        "an explicit tolerance of 2 covers a 2-token header skew: {}",
        r.stdout
    );
    assert!(r.stdout.contains("within the suite's tolerance of 2"));
}

#[test]
fn baseline_drift_is_detected_and_update_baseline_clears_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = suite(
        dir.path(),
        "[[case]]\nname = \"hi\"\nprompt = \"Write Hi\"\napi = \"invoke\"\n",
    );
    let baseline = dir.path().join("baseline");
    let r = run(tokaudit()
        .args(["gate", "--offline", "--suite"])
        .arg(&s)
        .arg("--baseline")
        .arg(&baseline)
        .arg("--update-baseline"));
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(baseline.join("hi/run-001-invoke.json").exists());
    // Recordings of the same case whose input counts moved (a longer system prompt).
    let moved = dir.path().join("moved");
    let rec = run(tokaudit()
        .args([
            "compare",
            "--prompt",
            "Write Hi",
            "--api",
            "invoke",
            "--offline",
            "--system",
            "Be brief.",
            "--record",
        ])
        .arg(moved.join("hi")));
    assert_eq!(rec.code, 0);
    let json = dir.path().join("r.json");
    let r = run(tokaudit()
        .args(["gate", "--suite"])
        .arg(&s)
        .arg("--replay")
        .arg(&moved)
        .arg("--baseline")
        .arg(&baseline)
        .arg("--json")
        .arg(&json));
    assert_eq!(r.code, 1, "{}", r.stdout);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let drift: Vec<&Value> = report["cases"][0]["reports"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["invariant"] == "baseline-drift")
        .collect();
    assert_eq!(drift.len(), 2, "both sides drifted");
    assert!(
        drift[0]["message"]
            .as_str()
            .unwrap()
            .contains("total input is 14 now but 10 in the baseline"),
        "{}",
        drift[0]
    );
    // Re-record, then the same replay is clean.
    let r = run(tokaudit()
        .args(["gate", "--suite"])
        .arg(&s)
        .arg("--replay")
        .arg(&moved)
        .arg("--baseline")
        .arg(&baseline)
        .arg("--update-baseline"));
    assert_eq!(r.code, 0, "{}", r.stdout);
    let r = run(tokaudit()
        .args(["gate", "--suite"])
        .arg(&s)
        .arg("--replay")
        .arg(&moved)
        .arg("--baseline")
        .arg(&baseline));
    assert_eq!(r.code, 0, "{}", r.stdout);
}

/// Kill the gate in the middle of a slow case: the reports of the finished case are there,
/// valid, and marked incomplete.
#[test]
fn a_run_killed_midway_leaves_valid_partial_reports() {
    let dir = tempfile::tempdir().unwrap();
    let s = suite(
        dir.path(),
        "[[case]]\nname = \"fast\"\nprompt = \"Write Hi\"\napi = \"invoke\"\n\n[[case]]\nname = \"slow\"\nprompt = \"Write 300 words\"\nmax_tokens = 400\nemulator_faults = [\"token-latency=50\"]\n",
    );
    let (junit, md, json) = (
        dir.path().join("j.xml"),
        dir.path().join("r.md"),
        dir.path().join("r.json"),
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tokaudit"))
        .args(["gate", "--offline", "--suite"])
        .arg(&s)
        .arg("--junit")
        .arg(&junit)
        .arg("--markdown")
        .arg(&md)
        .arg("--json")
        .arg(&json)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // The reports are renamed into place one after the other: wait for the last.
    loop {
        let done = std::fs::read_to_string(&json)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .is_some_and(|v| v["summary"]["cases"] == 1)
            && std::fs::read_to_string(&md).is_ok_and(|t| t.contains("(incomplete: 1 of 2 cases)"));
        if done {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the first case never finished"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed before it finished");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        (report["complete"].as_bool(), report["planned"].as_u64()),
        (Some(false), Some(2))
    );
    assert_eq!(report["cases"][0]["name"], "fast");
    assert_eq!(report["exit_code"], 3, "an incomplete run is never success");
    // The finished case, and the failing `incomplete` case a CI counts as red.
    let (suites, _, failures, ..) = junit_counts(&junit);
    assert_eq!((suites, failures), (2, 1));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("ended after 1 of 2 cases"), "{xml}");
    assert!(
        std::fs::read_to_string(&md)
            .unwrap()
            .contains("(incomplete: 1 of 2 cases)")
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files left behind");
}

#[test]
fn malformed_suites_are_one_line_errors_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[[case]]\nname = \"a\"\nprompt = \"x\"\ntemprature = 0.5\n",
            ":4: unknown field `temprature`",
        ),
        (
            "[[case]]\nname = \"a\"\nprompt = \"x\"\nruns = -1\n",
            ":4: case \"a\": runs = -1 must be",
        ),
        (
            "[[case]]\nname = \"a\"\nprompt = \"x\"\ntarget = \"azure\"\n",
            ":4: case \"a\": target \"azure\"",
        ),
        (
            "[[case]]\nname = \"a\"\nprompt = \"x\"\nemulator_faults = [\"nope\"]\n",
            ":4: case \"a\": unknown fault",
        ),
        (
            "[[case]]\nname = \"a\"\nprompt = \"x\"\n[case.expect]\nverdict = \"mismatch\"\n",
            ":4: missing field `reason`",
        ),
        ("[[case]\n", ":1: "),
    ];
    for (text, needle) in cases {
        let p = suite(dir.path(), text);
        let r = run(tokaudit().args(["gate", "--offline", "--suite"]).arg(&p));
        assert_eq!(r.code, 2, "{text:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(
            r.stderr.contains(&format!("suite.toml{needle}")),
            "{text:?}: {}",
            r.stderr
        );
    }
    let r = run(tokaudit().args(["gate", "--suite", "/nonexistent/tokaudit.toml"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot read the suite"), "{}", r.stderr);
}

/// A typo in `--baseline` used to disable drift checking with only a note and exit 0.
#[test]
fn a_baseline_that_does_not_exist_is_an_error_unless_optional() {
    let dir = tempfile::tempdir().unwrap();
    let s = suite(
        dir.path(),
        &format!(
            "[[case]]\nname = \"r\"\nfixtures = [{:?}]\n",
            fixture("invoke-write-hi.json")
        ),
    );
    let typo = dir.path().join("basline");
    let r = run(tokaudit()
        .args(["gate", "--suite"])
        .arg(&s)
        .arg("--baseline")
        .arg(&typo));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--baseline") && r.stderr.contains("no such folder"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--baseline-optional"), "{}", r.stderr);
    let r = run(tokaudit()
        .args(["gate", "--suite"])
        .arg(&s)
        .arg("--baseline")
        .arg(&typo)
        .arg("--baseline-optional"));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
}

/// A suite naming a missing fixture exited 3 "corrupt or was edited" after running the other
/// cases; it is a suite error (2) before any call, naming the case, the path and the line.
#[test]
fn a_missing_fixture_is_a_suite_error_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    let s = suite(
        dir.path(),
        "[[case]]\nname = \"live\"\nprompt = \"Write Hi\"\n\n[[case]]\nname = \"gone\"\nfixtures = [\"recordings/missing.json\"]\n",
    );
    let r = run(tokaudit().args(["gate", "--offline", "--suite"]).arg(&s));
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.is_empty(), "no case ran: {}", r.stdout);
    for needle in [
        "suite.toml:5",
        "case \"gone\"",
        "\"recordings/missing.json\" does not exist",
    ] {
        assert!(r.stderr.contains(needle), "{needle:?}: {}", r.stderr);
    }
}

/// A bad suite used to write no report at all, so a CI's artifact step found nothing.
#[test]
fn a_suite_error_still_writes_reports_that_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let s = suite(dir.path(), "[[case]]\nname = \"x\"\nprompt = 3\n");
    let (json, junit, md) = (
        dir.path().join("out/r.json"),
        dir.path().join("out/r.xml"),
        dir.path().join("out/r.md"),
    );
    let r = run(tokaudit()
        .args(["gate", "--offline", "--suite"])
        .arg(&s)
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .arg("--markdown")
        .arg(&md));
    assert_eq!(r.code, 2, "{}", r.stderr);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["exit_code"], 2);
    assert!(
        report["error"].as_str().unwrap().contains("suite.toml:3"),
        "{report}"
    );
    let (suites, tests, failures, errors, _) = junit_counts(&junit);
    assert_eq!((suites, tests, failures, errors), (1, 1, 0, 1));
    let markdown = std::fs::read_to_string(&md).unwrap();
    assert!(
        markdown.contains("The suite was refused, no case ran"),
        "{markdown}"
    );
}

/// The same path for two reports silently dropped one; a report over the suite destroyed it.
#[test]
fn report_paths_must_be_distinct() {
    let dir = tempfile::tempdir().unwrap();
    let s = suite(
        dir.path(),
        &format!(
            "[[case]]\nname = \"r\"\nfixtures = [{:?}]\n",
            fixture("invoke-write-hi.json")
        ),
    );
    let same = dir.path().join("report");
    let dotted = dir.path().join(".").join("report");
    let cases: [(Vec<&std::ffi::OsStr>, [&str; 2]); 2] = [
        (
            vec![
                "--junit".as_ref(),
                same.as_os_str(),
                "--markdown".as_ref(),
                dotted.as_os_str(),
            ],
            ["--junit", "--markdown"],
        ),
        (
            vec!["--json".as_ref(), s.as_os_str()],
            ["--suite", "--json"],
        ),
    ];
    for (args, flags) in cases {
        let r = run(tokaudit().args(["gate", "--suite"]).arg(&s).args(&args));
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        let line = r.stderr.trim();
        assert!(
            line.contains(&format!("{} and {} name the same file", flags[0], flags[1])),
            "{line}"
        );
        assert!(!same.exists(), "nothing written");
    }
    assert!(
        std::fs::read_to_string(&s).unwrap().contains("[[case]]"),
        "the suite survives"
    );
}

/// SIGTERM in the middle of a case: no temporary file outlives the process, the reports on
/// disk are those of the last finished case (marked incomplete, failing in JUnit), the exit
/// code is the shell's for SIGTERM; and a temporary file left by a `kill -9` of an earlier
/// run is removed by the next write.
#[cfg(unix)]
#[test]
fn a_signal_leaves_no_temporary_files_and_consistent_reports() {
    let dir = tempfile::tempdir().unwrap();
    let s = suite(
        dir.path(),
        "[[case]]\nname = \"fast\"\nprompt = \"Write Hi\"\napi = \"invoke\"\n\n[[case]]\nname = \"slow\"\nprompt = \"Write 300 words\"\nmax_tokens = 400\nemulator_faults = [\"token-latency=50\"]\n",
    );
    let (junit, json) = (dir.path().join("j.xml"), dir.path().join("r.json"));
    // What a process killed outright (pid far above any live one) left behind.
    let stale = dir.path().join(".r.json.tmp-4000000");
    std::fs::write(&stale, "half").unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_tokaudit"))
        .args(["gate", "--offline", "--suite"])
        .arg(&s)
        .arg("--junit")
        .arg(&junit)
        .arg("--json")
        .arg(&json)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .is_some_and(|v| v["summary"]["cases"] == 1)
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no case finished"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "the shell's code for SIGTERM");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped by a signal"));
    let temps: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["complete"], false);
    let (_, tests, failures, ..) = junit_counts(&junit);
    assert!(failures >= 1 && tests > 1, "the incomplete case fails");
}

/// A gate can point at a folder of fixtures in the `--check-expect` mode.
#[test]
fn a_suite_case_checks_a_folder_against_its_expect_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let s = suite(
        dir.path(),
        &format!(
            "[[case]]\nname = \"corpus\"\nfixtures = [{:?}]\ncheck_expect = true\n",
            fixtures().display().to_string()
        ),
    );
    let junit = dir.path().join("j.xml");
    let r = run(tokaudit()
        .args(["gate", "--suite"])
        .arg(&s)
        .arg("--junit")
        .arg(&junit));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("corpus (line 1): expected-failure"),
        "{}",
        r.stdout
    );
    let (_, _, failures, errors, _) = junit_counts(&junit);
    assert_eq!(
        (failures, errors),
        (0, 0),
        "intended failures are skipped, not red"
    );
    let bad = suite(
        dir.path(),
        "[[case]]\nname = \"p\"\nprompt = \"x\"\ncheck_expect = true\n",
    );
    let r = run(tokaudit().args(["gate", "--suite"]).arg(&bad));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("use it with `fixtures`"), "{}", r.stderr);
}

/// A suite's `kind = "reconcile"` case in a build without the `reconcile` feature is the
/// case's error (exit 3), never a skipped case that keeps the gate green.
#[cfg(not(feature = "reconcile"))]
#[test]
fn a_reconcile_case_without_the_feature_is_an_error_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/reconcile/litellm-1.65.1");
    let s = suite(
        dir.path(),
        &format!(
            "[[case]]\nname = \"records\"\nkind = \"reconcile\"\ninvocation_logs = [{:?}]\ngateway_logs = [{:?}]\n",
            data.join("invocation-logs"),
            data.join("gateway-logs")
        ),
    );
    let json = dir.path().join("g.json");
    let r = run(tokaudit()
        .args(["gate", "--suite"])
        .arg(&s)
        .arg("--json")
        .arg(&json));
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let case = &report["cases"][0];
    assert_eq!(case["outcome"], "error");
    assert!(
        case["error"]
            .as_str()
            .unwrap()
            .contains("--features reconcile"),
        "{case}"
    );
}
