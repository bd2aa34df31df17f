//! Fixtures: one audited case per JSON file, recorded by `compare --record`, replayed by
//! `replay`.
//!
//! The format is documented in `docs/fixtures.md`. Raw event-stream frames are stored as
//! base64 and are authoritative (replay decodes them, CRCs included); each frame also carries
//! a readable view (headers, payload, decoded chunk) that is checked against the raw bytes on
//! load, so a hand edit of the view cannot silently change nothing. Writes are atomic.

use crate::core::capture::{
    Api, Capture, Operation, RecordedRequest, RecordedResponse, ResponseBody, TransportError,
};
use crate::core::wire::eventstream::decode_frame;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The fixture format version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// A fixture file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// Format version.
    pub schema_version: u32,
    /// The tokaudit version that wrote it.
    pub tokaudit_version: String,
    /// Case name.
    pub name: String,
    /// What this case shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Target (`bedrock`).
    pub target: String,
    /// API family.
    pub api: Api,
    /// Model id.
    pub model: String,
    /// Region.
    pub region: String,
    /// The expected outcome, for corpus tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
    /// The non-streaming exchange.
    pub non_streaming: ExchangeRecord,
    /// The streaming exchange.
    pub streaming: ExchangeRecord,
    /// Upstream ledger entries, for gateway runs with `--ledger`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamRecord>,
}

/// An expected outcome.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `pass`, `mismatch`, `inconclusive` or `error`.
    pub verdict: String,
    /// Invariant ids of the expected violations.
    #[serde(default)]
    pub findings: Vec<String>,
}

/// One path's exchange.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRecord {
    /// The operation.
    pub operation: Operation,
    /// HTTP attempts.
    pub attempts: u32,
    /// The redacted request.
    pub request: RequestRecord,
    /// The response, if one arrived.
    pub response: Option<ResponseRecord>,
    /// A failure outside the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_error: Option<TransportError>,
}

/// A redacted request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RequestRecord {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Headers (secrets already replaced), as an ordered JSON object.
    #[serde(with = "header_map")]
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// The body when it is not JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_text: Option<String>,
}

/// A response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ResponseRecord {
    /// Status.
    pub status: u16,
    /// Headers in wire order, as an ordered JSON object.
    #[serde(with = "header_map")]
    pub headers: Vec<(String, String)>,
    /// A buffered JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// A buffered body that is not valid JSON, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_text: Option<String>,
    /// Event-stream frames in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<Vec<FrameRecord>>,
    /// Server-sent events in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<SseRecord>>,
}

/// One server-sent event: its exact text plus its `data` parsed (view).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SseRecord {
    /// The event's exact text, blank line included (authoritative).
    pub raw: String,
    /// The `data:` payload parsed as JSON (view; absent for `[DONE]` and non-JSON data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// The upstream's ledger entries for the two requests a gateway forwarded (`--ledger`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct UpstreamRecord {
    /// The ledger URL they were read from.
    pub ledger: String,
    /// Entries carrying the non-streaming request's marker.
    pub non_streaming: Vec<Value>,
    /// Entries carrying the streaming request's marker.
    pub streaming: Vec<Value>,
}

/// One event-stream frame: raw bytes plus a readable view.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FrameRecord {
    /// The frame bytes, base64 (authoritative).
    pub raw: String,
    /// Frame headers (view), as an ordered JSON object.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "header_map::option"
    )]
    pub headers: Option<Vec<(String, String)>>,
    /// Payload as JSON (view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// For InvokeModel stream chunks: the base64 `bytes` decoded (view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk: Option<Value>,
    /// Why the raw bytes do not decode (cut or corrupted frames).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undecodable: Option<String>,
}

/// Why a fixture could not be loaded. Messages name the field and what to do.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// I/O.
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    /// Not JSON at all.
    #[error("invalid JSON at line {line} column {column}: {detail}")]
    Json {
        /// Line.
        line: usize,
        /// Column.
        column: usize,
        /// Parser message.
        detail: String,
    },
    /// A schema version this build does not read.
    #[error("schema_version {found} is not supported by tokaudit {} (it reads version {SCHEMA_VERSION}); re-record the fixture with this version", env!("CARGO_PKG_VERSION"))]
    Version {
        /// The version found.
        found: String,
    },
    /// Valid JSON, wrong shape.
    #[error("{0}")]
    Shape(String),
    /// A frame's view disagrees with its raw bytes.
    #[error(
        "{side}: frame {index}: `{field}` disagrees with `raw` (the readable view was edited; edit nothing but re-record instead)"
    )]
    EditedView {
        /// Which exchange.
        side: &'static str,
        /// Frame index.
        index: usize,
        /// Which view field.
        field: &'static str,
    },
}

impl Fixture {
    /// Build a fixture from two captures.
    pub fn from_captures(
        name: &str,
        target: &str,
        api: Api,
        model: &str,
        region: &str,
        non_streaming: &Capture,
        streaming: &Capture,
    ) -> Self {
        Fixture {
            schema_version: SCHEMA_VERSION,
            tokaudit_version: env!("CARGO_PKG_VERSION").to_string(),
            name: name.to_string(),
            description: None,
            target: target.to_string(),
            api,
            model: model.to_string(),
            region: region.to_string(),
            expect: None,
            non_streaming: ExchangeRecord::from_capture(non_streaming),
            streaming: ExchangeRecord::from_capture(streaming),
            upstream: None,
        }
    }

    /// The report metadata of this case.
    pub fn meta(&self) -> crate::report::CaseMeta {
        crate::report::CaseMeta {
            name: self.name.clone(),
            target: self.target.clone(),
            api: self.api,
            model: self.model.clone(),
            region: self.region.clone(),
        }
    }

    /// Parse a fixture from JSON text, checking the version first and every frame view.
    pub fn parse(text: &str) -> Result<Self, FixtureError> {
        let value: Value = serde_json::from_str(text).map_err(|e| FixtureError::Json {
            line: e.line(),
            column: e.column(),
            detail: e.to_string(),
        })?;
        match value.get("schema_version") {
            Some(Value::Number(n)) if n.as_u64() == Some(u64::from(SCHEMA_VERSION)) => {}
            Some(other) => {
                return Err(FixtureError::Version {
                    found: other.to_string(),
                });
            }
            None => {
                return Err(FixtureError::Shape(
                    "missing `schema_version`; this is not a tokaudit fixture".into(),
                ));
            }
        }
        let fixture: Fixture = serde_json::from_value(value)
            .map_err(|e| FixtureError::Shape(format!("not a valid fixture: {e}")))?;
        fixture.non_streaming.check_views("non_streaming")?;
        fixture.streaming.check_views("streaming")?;
        Ok(fixture)
    }

    /// Load a fixture file.
    pub fn load(path: &Path) -> Result<Self, FixtureError> {
        Self::parse(&std::fs::read_to_string(path)?)
    }

    /// Serialize with stable key order and a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("fixtures always serialize");
        s.push('\n');
        s
    }

    /// Write atomically (temporary file in the same folder, then rename).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        write_atomic(path, self.to_json().as_bytes())
    }

    /// The two captures.
    pub fn captures(&self) -> Result<(Capture, Capture), FixtureError> {
        Ok((
            self.non_streaming.to_capture("non_streaming")?,
            self.streaming.to_capture("streaming")?,
        ))
    }
}

/// Write a file atomically: a temporary sibling, flushed, then renamed over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn body_view(bytes: &[u8]) -> (Option<Value>, Option<String>) {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) if !bytes.is_empty() => (Some(v), None),
        _ if bytes.is_empty() => (None, None),
        _ => (None, Some(String::from_utf8_lossy(bytes).into_owned())),
    }
}

fn sse_view(raw: &Bytes) -> SseRecord {
    let text = String::from_utf8_lossy(raw).into_owned();
    let data = crate::core::wire::sse::parse_sse(raw)
        .ok()
        .and_then(|e| serde_json::from_str(&e.data).ok());
    SseRecord { raw: text, data }
}

fn frame_view(raw: &Bytes) -> FrameRecord {
    let mut rec = FrameRecord {
        raw: B64.encode(raw),
        headers: None,
        payload: None,
        chunk: None,
        undecodable: None,
    };
    match decode_frame(raw) {
        Ok(f) => {
            rec.payload = serde_json::from_slice::<Value>(&f.payload).ok();
            rec.chunk = rec
                .payload
                .as_ref()
                .and_then(|p| p.get("bytes"))
                .and_then(Value::as_str)
                .and_then(|b| B64.decode(b).ok())
                .and_then(|b| serde_json::from_slice(&b).ok());
            rec.headers = Some(f.headers);
        }
        Err(e) => rec.undecodable = Some(e.to_string()),
    }
    rec
}

impl ExchangeRecord {
    /// Build the record of a capture.
    pub fn from_capture(c: &Capture) -> Self {
        let (body, body_text) = body_view(&c.request.body);
        ExchangeRecord {
            operation: c.operation,
            attempts: c.attempts,
            request: RequestRecord {
                method: c.request.method.clone(),
                path: c.request.path.clone(),
                headers: c.request.headers.clone(),
                body,
                body_text,
            },
            response: c.response.as_ref().map(|r| {
                let (mut body, mut body_text, mut frames, mut events) = (None, None, None, None);
                match &r.body {
                    ResponseBody::Buffered(b) => (body, body_text) = body_view(b),
                    ResponseBody::Frames(f) => frames = Some(f.iter().map(frame_view).collect()),
                    ResponseBody::Sse(e) => events = Some(e.iter().map(sse_view).collect()),
                }
                ResponseRecord {
                    status: r.status,
                    headers: r.headers.clone(),
                    body,
                    body_text,
                    frames,
                    events,
                }
            }),
            transport_error: c.transport_error.clone(),
        }
    }

    fn check_views(&self, side: &'static str) -> Result<(), FixtureError> {
        for (index, rec) in self
            .response
            .as_ref()
            .and_then(|r| r.events.as_ref())
            .into_iter()
            .flatten()
            .enumerate()
        {
            if rec.data.is_some() && sse_view(&Bytes::from(rec.raw.clone())).data != rec.data {
                return Err(FixtureError::EditedView {
                    side,
                    index,
                    field: "data",
                });
            }
        }
        let Some(frames) = self.response.as_ref().and_then(|r| r.frames.as_ref()) else {
            return Ok(());
        };
        for (index, rec) in frames.iter().enumerate() {
            let raw = Bytes::from(B64.decode(&rec.raw).map_err(|e| {
                FixtureError::Shape(format!(
                    "{side}: frame {index}: `raw` is not valid base64 ({e})"
                ))
            })?);
            if rec.undecodable.is_some() {
                continue;
            }
            let fresh = frame_view(&raw);
            if fresh.undecodable.is_some() {
                // Decoding fails: the normalizer reports exactly why (CRC, truncation).
                continue;
            }
            // Views are optional (a hand-written frame may carry only `raw`), but a view that is
            // present must say what the bytes say.
            for (field, same) in [
                (
                    "headers",
                    rec.headers.is_none() || fresh.headers == rec.headers,
                ),
                (
                    "payload",
                    rec.payload.is_none() || fresh.payload == rec.payload,
                ),
                ("chunk", rec.chunk.is_none() || fresh.chunk == rec.chunk),
            ] {
                if !same {
                    return Err(FixtureError::EditedView { side, index, field });
                }
            }
        }
        Ok(())
    }

    fn to_capture(&self, side: &str) -> Result<Capture, FixtureError> {
        let body_bytes = |json: &Option<Value>, text: &Option<String>| -> Bytes {
            match (json, text) {
                (Some(v), _) => Bytes::from(serde_json::to_vec(v).expect("values serialize")),
                (None, Some(t)) => Bytes::from(t.clone().into_bytes()),
                (None, None) => Bytes::new(),
            }
        };
        let response = match &self.response {
            None => None,
            Some(r) => {
                let body = match (&r.frames, &r.body, &r.body_text) {
                    (None, None, None) if r.events.is_some() => ResponseBody::Sse(
                        r.events
                            .iter()
                            .flatten()
                            .map(|e| Bytes::from(e.raw.clone().into_bytes()))
                            .collect(),
                    ),
                    (Some(frames), None, None) => {
                        let mut out = Vec::with_capacity(frames.len());
                        for (i, f) in frames.iter().enumerate() {
                            out.push(Bytes::from(B64.decode(&f.raw).map_err(|e| {
                                FixtureError::Shape(format!(
                                    "{side}: frame {i}: `raw` is not valid base64 ({e})"
                                ))
                            })?));
                        }
                        ResponseBody::Frames(out)
                    }
                    (None, body, text) => ResponseBody::Buffered(body_bytes(body, text)),
                    _ => {
                        return Err(FixtureError::Shape(format!(
                            "{side}.response: has both `frames` and a body; keep exactly one"
                        )));
                    }
                };
                Some(RecordedResponse {
                    status: r.status,
                    headers: r.headers.clone(),
                    body,
                })
            }
        };
        Ok(Capture {
            operation: self.operation,
            attempts: self.attempts,
            request: RecordedRequest {
                method: self.request.method.clone(),
                path: self.request.path.clone(),
                headers: self.request.headers.clone(),
                body: body_bytes(&self.request.body, &self.request.body_text),
            },
            response,
            transport_error: self.transport_error.clone(),
        })
    }
}

/// Headers as an ordered JSON object (`{"content-type": "…"}`); a repeated name is kept as
/// repeated entries on load only if the file lists it twice, which JSON objects cannot, so
/// recording joins repeats with ", " as HTTP allows.
mod header_map {
    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeMap};

    pub fn serialize<S: Serializer>(h: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
        let mut joined: Vec<(String, String)> = Vec::with_capacity(h.len());
        for (k, v) in h {
            match joined.iter_mut().find(|(jk, _)| jk == k) {
                Some((_, jv)) => {
                    jv.push_str(", ");
                    jv.push_str(v);
                }
                None => joined.push((k.clone(), v.clone())),
            }
        }
        let mut m = s.serialize_map(Some(joined.len()))?;
        for (k, v) in &joined {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        map.into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => Ok((k, s)),
                other => Err(serde::de::Error::custom(format!(
                    "header {k:?}: {other} is not a string"
                ))),
            })
            .collect()
    }

    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            h: &Option<Vec<(String, String)>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match h {
                Some(h) => super::serialize(h, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<Vec<(String, String)>>, D::Error> {
            #[derive(Deserialize)]
            struct Wrap(#[serde(with = "super")] Vec<(String, String)>);
            Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
        }
    }
}

/// Expand files and folders into the fixture files to replay, sorted, folders recursively
/// (`*.json` only inside folders; a file named explicitly is always taken).
pub fn discover(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{}: no such file or folder", p.display()),
            ));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "json")
            && !p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            out.push(p);
        }
    }
    Ok(())
}
