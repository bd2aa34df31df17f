//! `serve` as its own process, with `compare --endpoint-url` going through aws-config.

use crate::util::*;

/// SIGTERM (what supervisors and CI runners send) stops the emulator cleanly, exit 0.
#[cfg(unix)]
#[test]
fn sigterm_stops_serve_cleanly() {
    let mut server = serve(&[]);
    assert_eq!(terminate(&mut server), Some(0));
}

#[test]
fn compare_through_aws_config_passes_against_serve() {
    let server = serve(&[]);
    let r = compare_against(&server, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.json()["cases"][0]["region"], "eu-west-1");
}

fn post(url: &str, path: &str, body: &[u8], headers: &[(&str, &str)]) -> (u16, String, String) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// Bad JSON, an oversized body, an unknown route, a wrong method, a bad fault header:
/// each an AWS-style error, and the server keeps serving.
#[test]
fn malformed_requests_get_aws_errors_and_the_server_survives() {
    let server = serve(&[]);
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("/model/m/invoke", b"{not json".to_vec(), 400, "validationexception"),
        ("/model/m/converse", b"{\"messages\": []}".to_vec(), 400, "validationexception"),
        ("/model/m/invoke", br#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":-1,"messages":[{"role":"user","content":"x"}]}"#.to_vec(), 400, "validationexception"),
        ("/model/m/invoke", vec![b' '; 26_000_000], 413, "validationexception"),
        ("/nope", b"{}".to_vec(), 404, "unknownoperationexception"),
    ];
    for (path, body, status, kind) in cases {
        let (got, head, text) = post(&server.url, path, &body, &[]);
        assert_eq!(got, status, "{path}: {head}");
        assert!(
            head.contains(&format!("x-amzn-errortype: {kind}")),
            "{path}: {head}"
        );
        let v: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: body {text:?}: {e}"));
        assert!(v["message"].is_string(), "{path}: {v}");
    }
    let (got, head, _) = post(
        &server.url,
        "/model/m/converse",
        b"{}",
        &[("x-tokaudit-fault", "bogus")],
    );
    assert_eq!(got, 400, "{head}");
    // Still serving.
    let r = compare_against(&server, &["--api", "converse"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// The ledger lists every request with what was reported; a cache write then a read is
/// visible in it.
#[test]
fn the_ledger_shows_a_cache_write_then_read() {
    let server = serve(&[]);
    let system = long_system();
    let r = compare_against(
        &server,
        &[
            "--api",
            "invoke",
            "--model",
            CACHING_MODEL,
            "--system",
            &system,
            "--cache",
            "--no-warmup",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    let (status, _, body) = {
        use std::io::{Read, Write};
        let addr = server.url.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(
            format!("GET /_tokaudit/ledger HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        (
            head.split(' ').nth(1).unwrap().to_string(),
            head.to_string(),
            body.to_string(),
        )
    };
    assert_eq!(status, "200");
    let ledger: Value = serde_json::from_str(&body).unwrap();
    let entries = ledger["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["operation"], "InvokeModel");
    assert_eq!(entries[1]["operation"], "InvokeModelWithResponseStream");
    let write = entries[0]["reported"]["cache_write"].as_u64().unwrap();
    assert!(write > 0);
    assert_eq!(entries[1]["reported"]["cache_read"].as_u64(), Some(write));
    assert_eq!(entries[1]["reported"]["cache_write"].as_u64(), Some(0));
    assert!(
        entries
            .iter()
            .all(|e| e["request_id"].as_str().is_some_and(|id| id.len() == 36))
    );
}

#[test]
fn a_fault_rate_hits_some_requests_only() {
    let server = serve(&["metrics-skew@0.5"]);
    let r = compare_against(
        &server,
        &["--api", "invoke", "--runs", "12", "--concurrency", "4"],
    );
    let report = r.json();
    let (m, p) = (
        report["summary"]["mismatch"].as_u64().unwrap(),
        report["summary"]["pass"].as_u64().unwrap(),
    );
    assert_eq!(m + p, 12);
    assert!(m > 0 && p > 0, "mismatch {m}, pass {p}");
}

#[test]
fn a_server_wide_fault_is_reported() {
    let server = serve(&["metrics-skew"]);
    let r = compare_against(&server, &["--api", "invoke"]);
    assert_eq!(r.code, 1);
    assert_eq!(violations(&r.json()["cases"][0]), ["metrics-match-events"]);
}

/// Read what the server sends on `s` until it closes, or `limit` passes.
fn read_until_closed(s: &mut std::net::TcpStream, limit: Duration) -> (String, bool) {
    use std::io::Read;
    s.set_read_timeout(Some(limit)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
        }
    }
}

fn connect(server: &Server) -> std::net::TcpStream {
    std::net::TcpStream::connect(server.url.trim_start_matches("http://")).unwrap()
}

#[test]
fn at_the_connection_limit_idle_connections_make_room_and_busy_ones_get_a_503() {
    use std::io::Write;
    let server = serve_with(&[], &["--max-connections", "2"]);
    // Two idle connections fill the pool; a real client still gets served (the idlest is
    // closed for it).
    let (_a, _b) = (connect(&server), connect(&server));
    std::thread::sleep(Duration::from_millis(200));
    let r = compare_against(&server, &["--api", "invoke"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Two requests in flight fill it with busy connections: a third connection gets a 503.
    let slow = || {
        let mut s = connect(&server);
        let body = r#"{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}"#;
        let req = format!(
            "POST /model/m/converse HTTP/1.1\r\nhost: x\r\nx-tokaudit-fault: slow-first-byte=3000\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        s
    };
    let (_c, _d) = (slow(), slow());
    std::thread::sleep(Duration::from_millis(300));
    let mut e = connect(&server);
    let (text, closed) = read_until_closed(&mut e, Duration::from_secs(5));
    assert!(closed && text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("ServiceUnavailableException") && text.contains("--max-connections"));
}

#[test]
fn idle_connections_and_slow_headers_are_closed_and_a_slow_answer_is_a_503() {
    use std::io::Write;
    let flags = [
        "--idle-timeout",
        "1",
        "--header-read-timeout",
        "1",
        "--request-timeout",
        "1",
    ];
    let server = serve_with(&["slow-first-byte=3000"], &flags);
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut connect(&server), Duration::from_secs(10));
    assert!(
        closed && started.elapsed() < Duration::from_secs(5),
        "an idle connection is closed"
    );
    let mut partial = connect(&server);
    partial
        .write_all(b"POST /model/m/converse HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    let (_, closed) = read_until_closed(&mut partial, Duration::from_secs(10));
    assert!(
        closed,
        "a client that never finishes its headers is dropped"
    );
    let (status, _, _) = post(
        &server.url,
        "/model/m/converse",
        br#"{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}"#,
        &[],
    );
    assert_eq!(
        status, 503,
        "the slow-first-byte fault outlasts the request timeout"
    );
}

#[test]
fn the_ledger_is_a_ring_read_in_pages() {
    let server = serve_with(&[], &["--ledger-size", "3"]);
    for _ in 0..5 {
        let (status, _, _) = post(
            &server.url,
            "/model/m/converse",
            br#"{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}"#,
            &[],
        );
        assert_eq!(status, 200);
    }
    let page = |q: &str| -> Value {
        let (status, body) = get(&server.url, &format!("/_tokaudit/ledger{q}"));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    let first = page("?since=0&limit=2");
    assert_eq!(first["entries"].as_array().unwrap().len(), 2);
    assert_eq!(
        (
            first["dropped"].as_u64(),
            first["next"].as_u64(),
            first["more"].as_bool()
        ),
        (Some(2), Some(4), Some(true))
    );
    let rest = page("?since=4&limit=2");
    assert_eq!(
        (
            rest["entries"].as_array().unwrap().len(),
            rest["more"].as_bool()
        ),
        (1, Some(false))
    );
    assert_eq!(
        rest["entries"][0]["request_id"],
        "70ca0d17-7a3c-4e1d-9b2f-000000000005"
    );
    assert_eq!(
        page("")["entries"].as_array().unwrap().len(),
        3,
        "the newest three are kept"
    );
}

/// `serve --invocation-logs DIR` writes Bedrock's model invocation logs: one gzip JSON-lines
/// object per batch in Bedrock's S3 layout, a record per billed Bedrock call whose
/// `requestId` and counts are the ledger's, written whole by SIGTERM.
#[cfg(unix)]
#[test]
fn invocation_logs_are_written_as_bedrock_delivers_them() {
    use flate2::read::GzDecoder;
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().display().to_string();
    let mut server = serve_with(&[], &["--invocation-logs", &logs]);
    let r = compare_against(&server, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (_, ledger) = get(&server.url, "/_tokaudit/ledger");
    let ledger: Value = serde_json::from_str(&ledger).unwrap();
    assert_eq!(terminate(&mut server), Some(0));
    let mut objects = Vec::new();
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            match e.path() {
                p if p.is_dir() => stack.push(p),
                p => objects.push(p),
            }
        }
    }
    let mut records = Vec::new();
    for o in &objects {
        let rel = o
            .strip_prefix(dir.path())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            rel.starts_with("AWSLogs/000000000000/BedrockModelInvocationLogs/us-east-1/"),
            "{rel}"
        );
        assert!(rel.ends_with(".json.gz") && !rel.contains(".tmp-"), "{rel}");
        let mut text = String::new();
        GzDecoder::new(std::fs::File::open(o).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        records.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    let entries = ledger["entries"].as_array().unwrap();
    assert_eq!(records.len(), 4, "one per call: {records:?}");
    for rec in &records {
        let e = entries
            .iter()
            .find(|e| e["request_id"] == rec["requestId"])
            .unwrap();
        assert_eq!(rec["operation"], e["operation"]);
        assert_eq!(rec["input"]["inputTokenCount"], e["truth"]["input"]);
        assert_eq!(rec["output"]["outputTokenCount"], e["truth"]["output"]);
        assert_eq!(rec["schemaType"], "ModelInvocationLog");
    }
}

/// A log folder that cannot be written is an error at start, not a silent loss later.
#[test]
fn an_unwritable_invocation_log_folder_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let r = run(tokaudit()
        .args(["serve", "--port", "0", "--invocation-logs"])
        .arg(file.join("logs")));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot write invocation logs under"),
        "{}",
        r.stderr
    );
}
