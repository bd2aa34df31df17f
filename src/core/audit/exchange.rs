//! `exchange`: whether the call itself succeeded, and what to do when it did not. A failed
//! exchange is a runtime error (exit 3), never a mismatch: its usage is partial.

use super::{Auditor, Invariant, Severity, SideId, Status};
use crate::core::normalize::{Failure, Normalized};

pub(super) fn exchange(a: &mut Auditor, id: SideId, side: &Normalized) {
    if side.attempts > 1 {
        a.find(
            Invariant::Exchange,
            Severity::Note,
            Some(id),
            None,
            format!(
                "{} took {} attempts (the SDK retried); each attempt that reached the model may have been billed",
                side.operation, side.attempts
            ),
        );
    }
    match &side.failure {
        None => a.check(Invariant::Exchange, Some(id), Status::Held),
        Some(f) => {
            a.check(Invariant::Exchange, Some(id), Status::Error);
            a.find(
                Invariant::Exchange,
                Severity::Error,
                Some(id),
                None,
                format!("{} failed: {f}", side.operation),
            );
            if let Some(last) = a.findings.last_mut() {
                last.hint = failure_hint(f).to_string();
            }
        }
    }
}

/// What to do about a runtime failure, by its type.
fn failure_hint(f: &Failure) -> &'static str {
    let n = f.name.to_ascii_lowercase();
    if f.kind == "exception" || f.kind == "error" {
        "the model failed mid-stream, so that stream's usage is partial; retry the run (a persistent failure is the provider's)"
    } else if n.contains("throttl") || f.status == Some(429) {
        "throttled even after the SDK's retries: lower --concurrency, raise --max-attempts, or request a higher quota"
    } else if n.contains("accessdenied") {
        "access denied: grant bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream, and enable access to this model in the Bedrock console"
    } else if n.contains("resourcenotfound") {
        "model not found in this region: check --model and --region (newer models need an inference-profile id such as us.anthropic.…)"
    } else if n.contains("validation") {
        "the request was rejected: check --model, --max-tokens and the prompt"
    } else if n.contains("timeout") {
        "no complete response in time: raise --timeout, or check the endpoint"
    } else if f.kind == "transport" {
        "could not reach the endpoint: check --endpoint-url, the network, and your credentials"
    } else {
        Invariant::Exchange.hint()
    }
}
