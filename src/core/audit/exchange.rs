//! `exchange`: whether the call itself succeeded, and what to do when it did not. A failed
//! exchange is a runtime error (exit 3), never a mismatch: its usage is partial.

use super::{Auditor, Invariant, Severity, SideId, Status};
use crate::core::normalize::{Failure, Normalized};

pub(super) fn exchange(a: &mut Auditor, id: SideId, side: &Normalized) {
    if side.attempts > 1 {
        let cause = side.failure.as_ref().map(Cause::of);
        let billing = if cause.is_some_and(Cause::never_sent) {
            "none reached the service, so none was billed"
        } else {
            "each attempt that reached the model may have been billed"
        };
        a.find(
            Invariant::Exchange,
            Severity::Note,
            Some(id),
            None,
            format!(
                "{} took {} attempts (the SDK retried); {billing}",
                side.operation, side.attempts
            ),
        );
    }
    match &side.failure {
        None => a.check(Invariant::Exchange, Some(id), Status::Held),
        Some(f) if f.aborted() => {
            a.check(Invariant::Exchange, Some(id), Status::NotApplicable);
            a.find(Invariant::Exchange, Severity::Note, Some(id), None, format!(
                "{} was closed by tokaudit on purpose ({}): its usage on the wire is partial by design; what was recorded and billed for it is checked instead",
                side.operation, f.message));
        }
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
                last.hint = failure_hint(f, side.operation.api().target() == "bedrock");
            }
        }
    }
}

/// Why a call failed, as far as the failure says: each cause has its own remedy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// An error frame or in-band error event mid-stream.
    MidStream,
    /// HTTP 429 or a throttling exception.
    Throttled,
    /// Missing permission or model access.
    AccessDenied,
    /// Unknown model (or not in this region).
    NotFound,
    /// The request was rejected as invalid.
    Invalid,
    /// No complete response in time.
    Timeout,
    /// Nothing listens at the address.
    Refused,
    /// The host name does not resolve.
    Dns,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// Any other HTTP error status.
    Http,
    /// Any other failure.
    Other,
}

impl Cause {
    fn of(f: &Failure) -> Cause {
        let name = f.name.to_ascii_lowercase();
        let text = format!("{name} {}", f.message.to_ascii_lowercase());
        let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
        if f.kind == "exception" || f.kind == "error" {
            Cause::MidStream
        } else if name.contains("throttl") || f.status == Some(429) {
            Cause::Throttled
        } else if name.contains("accessdenied") || matches!(f.status, Some(401 | 403)) {
            Cause::AccessDenied
        } else if name.contains("resourcenotfound") || f.status == Some(404) {
            Cause::NotFound
        } else if name.contains("validation") || f.status == Some(400) {
            Cause::Invalid
        } else if name.contains("timeout") || has(&["timed out"]) {
            Cause::Timeout
        } else if has(&["connection refused"]) {
            Cause::Refused
        } else if has(&[
            "dns error",
            "failed to lookup address",
            "name or service not known",
        ]) {
            Cause::Dns
        } else if has(&["certificate", "tls", "ssl", "handshake"]) {
            Cause::Tls
        } else if f.kind == "http" {
            Cause::Http
        } else {
            Cause::Other
        }
    }

    /// Whether no request can have reached the service (so nothing was billed).
    fn never_sent(self) -> bool {
        matches!(self, Cause::Refused | Cause::Dns | Cause::Tls)
    }
}

/// What to do about a runtime failure, by its cause; `bedrock` says which flag names the
/// address (`--endpoint-url` for Bedrock, `--base-url` for a gateway).
fn failure_hint(f: &Failure, bedrock: bool) -> String {
    let address = if bedrock {
        "--endpoint-url (or --region)"
    } else {
        "--base-url"
    };
    match Cause::of(f) {
        Cause::MidStream => "the model failed mid-stream, so that stream's usage is partial; retry the run (a persistent failure is the provider's)".into(),
        Cause::Throttled => "throttled even after the SDK's retries: lower --concurrency, raise --max-attempts, or request a higher quota".into(),
        Cause::AccessDenied if bedrock => "access denied: grant bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream, and enable access to this model in the Bedrock console".into(),
        Cause::AccessDenied => "the gateway refused the key: check --api-key-env and that the key may call this model".into(),
        Cause::NotFound if bedrock => "model not found in this region: check --model and --region (newer models need an inference-profile id such as us.anthropic.…)".into(),
        Cause::NotFound => "not found at the gateway: check --model (the gateway's model name) and the path in --base-url".into(),
        Cause::Invalid => "the request was rejected: check --model, --max-tokens and the prompt".into(),
        Cause::Timeout => "no complete response in time: raise --timeout, or check that the endpoint answers".into(),
        Cause::Refused => format!("nothing listens at that address (connection refused): check {address} and that the server is running"),
        Cause::Dns => format!("the host name does not resolve: check {address} and your DNS"),
        Cause::Tls => format!("the TLS handshake failed: check the scheme (http:// or https://) in {address} and the server's certificate"),
        Cause::Http => format!("the service answered with HTTP {}: see the message; check {address}", f.status.unwrap_or_default()),
        Cause::Other => Invariant::Exchange.hint().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(name: &str, message: &str) -> Failure {
        Failure {
            kind: "transport",
            name: name.into(),
            message: message.into(),
            frame: None,
            status: None,
        }
    }

    /// Each hint matches the failure it is given for (a refused connection used to be told
    /// to "check --endpoint-url … and your credentials" even behind a gateway).
    #[test]
    fn each_failure_gets_the_hint_for_its_cause() {
        let refused = transport(
            "connect",
            "tcp connect error: Connection refused (os error 111)",
        );
        let dns = transport(
            "dispatch",
            "dns error: failed to lookup address information",
        );
        let tls = transport("connect", "invalid peer certificate: UnknownIssuer");
        let timeout = transport("timeout", "no complete response within 5 s");
        let cases = [
            (&refused, false, "--base-url and that the server is running"),
            (&refused, true, "--endpoint-url"),
            (&dns, false, "does not resolve"),
            (&tls, true, "TLS handshake"),
            (&timeout, false, "raise --timeout"),
        ];
        for (failure, bedrock, needle) in cases {
            let hint = failure_hint(failure, bedrock);
            assert!(hint.contains(needle), "{failure:?}: {hint}");
            assert!(!hint.contains("credentials"), "{hint}");
        }
        let http = Failure {
            kind: "http",
            name: "Unauthorized".into(),
            message: "bad key".into(),
            frame: None,
            status: Some(401),
        };
        assert!(failure_hint(&http, false).contains("--api-key-env"));
        assert!(Cause::of(&refused).never_sent() && Cause::of(&dns).never_sent());
        assert!(
            !Cause::of(&timeout).never_sent(),
            "a timeout may have reached the model"
        );
    }
}
