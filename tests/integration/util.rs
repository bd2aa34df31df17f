//! Shared set-up for the integration suite: the hermetic binary, runs, and report helpers.

pub use assert_cmd::Command;
pub use serde_json::{Value, json};
pub use std::io::{BufRead, BufReader};
pub use std::path::{Path, PathBuf};
pub use std::process::{Child, Stdio};
pub use std::time::{Duration, Instant};

/// A model that caches on Bedrock's routes (from 1,024 tokens, both TTLs) and has a price.
pub const CACHING_MODEL: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";

/// A system prompt above the 1,024-token minimum cacheable prefix of [`CACHING_MODEL`] and
/// of the gateway routes' unknown models (the one the example suite uses).
pub const LONG_SYSTEM: &str = include_str!("../../prompts/billing-analyst.txt");

/// [`LONG_SYSTEM`] as an owned string.
pub fn long_system() -> String {
    LONG_SYSTEM.to_string()
}

/// The committed fixture corpus.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The binary with a hermetic environment: no AWS configuration, no instance-metadata probe.
pub fn tokaudit() -> Command {
    let mut cmd = Command::cargo_bin("tokaudit").expect("binary built");
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k == "TOKAUDIT_MODEL" {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/tokaudit-test/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/tokaudit-test/credentials",
        )
        .env("NO_COLOR", "1");
    cmd
}

/// What one run of the binary left behind.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Stdout parsed as JSON (panics with both streams when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Run to completion and collect the exit code and both streams.
pub fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("runs");
    Run {
        code: out.status.code().expect("exited normally, not by a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The sorted, de-duplicated invariant ids of a case's violations.
pub fn violations(case: &Value) -> Vec<String> {
    let mut v: Vec<String> = case["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "violation")
        .map(|f| f["invariant"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The documented exit code of a verdict.
pub fn exit_for(verdict: &str) -> i32 {
    match verdict {
        "pass" => 0,
        "mismatch" => 1,
        "error" => 3,
        "inconclusive" => 4,
        other => panic!("unknown verdict {other}"),
    }
}

/// A `tokaudit serve` process on a free loopback port, killed when dropped.
pub struct Server {
    child: Child,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `tokaudit serve` with these faults and wait for its URL.
pub fn serve(faults: &[&str]) -> Server {
    serve_with(faults, &[])
}

/// [`serve`] with more `serve` flags.
pub fn serve_with(faults: &[&str], flags: &[&str]) -> Server {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tokaudit"));
    cmd.args(["serve", "--port", "0"]).args(flags);
    for f in faults {
        cmd.args(["--fault", f]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    Server { child, url }
}

/// `compare` (JSON) through aws-config against a `serve` process, with loopback credentials.
pub fn compare_against(server: &Server, extra: &[&str]) -> Run {
    run(tokaudit()
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLETOKAUDIT0")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "not-a-real-secret-for-loopback-tests",
        )
        .args([
            "compare",
            "--prompt",
            "Write Hi",
            "--region",
            "eu-west-1",
            "--format",
            "json",
            "--endpoint-url",
            &server.url,
        ])
        .args(extra))
}

/// Stop a `serve` process as supervisors do (SIGTERM), wait for it, and return its exit code.
#[cfg(unix)]
pub fn terminate(server: &mut Server) -> Option<i32> {
    let pid = server.child_mut().id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    server.child_mut().wait().unwrap().code()
}

impl Server {
    /// The process, for signals and waits.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

/// A GET, read whole: status and body (chunked bodies are left as they come).
pub fn get(url: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// Serve `app` on a free loopback port from its own thread (a stand-in gateway written in a
/// test); its URL.
pub fn spawn_app(app: axum::Router) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}
