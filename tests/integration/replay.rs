use crate::util::*;

/// Every committed fixture replays to the verdict and findings it declares.
#[test]
fn corpus_replays_to_its_expected_verdicts() {
    let mut seen = 0;
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let fx: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let expect = &fx["expect"];
        let r = run(tokaudit()
            .arg("replay")
            .arg(&path)
            .args(["--format", "json"]));
        let report = r.json();
        let case = &report["cases"][0];
        let name = path.display();
        assert_eq!(case["verdict"], expect["verdict"], "{name}: {}", r.stdout);
        let mut want: Vec<String> = expect["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        want.sort();
        assert_eq!(violations(case), want, "{name}");
        assert_eq!(
            r.code,
            exit_for(expect["verdict"].as_str().unwrap()),
            "{name}"
        );
        // The table marks the violated invariant on a row, unless it concerns no field or the
        // warm-up call (which is not a column of the table).
        for f in case["findings"].as_array().unwrap() {
            if f["severity"] == "violation" && f.get("field").is_some() && f["side"] != "warmup" {
                let row = case["rows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|r| r["field"] == f["field"])
                    .unwrap();
                assert!(
                    row["invariants"]
                        .as_array()
                        .unwrap()
                        .contains(&f["invariant"]),
                    "{name}: {row}"
                );
                assert_eq!(row["status"], "mismatch", "{name}");
            }
        }
        seen += 1;
    }
    assert!(seen >= 18, "expected the whole corpus, saw {seen}");
}

#[test]
fn the_good_pair_prints_a_diff_table_and_exits_0() {
    let r = run(tokaudit()
        .args(["replay"])
        .arg(fixtures().join("invoke-write-hi.json")));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for needle in [
        "field",
        "non-streaming (source)",
        "streaming (source)",
        "delta",
        "verdict",
        "10 body",
        "2 f5 message_delta",
        "PASS",
    ] {
        assert!(
            r.stdout.contains(needle),
            "missing {needle:?} in\n{}",
            r.stdout
        );
    }
    assert!(
        !r.stdout.contains('\u{1b}'),
        "no colour when stdout is not a terminal"
    );
    let full = run(tokaudit()
        .args(["replay", "--sources"])
        .arg(fixtures().join("invoke-write-hi.json")));
    assert!(
        full.stdout
            .contains("frame[5] message_delta.usage.output_tokens")
    );
    let colour = run(tokaudit()
        .args(["replay", "--color", "always"])
        .arg(fixtures().join("invoke-write-hi.json")));
    assert!(
        colour.stdout.contains('\u{1b}'),
        "--color always colours a pipe"
    );
}

#[test]
fn known_bad_tables_mark_field_and_invariant() {
    let r = run(tokaudit()
        .args(["replay"])
        .arg(fixtures().join("invoke-headers-disagree.json")));
    assert_eq!(r.code, 1);
    let row = r
        .stdout
        .lines()
        .find(|l| l.contains("│ input "))
        .expect("input row");
    assert!(row.contains("✗ headers-match-body"), "{row}");
    assert!(r.stdout.contains("hint:"), "findings carry hints");
}

#[test]
fn json_report_carries_provenance_for_every_number() {
    let r = run(tokaudit()
        .args(["replay", "--format", "json"])
        .arg(fixtures()));
    let report = r.json();
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["exit_code"], 1);
    let mut numbers = 0;
    fn walk(v: &Value, numbers: &mut usize) {
        match v {
            Value::Object(m) => {
                if m.contains_key("value") && m["value"].is_u64() {
                    *numbers += 1;
                    assert!(
                        m["source"].as_str().is_some_and(|s| !s.is_empty()),
                        "number without provenance: {v}"
                    );
                    assert!(
                        ["reported", "derived", "placeholder"]
                            .contains(&m["kind"].as_str().unwrap()),
                        "{v}"
                    );
                }
                m.values().for_each(|x| walk(x, numbers));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, numbers)),
            _ => {}
        }
    }
    walk(&report, &mut numbers);
    assert!(numbers > 300, "only {numbers} numbers found");
    let summary = &report["summary"];
    assert_eq!(summary["cases"], 27);
}

#[test]
fn zero_fixtures_is_an_error_not_success() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(tokaudit().arg("replay").arg(dir.path()));
    assert_eq!(r.code, 3);
    assert!(
        r.stderr.contains("no fixtures (*.json) found"),
        "{}",
        r.stderr
    );
    let r = run(tokaudit().args(["replay", "/nonexistent/tokaudit"]));
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("no such file or folder"), "{}", r.stderr);
}

#[test]
fn bad_flags_are_usage_errors() {
    let r = run(tokaudit().args(["replay", "--format", "yaml", "x"]));
    assert_eq!(r.code, 2);
    let r = run(tokaudit().args(["compare", "--prompt", "x", "--runs", "0", "--offline"]));
    assert_eq!(r.code, 2);
}

/// Replay reads a recording in one pass, normalizing frames as they come; the whole-file
/// loader and the capture normalizers must say exactly the same of every recording.
#[test]
fn one_pass_replay_and_whole_file_loading_give_the_same_report() {
    use tokaudit::core::pipeline::{Pair, audit_pair};
    use tokaudit::core::policy::Policy;
    use tokaudit::fixture::Fixture;
    let mut seen = 0;
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        let fx = Fixture::load(&path).unwrap();
        let (ns, st) = fx.captures().unwrap();
        let warmup = fx.warmup_capture().unwrap();
        let pair = Pair {
            non_streaming: &ns,
            streaming: &st,
            warmup: warmup.as_ref(),
            origin: Some(&path),
            records: fx.records.as_ref(),
        };
        let policy = Policy {
            price_model: fx.price_model.clone(),
            ..Policy::default()
        };
        let whole = audit_pair(fx.meta(), pair, fx.upstream(), &policy);
        let r = run(tokaudit()
            .arg("replay")
            .arg(&path)
            .args(["--format", "json"]));
        let streamed = &r.json()["cases"][0];
        // Through text on both sides: JSON floats parse back to the nearest, not the same, f64.
        let whole: Value = serde_json::from_str(&serde_json::to_string(&whole).unwrap()).unwrap();
        assert_eq!(&whole, streamed, "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 20);
}

/// A recording laid out otherwise (keys reordered, views reformatted, `operation` after the
/// frames) replays the same way, through the careful path.
#[test]
fn a_hand_laid_out_recording_replays_to_the_same_verdict() {
    let text = std::fs::read_to_string(fixtures().join("converse-write-hi.json")).unwrap();
    let mut fx: Value = serde_json::from_str(&text).unwrap();
    let st = fx["streaming"].as_object_mut().unwrap();
    let op = st.remove("operation").unwrap();
    st.insert("operation".into(), op);
    let pretty = serde_json::to_string_pretty(&fx).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hand.json");
    std::fs::write(&path, pretty).unwrap();
    let r = run(tokaudit()
        .arg("replay")
        .arg(&path)
        .args(["--format", "json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let original = run(tokaudit()
        .arg("replay")
        .arg(fixtures().join("converse-write-hi.json"))
        .args(["--format", "json"]));
    let rows = |v: &Value| v["cases"][0]["rows"].clone();
    assert_eq!(rows(&r.json()), rows(&original.json()));
}

/// `replay fixtures/` reports the corpus' intended mismatches as failures; `--check-expect`
/// judges each fixture against its `expect` block, as the corpus test above does: the corpus
/// is green, and a fixture whose expectation no longer holds turns it red, named.
#[test]
fn check_expect_judges_each_fixture_against_its_expect_block() {
    let r = run(tokaudit()
        .args(["replay", "--check-expect", "--format", "json"])
        .arg(fixtures()));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["kind"], "gate");
    let summary = &report["summary"];
    assert_eq!(summary["mismatch"], 0);
    assert!(
        summary["expected_failures"].as_u64().unwrap() >= 15,
        "{summary}"
    );
    assert_eq!(
        run(tokaudit().arg("replay").arg(fixtures())).code,
        1,
        "plain replay"
    );
    // A fixture that now passes although its block says mismatch, and one with no block.
    let dir = tempfile::tempdir().unwrap();
    let mut fx: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("invoke-write-hi.json")).unwrap(),
    )
    .unwrap();
    fx["expect"] = json!({"verdict": "mismatch", "findings": ["input-parity"]});
    std::fs::write(dir.path().join("stale.json"), fx.to_string()).unwrap();
    let r = run(tokaudit()
        .args(["replay", "--check-expect", "--format", "json"])
        .arg(dir.path()));
    assert_eq!(r.code, 1, "{}", r.stdout);
    let case = &r.json()["cases"][0];
    assert_eq!(case["outcome"], "unexpected-pass", "{case}");
    // An extra violation beyond the listed ones is a deviation too (exact, as the corpus test).
    let mut fx: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("invoke-headers-disagree.json")).unwrap(),
    )
    .unwrap();
    fx["expect"]["findings"] = json!([]);
    std::fs::write(dir.path().join("stale.json"), fx.to_string()).unwrap();
    let r = run(tokaudit()
        .args(["replay", "--check-expect", "--format", "json"])
        .arg(dir.path()));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(r.json()["cases"][0]["outcome"], "mismatch");
}
