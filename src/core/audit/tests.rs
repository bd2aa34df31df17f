//! The audit as a whole: consistent pairs pass, each bug class gives its finding.

use super::*;
use crate::core::normalize::{Kind, Obs, StreamFacts, TextDigest, UsageSet};

pub(super) fn obs(value: u64, source: &str, kind: Kind) -> Option<Obs> {
    Some(Obs {
        value,
        source: source.into(),
        kind,
    })
}

pub(super) fn usage(input: u64, read: u64, write: u64, output: u64) -> UsageSet {
    UsageSet {
        input: obs(input, "in", Kind::Reported),
        cache_read: obs(read, "cr", Kind::Reported),
        cache_write: obs(write, "cw", Kind::Reported),
        output: obs(output, "out", Kind::Reported),
        ..UsageSet::default()
    }
}

pub(super) fn side(op: Operation, u: UsageSet, text: &str) -> Normalized {
    let mut t = TextDigest::default();
    t.push(text);
    Normalized {
        operation: op,
        attempts: 1,
        status: Some(200),
        usage: u.clone(),
        channels: crate::core::normalize::Channels {
            body: (!op.is_streaming()).then(|| u.clone()),
            message_start: (op == Operation::InvokeModelWithResponseStream).then(|| UsageSet {
                output: obs(1, "start", Kind::Placeholder),
                ..u.clone()
            }),
            message_deltas: if op == Operation::InvokeModelWithResponseStream {
                vec![UsageSet {
                    output: u.output.clone(),
                    ..UsageSet::default()
                }]
            } else {
                vec![]
            },
            metadata: (op == Operation::ConverseStream).then(|| u.clone()),
            ..Default::default()
        },
        text: t,
        stop_reason: None,
        stream: op.is_streaming().then(|| StreamFacts {
            terminal_frame: Some(5),
            ..Default::default()
        }),
        failure: None,
        request: Default::default(),
    }
}

fn audit(ns: &Normalized, st: &Normalized) -> CaseAudit {
    super::audit(ns, st, &Default::default())
}

pub(super) fn violated(a: &CaseAudit) -> Vec<Invariant> {
    let mut v: Vec<Invariant> = a
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Violation)
        .map(|f| f.invariant)
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn a_consistent_pair_passes() {
    let a = audit(
        &side(Operation::InvokeModel, usage(10, 0, 0, 2), "Hi!"),
        &side(
            Operation::InvokeModelWithResponseStream,
            usage(10, 0, 0, 2),
            "Hi!",
        ),
    );
    assert_eq!(a.verdict, Verdict::Pass, "{:?}", a.findings);
    assert!(
        a.checks
            .iter()
            .any(|c| c.invariant == Invariant::InputParity && c.status == Status::Held)
    );
}

#[test]
fn a_cache_split_is_a_note_not_a_mismatch() {
    let a = audit(
        &side(Operation::Converse, usage(3, 0, 100, 2), "Hi!"),
        &side(Operation::ConverseStream, usage(3, 100, 0, 2), "Hi!"),
    );
    assert_eq!(a.verdict, Verdict::Pass);
    assert!(
        a.findings
            .iter()
            .any(|f| f.severity == Severity::Note && f.message.contains("cache split"))
    );
}

#[test]
fn different_texts_make_output_not_comparable() {
    let a = audit(
        &side(Operation::Converse, usage(10, 0, 0, 2), "Hi!"),
        &side(Operation::ConverseStream, usage(10, 0, 0, 3), "Hello"),
    );
    assert_eq!(a.verdict, Verdict::Inconclusive);
    assert!(violated(&a).is_empty());
}

#[test]
fn input_and_output_drift_are_mismatches() {
    let a = audit(
        &side(Operation::Converse, usage(10, 0, 0, 4), "Hi!"),
        &side(Operation::ConverseStream, usage(3, 1796, 0, 392), "Hi!"),
    );
    assert_eq!(a.verdict, Verdict::Mismatch);
    assert_eq!(
        violated(&a),
        vec![Invariant::InputParity, Invariant::OutputParity]
    );
}

#[test]
fn a_decreasing_counter_violates_cumulative_not_summed() {
    let mut st = side(
        Operation::InvokeModelWithResponseStream,
        usage(10, 0, 0, 5),
        "x",
    );
    st.channels.message_deltas = vec![
        UsageSet {
            output: obs(9, "d1", Kind::Reported),
            ..Default::default()
        },
        UsageSet {
            output: obs(5, "d2", Kind::Reported),
            ..Default::default()
        },
    ];
    let a = audit(&side(Operation::InvokeModel, usage(10, 0, 0, 5), "x"), &st);
    assert!(violated(&a).contains(&Invariant::CumulativeNotSummed));
}

#[test]
fn summed_counters_are_recognised_against_the_metrics() {
    let mut st = side(
        Operation::InvokeModelWithResponseStream,
        usage(10, 0, 0, 16),
        "x",
    );
    st.channels.message_deltas = vec![UsageSet {
        output: obs(16, "d", Kind::Reported),
        ..Default::default()
    }];
    st.channels.invocation_metrics = Some(UsageSet {
        input: obs(10, "m", Kind::Reported),
        output: obs(15, "m", Kind::Reported),
        ..Default::default()
    });
    let a = audit(&side(Operation::InvokeModel, usage(10, 0, 0, 15), "x"), &st);
    let v = violated(&a);
    assert!(
        v.contains(&Invariant::CumulativeNotSummed) && v.contains(&Invariant::MetricsMatchEvents),
        "{v:?}"
    );
}

#[test]
fn converse_totals_must_include_cache() {
    let mut ns = side(Operation::Converse, usage(18, 0, 7502, 386), "x");
    ns.usage.total = obs(404, "body:usage.totalTokens", Kind::Reported);
    let a = audit(
        &ns,
        &side(Operation::ConverseStream, usage(18, 0, 7502, 386), "x"),
    );
    assert_eq!(violated(&a), vec![Invariant::TotalIsSum]);
}

#[test]
fn runtime_failures_are_errors_and_skip_parity() {
    let mut st = side(Operation::ConverseStream, UsageSet::default(), "");
    st.failure = Some(crate::core::normalize::Failure {
        kind: "exception",
        name: "modelStreamErrorException".into(),
        message: "boom".into(),
        frame: Some(2),
        status: None,
    });
    let a = audit(&side(Operation::Converse, usage(10, 0, 0, 2), "Hi!"), &st);
    assert_eq!(a.verdict, Verdict::Error);
    assert!(
        !a.checks
            .iter()
            .any(|c| c.invariant == Invariant::InputParity)
    );
    assert!(
        a.findings[0]
            .message
            .contains("modelStreamErrorException in frame 2")
    );
}

#[test]
fn ids_round_trip() {
    for i in Invariant::ALL {
        assert_eq!(Invariant::from_id(i.id()), Some(i));
    }
}
