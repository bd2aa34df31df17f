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
        "stacked below 72 columns:\n{}",
        r.stdout
    );
}
