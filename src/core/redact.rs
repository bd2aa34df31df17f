//! Secrets never leave the process: what is recorded, reported or printed passes through here.
//!
//! Two kinds of secret reach a capture: credentials in headers (SigV4 signatures, session
//! tokens, API keys, bearer tokens, cookies), and AWS account ids inside ARNs (inference
//! profiles and provisioned models are addressed by ARN, and the model id travels in the
//! request path, in fixtures, in ledgers and in error messages). Header values are replaced
//! whole, keeping only the auth scheme as evidence; an ARN keeps everything but its account
//! id, so the model stays readable. PRODUCT.md §6.

use crate::core::capture::{Capture, ResponseBody};
use bytes::Bytes;
use std::borrow::Cow;

/// The value that replaces every secret header.
pub const REDACTED: &str = "<redacted>";
/// What replaces an account id inside an ARN.
pub const ACCOUNT: &str = "<account>";
/// Digits in an AWS account id.
const ACCOUNT_ID_LEN: usize = 12;

/// Request headers that never leave the process.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "x-amz-security-token",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-api-key",
    "cookie",
    "set-cookie",
    "proxy-authorization",
];

/// Auth schemes whose name is kept (which one the client chose is evidence), never the value.
const KNOWN_SCHEMES: &[&str] = &["AWS4-HMAC-SHA256", "Bearer", "Basic"];

/// Replace secret header values by [`REDACTED`]; also catches bearer tokens and SigV4
/// signatures under any header name. Names come out lower-cased.
pub fn redact_headers(
    headers: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    headers
        .into_iter()
        .map(|(k, v)| {
            let lower = k.to_ascii_lowercase();
            let secret = SECRET_HEADERS.contains(&lower.as_str())
                || v.trim_start().to_ascii_lowercase().starts_with("bearer ")
                || v.contains("AWS4-HMAC-SHA256");
            if !secret {
                let v = account_ids(&v).into_owned();
                return (lower, v);
            }
            let scheme = v.split_whitespace().next().unwrap_or("");
            let known = KNOWN_SCHEMES
                .iter()
                .find(|s| s.eq_ignore_ascii_case(scheme));
            match known {
                Some(s) if lower == "authorization" || lower == "proxy-authorization" => {
                    (lower, format!("{REDACTED} ({s})"))
                }
                _ => (lower, REDACTED.to_string()),
            }
        })
        .collect()
}

/// Replace the account id of every ARN in `text` by [`ACCOUNT`], in plain
/// (`arn:aws:bedrock:us-east-1:123456789012:…`) and percent-encoded (`arn%3Aaws%3A…`) form.
pub fn account_ids(text: &str) -> Cow<'_, str> {
    if !text.contains("arn") && !text.contains("ARN") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some((start, sep)) = next_arn(rest) {
        // Fields after "arn": partition, service, region, then the account.
        let mut at = start + 3;
        let mut fields = Vec::with_capacity(4);
        for _ in 0..4 {
            if !rest[at..].starts_with(sep) {
                break;
            }
            at += sep.len();
            let len = rest[at..].find(sep).unwrap_or(rest.len() - at);
            fields.push((at, len));
            at += len;
        }
        match fields.get(3) {
            Some(&(acct, len))
                if fields.len() == 4
                    && len == ACCOUNT_ID_LEN
                    && rest[acct..acct + len].bytes().all(|b| b.is_ascii_digit()) =>
            {
                out.push_str(&rest[..acct]);
                out.push_str(ACCOUNT);
                rest = &rest[acct + len..];
                changed = true;
            }
            _ => {
                out.push_str(&rest[..start + 3]);
                rest = &rest[start + 3..];
            }
        }
    }
    if !changed {
        return Cow::Borrowed(text);
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Span attribute names whose values are credentials (or stand for one, like a key's hash,
/// which LiteLLM uses to look the key up), matched as substrings of the lower-cased name.
const SECRET_ATTRIBUTES: &[&str] = &[
    "api_key_hash",
    "apikey",
    "authorization",
    "secret",
    "password",
    "cookie",
    "access_key",
    "session_token",
    "x-api-key",
];

/// Redact a span's attributes as they are received: credentials by name, bearer tokens,
/// SigV4 signatures and `sk-` keys by value, and account ids in every string.
pub fn span_attributes(attributes: &mut serde_json::Map<String, serde_json::Value>) {
    for (name, value) in attributes.iter_mut() {
        let serde_json::Value::String(text) = value else {
            continue;
        };
        let lower = name.to_ascii_lowercase();
        // `…api_key` itself (not `…api_key_alias`, `…api_key_user_id`): matched whole.
        let keyed =
            lower.ends_with("api_key") || SECRET_ATTRIBUTES.iter().any(|s| lower.contains(s));
        let t = text.trim_start();
        let looks = t.to_ascii_lowercase().starts_with("bearer ")
            || t.contains("AWS4-HMAC-SHA256")
            || (t.starts_with("sk-") && t.len() > 8);
        if keyed || looks {
            *text = REDACTED.to_string();
        } else if let Cow::Owned(clean) = account_ids(text) {
            *text = clean;
        }
    }
}

/// Remove account ids from everything a capture keeps that can carry an ARN: the request
/// path (the model id travels there) and body, error bodies (AccessDenied names the caller's
/// IAM ARN), and transport error messages. Success bodies are evidence and stay as they are.
pub fn capture(c: &mut Capture) {
    c.request.path = account_ids(&c.request.path).into_owned();
    redact_bytes(&mut c.request.body);
    if let Some(r) = c.response.as_mut()
        && r.status >= 400
        && let ResponseBody::Buffered(b) = &mut r.body
    {
        redact_bytes(b);
    }
    if let Some(e) = c.transport_error.as_mut() {
        e.message = account_ids(&e.message).into_owned();
    }
}

fn redact_bytes(bytes: &mut Bytes) {
    if let Ok(text) = std::str::from_utf8(bytes)
        && let Cow::Owned(clean) = account_ids(text)
    {
        *bytes = Bytes::from(clean);
    }
}

/// The next `arn` followed by its separator (`:` or a percent-encoded `%3A` / `%3a`).
fn next_arn(text: &str) -> Option<(usize, &'static str)> {
    let mut from = 0;
    while let Some(i) = text[from..].find("arn") {
        let at = from + i;
        let after = &text[at + 3..];
        let word_start = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        for sep in [":", "%3A", "%3a"] {
            if word_start && after.starts_with(sep) {
                return Some((at, sep));
            }
        }
        from = at + 3;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_covers_signatures_and_bearer_tokens() {
        let out = redact_headers(vec![
            (
                "Authorization".into(),
                "AWS4-HMAC-SHA256 Credential=AKID/…".into(),
            ),
            ("X-Amz-Security-Token".into(), "FwoGZX".into()),
            ("x-custom".into(), "Bearer abc".into()),
            ("content-type".into(), "application/json".into()),
        ]);
        assert_eq!(out[0].1, "<redacted> (AWS4-HMAC-SHA256)");
        assert!(out[1..3].iter().all(|(_, v)| v == REDACTED));
        assert!(
            out.iter()
                .all(|(_, v)| !v.contains("AKID") && !v.contains("abc"))
        );
        assert_eq!(out[3].1, "application/json");
    }

    #[test]
    fn account_ids_leave_arns_plain_and_encoded_but_models_stay_readable() {
        let arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0";
        assert_eq!(
            account_ids(arn),
            "arn:aws:bedrock:us-east-1:<account>:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"
        );
        let path = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aprovisioned-model%2Fabc/invoke";
        assert_eq!(
            account_ids(path),
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A<account>%3Aprovisioned-model%2Fabc/invoke"
        );
        let foundation = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2";
        assert_eq!(account_ids(foundation), foundation);
        assert!(matches!(
            account_ids("anthropic.claude-3-haiku-20240307-v1:0"),
            Cow::Borrowed(_)
        ));
        let two = format!("{arn} and {arn}");
        assert!(!account_ids(&two).contains("123456789012"));
        let not_an_arn = "warn:a:b:c:123456789012:x";
        assert_eq!(account_ids(not_an_arn), not_an_arn);
    }
}
