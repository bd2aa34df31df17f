//! Where records live: local folders and files, and `s3://bucket/prefix`, both through
//! `object_store` (the S3 store itself is built in [`crate::provider::s3`]).
//!
//! Files are read as they come: gzip is recognized by its magic bytes (Bedrock delivers
//! `.json.gz`), every line is one record. A local file is streamed; an S3 object is fetched
//! whole (Bedrock batches and LiteLLM objects are small) and read from memory.

use super::export::{self, Export};
use super::recordings;
use super::row::{self, Malformed, Row, SourceKind};
use crate::core::redact;
use crate::provider::s3::{self, S3Settings};
use futures_util::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{GetResultPayload, ObjectStore, ObjectStoreExt};
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

/// Bytes read ahead of the JSON parser.
const READ_BUFFER: usize = 256 * 1024;
/// The gzip magic bytes (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Why a source cannot be listed or read at all (a malformed record is not one of these).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A path or URL that names nothing usable.
    #[error("{0}")]
    Location(String),
    /// The store refused or failed.
    #[error("{at}: {source}")]
    Store {
        /// The source as the user named it.
        at: String,
        /// The store's error.
        source: object_store::Error,
    },
}

/// One source as the user named it: a store and a prefix or file in it.
#[derive(Debug, Clone)]
pub struct Location {
    /// What the user typed.
    pub display: String,
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
    /// `s3://bucket` for S3, empty for local files (DataFusion registers stores by URL).
    pub url: String,
}

/// One file of a source.
#[derive(Debug, Clone)]
pub struct File {
    /// The location it was listed under.
    pub location: Location,
    /// Its path in the store.
    pub path: StorePath,
    /// Its size.
    pub size: u64,
}

impl File {
    /// Its name in reports: the URL or local path, account ids redacted.
    pub fn name(&self) -> String {
        let full = if self.location.url.is_empty() {
            format!("/{}", self.path)
        } else {
            format!("{}/{}", self.location.url, self.path)
        };
        redact_account_folder(&full)
    }
}

/// `AWSLogs/123456789012/…` → `AWSLogs/<account>/…`: Bedrock's layout names the account.
fn redact_account_folder(path: &str) -> String {
    let redacted = redact::account_ids(path).into_owned();
    match redacted.split_once("AWSLogs/") {
        Some((head, tail)) => match tail.split_once('/') {
            Some((account, rest)) if account.chars().all(|c| c.is_ascii_digit()) => {
                format!("{head}AWSLogs/<account>/{rest}")
            }
            _ => redacted,
        },
        None => redacted,
    }
}

/// Resolve what the user typed into a store and a prefix.
pub async fn locate(arg: &str, s3: &S3Settings) -> Result<Location, SourceError> {
    if let Some(rest) = arg.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(SourceError::Location(format!(
                "{arg}: no bucket: write s3://BUCKET/PREFIX"
            )));
        }
        let store = s3::store(bucket, s3)
            .await
            .map_err(|source| SourceError::Store {
                at: arg.to_string(),
                source,
            })?;
        return Ok(Location {
            display: arg.to_string(),
            store,
            prefix: StorePath::from(prefix.trim_end_matches('/')),
            url: format!("s3://{bucket}"),
        });
    }
    let path = std::fs::canonicalize(arg).map_err(|e| {
        SourceError::Location(format!(
            "{arg}: {e} (give a folder, a file or s3://BUCKET/PREFIX)"
        ))
    })?;
    let prefix = StorePath::from_absolute_path(&path)
        .map_err(|e| SourceError::Location(format!("{arg}: {e}")))?;
    Ok(Location {
        display: arg.to_string(),
        store: Arc::new(LocalFileSystem::new()),
        prefix,
        url: String::new(),
    })
}

/// Every file under a location (or the file it names), in path order.
pub async fn list(location: &Location) -> Result<Vec<File>, SourceError> {
    let err = |source| SourceError::Store {
        at: location.display.clone(),
        source,
    };
    if location.url.is_empty() && std::path::Path::new(&format!("/{}", location.prefix)).is_file() {
        let meta = location.store.head(&location.prefix).await.map_err(err)?;
        return Ok(vec![File {
            location: location.clone(),
            path: meta.location,
            size: meta.size,
        }]);
    }
    let mut files = Vec::new();
    let mut listing = location.store.list(Some(&location.prefix));
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(err)?;
        files.push(File {
            location: location.clone(),
            path: meta.location,
            size: meta.size,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Read every record of a file: rows to `on_row`, unreadable records to `on_bad`. A file
/// that cannot be fetched at all is one [`Malformed`] at line 0.
pub async fn read(
    file: &File,
    kind: SourceKind,
    on_row: &mut (dyn FnMut(Row, u64) + Send),
    on_bad: &mut (dyn FnMut(Malformed) + Send),
) -> Result<(), SourceError> {
    let name = file.name();
    let got = file
        .location
        .store
        .get(&file.path)
        .await
        .map_err(|source| SourceError::Store {
            at: name.clone(),
            source,
        })?;
    if kind == SourceKind::Recordings {
        return read_recording(got, &name, on_row, on_bad).await;
    }
    let export = match kind {
        SourceKind::GatewayLogs => Export::of(file.path.as_ref()),
        _ => None,
    };
    match got.payload {
        GetResultPayload::File(f, _) => tokio::task::block_in_place(|| match export {
            Some(Export::Parquet) => export::parse_parquet(&name, f, on_row, on_bad),
            _ => parse(kind, export, &name, f, on_row, on_bad),
        }),
        GetResultPayload::Stream(_) => {
            let bytes = got.bytes().await.map_err(|source| SourceError::Store {
                at: name.clone(),
                source,
            })?;
            tokio::task::block_in_place(|| match export {
                Some(Export::Parquet) => export::parse_parquet(&name, bytes, on_row, on_bad),
                _ => parse(kind, export, &name, &bytes[..], on_row, on_bad),
            });
        }
    }
    Ok(())
}

/// A recording is one JSON document, not lines: a local one is read in one pass (a long
/// stream's frames normalized as they come), an S3 one from memory. An unreadable file or
/// side is a [`Malformed`] at line 0 naming the side.
async fn read_recording(
    got: object_store::GetResult,
    name: &str,
    on_row: &mut (dyn FnMut(Row, u64) + Send),
    on_bad: &mut (dyn FnMut(Malformed) + Send),
) -> Result<(), SourceError> {
    let rows = match got.payload {
        GetResultPayload::File(_, path) => {
            tokio::task::block_in_place(|| recordings::rows_of_file(&path))
        }
        GetResultPayload::Stream(_) => {
            let bytes = got.bytes().await.map_err(|source| SourceError::Store {
                at: name.to_string(),
                source,
            })?;
            tokio::task::block_in_place(|| recordings::rows_of_bytes(&bytes))
        }
    };
    let bad = |reason: String| Malformed {
        source: SourceKind::Recordings,
        file: name.to_string(),
        line: 0,
        reason,
    };
    match rows {
        Ok(rows) => rows.into_iter().for_each(|r| match r {
            Ok(row) => on_row(row, 0),
            Err(reason) => on_bad(bad(reason)),
        }),
        Err(reason) => on_bad(bad(reason)),
    }
    Ok(())
}

/// Read records line by line from `input` (gzip or plain), or as a CSV export.
pub fn parse(
    kind: SourceKind,
    export: Option<Export>,
    name: &str,
    input: impl Read,
    on_row: &mut (dyn FnMut(Row, u64) + Send),
    on_bad: &mut (dyn FnMut(Malformed) + Send),
) {
    let bad = |line: u64, reason: String| Malformed {
        source: kind,
        file: name.to_string(),
        line,
        reason,
    };
    let mut raw = BufReader::with_capacity(READ_BUFFER, input);
    let gzip = raw
        .fill_buf()
        .map(|b| b.starts_with(&GZIP_MAGIC))
        .unwrap_or(false);
    let mut reader: Box<dyn BufRead> = if gzip {
        Box::new(BufReader::with_capacity(
            READ_BUFFER,
            flate2::read::MultiGzDecoder::new(raw),
        ))
    } else {
        Box::new(raw)
    };
    if export == Some(Export::Csv) {
        return export::parse_csv(name, reader, on_row, on_bad);
    }
    let mut line = Vec::new();
    let mut n = 0u64;
    loop {
        line.clear();
        n += 1;
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                let what = if gzip {
                    "truncated or corrupt gzip"
                } else {
                    "unreadable"
                };
                on_bad(bad(
                    n,
                    format!("{what}: {e}; the records before this line were read"),
                ));
                return;
            }
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        match row::rows_of(kind, text) {
            Ok(rows) => rows.into_iter().for_each(|r| on_row(r, n)),
            Err(reason) => on_bad(bad(n, reason)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(bytes: &[u8]) -> (Vec<Row>, Vec<Malformed>) {
        let (mut rows, mut bad) = (Vec::new(), Vec::new());
        parse(
            SourceKind::InvocationLogs,
            None,
            "f.json.gz",
            bytes,
            &mut |r, _| rows.push(r),
            &mut |m| bad.push(m),
        );
        (rows, bad)
    }

    const GOOD: &str = r#"{"timestamp":"2026-11-29T01:02:03Z","requestId":"r","operation":"Converse","modelId":"m","input":{"inputTokenCount":1},"output":{"outputTokenCount":2}}"#;

    #[test]
    fn bad_lines_are_counted_with_their_line_and_the_rest_is_read() {
        let text = format!("{GOOD}\nnot json\n\n{{\"requestId\":\"r\"}}\n[1]\n{GOOD}\n");
        let (rows, bad) = read_all(text.as_bytes());
        assert_eq!(rows.len(), 2);
        let lines: Vec<u64> = bad.iter().map(|m| m.line).collect();
        assert_eq!(lines, [2, 4, 5]);
        assert!(bad[0].reason.starts_with("not JSON"), "{:?}", bad[0]);
        assert_eq!(bad[1].reason, "missing field input.inputTokenCount");
    }

    #[test]
    fn a_truncated_gzip_keeps_what_was_read_and_says_where_it_stopped() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for _ in 0..200 {
            writeln!(gz, "{GOOD}").unwrap();
        }
        let full = gz.finish().unwrap();
        let (rows, bad) = read_all(&full);
        assert_eq!((rows.len(), bad.len()), (200, 0));
        let (rows, bad) = read_all(&full[..full.len() - 12]);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(
            bad[0].reason.starts_with("truncated or corrupt gzip"),
            "{:?}",
            bad[0]
        );
        assert_eq!(bad[0].line, rows.len() as u64 + 1);
    }

    #[test]
    fn the_account_folder_of_bedrocks_layout_is_not_shown() {
        assert_eq!(
            redact_account_folder("s3://b/AWSLogs/123456789012/BedrockModelInvocationLogs/x.gz"),
            "s3://b/AWSLogs/<account>/BedrockModelInvocationLogs/x.gz"
        );
    }
}
