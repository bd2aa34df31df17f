//! One strict reader for every token count, wherever it comes from: the wire (JSON bodies,
//! event payloads, headers), the upstream ledger, recordings, baselines and suites. A count is
//! a non-negative integer no larger than [`MAX_COUNT`]; anything else is an error that names
//! where it was read, never a silent skip and never a wrapped sum.
//!
//! The bound is what makes the arithmetic safe: no real request comes near 2^53 tokens (the
//! largest context windows are about 2^21), so a sum of a few counts cannot overflow, and a
//! value beyond the bound is corruption or an attack on the auditor, not usage. Sums over an
//! unbounded number of counts (stream counters) still go through [`sum`], which is checked.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The largest count tokaudit accepts: 2^53, also the largest integer a JSON double carries
/// exactly, so a count that survives JavaScript tooling is still the same count here.
pub const MAX_COUNT: u64 = 1 << 53;

/// A count that is not a count: where it was read, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{at}: {problem}")]
pub struct CountError {
    /// Where: a field path, a header name, a frame and field.
    pub at: String,
    /// What is wrong.
    pub problem: String,
}

fn error(at: &str, problem: String) -> CountError {
    CountError {
        at: at.to_string(),
        problem,
    }
}

/// A count already read as an integer: within range, or an error.
pub fn in_range(value: u64, at: &str) -> Result<u64, CountError> {
    if value > MAX_COUNT {
        return Err(error(
            at,
            format!("{value} is beyond any real usage (the limit is 2^53 = {MAX_COUNT})"),
        ));
    }
    Ok(value)
}

/// A count in a JSON value: an integer, non-negative, in range.
pub fn from_json(value: &Value, at: &str) -> Result<u64, CountError> {
    match value {
        Value::Number(n) => {
            if let Some(v) = n.as_u64() {
                in_range(v, at)
            } else if n.as_i64().is_some() {
                Err(error(
                    at,
                    format!("negative count {n}; token counts are never negative"),
                ))
            } else if n.as_f64().is_some_and(|f| f.fract() == 0.0 && f >= 0.0) {
                Err(error(
                    at,
                    format!("{n} is beyond any real usage (the limit is 2^53 = {MAX_COUNT})"),
                ))
            } else {
                Err(error(at, format!("{n} is not an integer token count")))
            }
        }
        other => Err(error(at, format!("{other} is not an integer token count"))),
    }
}

/// An optional count in a JSON object: absent or `null` is `None`.
pub fn field(obj: &Value, key: &str, at: &str) -> Result<Option<u64>, CountError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => from_json(v, &format!("{at}.{key}")).map(Some),
    }
}

/// A count written as text (an HTTP header, a CSV cell): digits only, in range.
pub fn from_text(text: &str, at: &str) -> Result<u64, CountError> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error(
            at,
            format!("{text:?} is not a non-negative integer token count"),
        ));
    }
    match t.parse::<u64>() {
        Ok(v) => in_range(v, at),
        Err(_) => Err(error(
            at,
            format!("{t} is beyond any real usage (the limit is 2^53 = {MAX_COUNT})"),
        )),
    }
}

/// The most a single call could ever cost, in USD: a reported cost above it is corruption.
pub const MAX_COST_USD: f64 = 1_000_000.0;

/// A cost in USD (a gateway's `usage.cost`, a cost header): finite, non-negative, within
/// [`MAX_COST_USD`].
pub fn cost(value: &Value, at: &str) -> Result<f64, CountError> {
    let usd = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .ok_or_else(|| error(at, format!("{value} is not a cost in USD")))?;
    if !usd.is_finite() || !(0.0..=MAX_COST_USD).contains(&usd) {
        return Err(error(
            at,
            format!("{usd} is not a cost of one call (0 to {MAX_COST_USD} USD)"),
        ));
    }
    Ok(usd)
}

/// The sum of counts, or `None` if it does not fit (only possible with unboundedly many terms).
pub fn sum(values: impl IntoIterator<Item = u64>) -> Option<u64> {
    values.into_iter().try_fold(0u64, u64::checked_add)
}

/// `deserialize_with` for a required count field in a recorded or fetched document.
pub fn strict<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = Value::deserialize(d)?;
    from_json(&v, "count").map_err(|e| serde::de::Error::custom(e.problem))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_are_integers_non_negative_and_in_range() {
        assert_eq!(from_json(&json!(12), "a"), Ok(12));
        assert_eq!(from_json(&json!(MAX_COUNT), "a"), Ok(MAX_COUNT));
        for (bad, needle) in [
            (json!(-5), "negative count -5"),
            (json!(2.5), "2.5 is not an integer"),
            (json!("999"), "\"999\" is not an integer"),
            (json!(MAX_COUNT + 1), "beyond any real usage"),
            (json!(u64::MAX), "beyond any real usage"),
            (json!(18446744073709551616.0_f64), "beyond any real usage"),
            (json!(null), "null is not an integer"),
        ] {
            let e = from_json(&bad, "usage.input_tokens").unwrap_err();
            assert_eq!(e.at, "usage.input_tokens");
            assert!(e.to_string().contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn text_counts_refuse_signs_spaces_inside_and_overflow() {
        assert_eq!(from_text(" 10 ", "h"), Ok(10));
        for bad in [
            "-1",
            "+1",
            "1 0",
            "ten",
            "",
            "18446744073709551616",
            "9007199254740993",
        ] {
            assert!(from_text(bad, "h").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sums_are_checked() {
        assert_eq!(sum([1, 2, 3]), Some(6));
        assert_eq!(sum([u64::MAX, 1]), None);
        assert_eq!(sum(std::iter::empty()), Some(0));
    }
}
