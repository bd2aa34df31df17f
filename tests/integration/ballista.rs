//! `reconcile --engine ballista` (`cargo test --features ballista ballista`): a scheduler and two
//! executors started from this binary on loopback run the same plans as embedded DataFusion,
//! and the report is the same, record for record and dollar for dollar.

use crate::util::{run, tokaudit};
use serde_json::Value;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a scheduler or executor may take to listen (a debug build on 2 busy cores).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A free loopback port (the listener is dropped; a race with another process is unlikely
/// and would fail the start, not the comparison).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(port: u16, child: &mut Child) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("a Ballista process exited before listening on {port}: {status}");
        }
        assert!(started.elapsed() < START_TIMEOUT, "nothing on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A scheduler and two executors, stopped on drop.
struct Cluster {
    children: Vec<Child>,
    scheduler: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tokaudit"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn cluster(work: &Path) -> Cluster {
    let port = free_port();
    let scheduler = format!("127.0.0.1:{port}");
    let mut children = vec![spawn(&[
        "ballista-scheduler".into(),
        "--bind".into(),
        scheduler.clone(),
    ])];
    wait_listening(port, &mut children[0]);
    for n in 0..2 {
        let (flight, grpc) = (free_port(), free_port());
        let dir = work.join(format!("executor-{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = spawn(&[
            "ballista-executor".into(),
            "--scheduler".into(),
            scheduler.clone(),
            "--port".into(),
            flight.to_string(),
            "--grpc-port".into(),
            grpc.to_string(),
            "--work-dir".into(),
            dir.display().to_string(),
        ]);
        // The flight server starts after the executor registered with the scheduler.
        wait_listening(flight, &mut child);
        children.push(child);
    }
    Cluster {
        children,
        scheduler: format!("df://{scheduler}"),
    }
}

/// The JSON report of one engine, with the fields about the engine itself (its name, the
/// embedded memory pool's use) taken out: `(rest, name, pool)`.
fn report(provider: &Path, gateway: &Path, engine: &[&str]) -> (Value, Value, Option<Value>) {
    let r = run(tokaudit()
        .args(["reconcile", "--format", "json", "--invocation-logs"])
        .arg(provider)
        .arg("--gateway-logs")
        .arg(gateway)
        .args(engine));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let mut json = r.json();
    let fields = json.as_object_mut().unwrap();
    let name = fields.remove("engine").unwrap();
    let pool = fields.remove("memory");
    (json, name, pool)
}

fn same_on_both_engines(cluster: &Cluster, provider: PathBuf, gateway: PathBuf) -> Value {
    let (embedded, name, pool) = report(&provider, &gateway, &[]);
    assert_eq!(name, "datafusion");
    let pool = pool.expect("the embedded engine reports its memory pool");
    assert!(pool["peak_bytes"].as_u64().unwrap() > 0, "{pool}");
    assert!(
        pool["peak_bytes"].as_u64() <= pool["limit_bytes"].as_u64(),
        "{pool}"
    );
    let (distributed, name, pool) = report(
        &provider,
        &gateway,
        &["--engine", "ballista", "--scheduler", &cluster.scheduler],
    );
    assert_eq!(name, format!("ballista {}", cluster.scheduler));
    assert_eq!(
        pool, None,
        "the executors' pools are not the client's to report"
    );
    assert_eq!(embedded, distributed);
    embedded
}

#[test]
fn ballista_reports_what_embedded_reports_on_real_and_generated_records() {
    let work = tempfile::tempdir().unwrap();
    let cluster = cluster(work.path());

    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/reconcile/litellm-1.63.14");
    let report = same_on_both_engines(
        &cluster,
        real.join("invocation-logs"),
        real.join("gateway-logs"),
    );
    assert_eq!(report["comparisons"][0]["matched"], 22);

    let generated = work.path().join("generated");
    let r = run(tokaudit().args([
        "gen-logs",
        "--out",
        &generated.display().to_string(),
        "--records",
        "3000",
        "--every",
        "7",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let truth = r.json();
    let report = same_on_both_engines(
        &cluster,
        generated.join("invocation-logs"),
        generated.join("gateway-logs"),
    );
    assert_eq!(report["comparisons"][0]["matched"], truth["matched"]);
}
