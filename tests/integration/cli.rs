//! The command line as a user meets it (issue 12): flags that contradict each other are refused
//! before any call, bad values at parse time, and the table fits the terminal.

use crate::util::*;

/// `compare` with `args`: the exit code and the one stderr line.
fn refused(args: &[&str]) -> (i32, String) {
    let r = run(tokaudit().args(["compare", "--prompt", "x"]).args(args));
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {}", r.stderr);
    (r.code, lines[0].to_string())
}

#[test]
fn contradictions_are_refused_before_any_call_naming_both_flags() {
    let cases: [(&[&str], [&str; 2]); 9] = [
        (
            &[
                "--target",
                "openai",
                "--base-url",
                "http://127.0.0.1:9",
                "--offline",
            ],
            ["--offline", "--base-url"],
        ),
        (
            &[
                "--offline",
                "--target",
                "openai",
                "--ledger",
                "http://127.0.0.1:9/_tokaudit/ledger",
            ],
            ["--offline", "--ledger"],
        ),
        (
            &["--offline", "--target", "openai", "--api-key-env", "K"],
            ["--offline", "--api-key-env"],
        ),
        (
            &[
                "--target",
                "openai",
                "--base-url",
                "http://127.0.0.1:9",
                "--endpoint-url",
                "http://127.0.0.1:8",
            ],
            ["--target openai", "--endpoint-url"],
        ),
        (
            &[
                "--target",
                "anthropic",
                "--base-url",
                "http://127.0.0.1:9",
                "--profile",
                "p",
            ],
            ["--target anthropic", "--profile"],
        ),
        (
            &[
                "--target",
                "openai",
                "--base-url",
                "http://127.0.0.1:9",
                "--region",
                "us-east-1",
            ],
            ["--target openai", "--region"],
        ),
        (
            &["--base-url", "http://127.0.0.1:9"],
            ["--target bedrock", "--base-url"],
        ),
        (
            &[
                "--ledger",
                "http://127.0.0.1:9/_tokaudit/ledger",
                "--endpoint-url",
                "http://127.0.0.1:8",
            ],
            ["--target bedrock", "--ledger"],
        ),
        (
            &["--target", "anthropic", "--api", "converse", "--offline"],
            ["--api converse", "--target anthropic"],
        ),
    ];
    for (args, flags) in cases {
        let (code, line) = refused(args);
        assert_eq!(code, 2, "{args:?}: {line}");
        for f in flags {
            assert!(line.contains(f), "{args:?}: {f} not named in {line}");
        }
    }
}

#[test]
fn bad_values_are_refused_at_parse_time() {
    for (args, needle) in [
        (&["--endpoint-url", "garbage"][..], "not a URL"),
        (
            &["--target", "openai", "--base-url", "ftp://x"],
            "http:// or https://",
        ),
        (&["--offline", "--temperature", "nan"], "not a temperature"),
        (&["--offline", "--temperature=-1"], "not a temperature"),
    ] {
        let r = run(tokaudit().args(["compare", "--prompt", "x"]).args(args));
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn the_table_fits_the_columns_it_is_given() {
    for width in ["80", "120"] {
        let r = run(tokaudit()
            .env("COLUMNS", width)
            .arg("replay")
            .arg(fixtures().join("litellm-1.63.14-proxy-write-hi.json"))
            .arg(fixtures().join("converse-write-hi.json")));
        let widest = r.stdout.lines().map(|l| l.chars().count()).max().unwrap();
        assert!(
            widest <= width.parse().unwrap(),
            "{width}: {widest}\n{}",
            r.stdout
        );
    }
    let r = run(tokaudit()
        .env("COLUMNS", "60")
        .arg("replay")
        .arg(fixtures().join("converse-write-hi.json")));
    assert!(
        r.stdout.contains("non-streaming  10 body"),
        "stacked when the grid cannot fit:\n{}",
        r.stdout
    );
}

/// `replay … > /dev/full` exited 0: a report that could not be written is a runtime error,
/// on stderr, for every command that prints one. A closed pipe stays quiet.
#[cfg(target_os = "linux")]
#[test]
fn a_report_that_cannot_be_written_exits_3() {
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let fixture = fixtures().join("invoke-write-hi.json");
    let fixture = fixture.to_str().unwrap();
    let commands: [&[&str]; 5] = [
        &["replay", fixture],
        &["replay", "--format", "json", fixture],
        &[
            "compare",
            "--prompt",
            "Write Hi",
            "--offline",
            "--api",
            "invoke",
        ],
        &["prices", "--json"],
        &["serve", "--list-faults"],
    ];
    for args in commands {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokaudit"))
            .args(args)
            .env("NO_COLOR", "1")
            .stdout(full())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot write the report to stdout") && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
}

/// A second `--record` into the same folder silently overwrote the first recording.
#[test]
fn record_refuses_a_folder_that_holds_fixtures_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let record = |extra: &[&str]| {
        run(tokaudit()
            .args([
                "compare",
                "--prompt",
                "Write Hi",
                "--offline",
                "--api",
                "invoke",
                "--record",
            ])
            .arg(dir.path())
            .args(extra))
    };
    assert_eq!(record(&[]).code, 0);
    let first = std::fs::read(dir.path().join("run-001-invoke.json")).unwrap();
    let r = record(&[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("already holds 1 fixture") && r.stderr.contains("--force"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "refused before any call");
    assert_eq!(
        std::fs::read(dir.path().join("run-001-invoke.json")).unwrap(),
        first
    );
    assert_eq!(record(&["--force"]).code, 0);
    let r = run(tokaudit().args(["compare", "--prompt", "x", "--offline", "--force"]));
    assert_eq!(r.code, 2, "--force needs --record: {}", r.stderr);
}

/// `-q` is summary-only for every command with a report; `--runs` prints the failing pairs
/// and the spread, not every pair.
#[test]
fn quiet_is_summary_only_and_runs_show_failing_pairs() {
    let fixture = fixtures().join("invoke-write-hi.json");
    let suite = fixtures().join("../tokaudit.toml");
    let runs: [Vec<&std::ffi::OsStr>; 3] = [
        vec!["replay".as_ref(), "-q".as_ref(), fixture.as_os_str()],
        vec![
            "compare".as_ref(),
            "--prompt".as_ref(),
            "Write Hi".as_ref(),
            "--offline".as_ref(),
            "-q".as_ref(),
        ],
        vec![
            "gate".as_ref(),
            "--offline".as_ref(),
            "--suite".as_ref(),
            suite.as_os_str(),
            "-q".as_ref(),
        ],
    ];
    for args in runs {
        let r = run(tokaudit().args(&args));
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        let lines: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: one summary line:\n{}", r.stdout);
        assert!(lines[0].contains("pass"), "{}", lines[0]);
    }
    let r = run(tokaudit().args([
        "compare",
        "--prompt",
        "Write Hi",
        "--offline",
        "--api",
        "invoke",
        "--runs",
        "20",
        "--emulator-fault",
        "hardcoded-usage@0.2",
    ]));
    let shown = r.stdout.matches("· emulator").count();
    let mismatches: usize = r
        .stdout
        .lines()
        .last()
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|m| m.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert_eq!(
        shown, mismatches,
        "only the failing pairs are printed:\n{}",
        r.stdout
    );
    assert!(r.stdout.contains("over all runs"), "{}", r.stdout);
    assert!(
        r.stdout.contains("more passing cases not shown"),
        "{}",
        r.stdout
    );
}

/// An unreachable gateway: the hint names --base-url and the refused connection, and no
/// billing warning for requests that never left.
#[test]
fn an_unreachable_gateway_gets_the_hint_for_a_refused_connection() {
    let r = run(tokaudit().args([
        "compare",
        "--prompt",
        "x",
        "--target",
        "openai",
        "--base-url",
        "http://127.0.0.1:9",
        "--runs",
        "2",
    ]));
    assert_eq!(r.code, 3);
    for text in [&r.stdout, &r.stderr] {
        assert!(text.contains("connection refused"), "{text}");
        assert!(text.contains("check --base-url"), "{text}");
        assert!(!text.contains("--endpoint-url"), "{text}");
        assert!(!text.contains("may have been billed"), "{text}");
    }
    let errors = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("tokaudit: error:"))
        .count();
    assert_eq!(
        errors, 2,
        "each distinct error once (non-streaming, streaming):\n{}",
        r.stderr
    );
    assert!(r.stderr.contains("2 more occurrences"), "{}", r.stderr);
}

/// The header of every offline case says the emulator answered, in every format.
#[test]
fn offline_cases_say_the_emulator_answered() {
    let r = run(tokaudit().args(["compare", "--prompt", "Write Hi", "--offline"]));
    let headers: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with(" run-"))
        .collect();
    assert_eq!(headers.len(), 2, "{}", r.stdout);
    assert!(
        headers.iter().all(|h| h.contains("· emulator")),
        "{headers:?}"
    );
    let r = run(tokaudit().args([
        "compare",
        "--prompt",
        "Write Hi",
        "--offline",
        "--format",
        "json",
    ]));
    assert!(
        r.json()["cases"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["emulator"] == true)
    );
}

/// Conventions of well-liked CLIs: exit codes in `--help`, completions and a man page
/// generated from the same definition the parser uses.
#[test]
fn help_lists_exit_codes_and_completions_and_man_are_generated() {
    for args in [&["--help"][..], &["compare", "--help"], &["gate", "--help"]] {
        let r = run(tokaudit().args(args));
        assert_eq!(r.code, 0);
        assert!(
            r.stdout.contains("Exit codes:") && r.stdout.contains("4  inconclusive"),
            "{args:?}"
        );
    }
    for shell in ["bash", "zsh", "fish"] {
        let r = run(tokaudit().args(["completions", shell]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            r.stdout.contains("replay") && r.stdout.contains("check-expect"),
            "{shell}"
        );
    }
    let r = run(tokaudit().arg("man"));
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.starts_with(".ie") || r.stdout.contains(".TH tokaudit"),
        "{}",
        &r.stdout[..200]
    );
    assert!(
        r.stdout.contains("tokaudit\\-gate"),
        "a section per subcommand"
    );
}

/// SIGTERM stops a run even when its stderr is gone (the parent that read it died): the
/// goodbye line must not panic the task that handles the signal, which left the process
/// running and the signal ignored.
#[cfg(unix)]
#[test]
fn a_signal_stops_tokaudit_even_when_its_stderr_is_gone() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tokaudit"))
        .args([
            "compare",
            "--prompt",
            "Write Hi",
            "--offline",
            "--runs",
            "1000000",
            "--format",
            "json",
        ])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    std::thread::sleep(Duration::from_millis(500));
    let pid = child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(10) {
            child.kill().unwrap();
            panic!("still running 10 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(child.wait().unwrap().code(), Some(143));
}
