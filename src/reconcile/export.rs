//! LiteLLM's spend-log table (`LiteLLM_SpendLogs`) exported as CSV or Parquet, read as the
//! same gateway records as its JSON lines: each row becomes the JSON object the database
//! holds (counts as numbers, `metadata` / `messages` / `response` as JSON), and `row.rs`
//! reads it. A CSV cell is text, so the columns the reader needs typed are converted here;
//! an empty cell is an absent field (PostgreSQL's `COPY … CSV` writes NULL as nothing).
//!
//! Which file is an export is told by its name: `.csv` and `.parquet` (and `.csv.gz`).

use super::row::{self, Malformed, Row, SourceKind};
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::file::reader::ChunkReader;
use serde_json::{Map, Value};
use std::io::Read;

/// Columns read as numbers (counts and spend).
const NUMBER_COLUMNS: [&str; 4] = [
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "spend",
];
/// Columns that hold JSON documents (as text in CSV and in most Parquet exports).
const JSON_COLUMNS: [&str; 5] = [
    "metadata",
    "messages",
    "response",
    "hidden_params",
    "proxy_server_request",
];
/// Rows decoded from Parquet at a time.
const PARQUET_BATCH_ROWS: usize = 4096;

/// The export format of a file, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// Comma-separated with a header row (gzip or plain).
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl Export {
    /// The format a file name says, if it is an export.
    pub fn of(name: &str) -> Option<Export> {
        let name = name.to_ascii_lowercase();
        if name.ends_with(".csv") || name.ends_with(".csv.gz") {
            Some(Export::Csv)
        } else if name.ends_with(".parquet") {
            Some(Export::Parquet)
        } else {
            None
        }
    }
}

/// A record as the database holds it: typed where a reader needs a type.
fn typed(mut record: Map<String, Value>) -> Value {
    record.retain(|_, v| !matches!(v, Value::Null) && v.as_str() != Some(""));
    for (key, value) in record.iter_mut() {
        let Value::String(text) = value else { continue };
        let parsed = if NUMBER_COLUMNS.contains(&key.as_str()) {
            text.trim()
                .parse::<serde_json::Number>()
                .ok()
                .map(Value::Number)
        } else if JSON_COLUMNS.contains(&key.as_str()) {
            serde_json::from_str(text).ok()
        } else {
            None
        };
        // A cell that does not parse stays text: the reader names its field and type.
        if let Some(parsed) = parsed {
            *value = parsed;
        }
    }
    Value::Object(record)
}

fn emit(
    name: &str,
    line: u64,
    record: Map<String, Value>,
    on_row: &mut (dyn FnMut(Row, u64) + Send),
    on_bad: &mut (dyn FnMut(Malformed) + Send),
) {
    match row::gateway_rows(&typed(record)) {
        Ok(rows) => rows.into_iter().for_each(|r| on_row(r, line)),
        Err(reason) => on_bad(bad(name, line, reason)),
    }
}

fn bad(name: &str, line: u64, reason: String) -> Malformed {
    Malformed {
        source: SourceKind::GatewayLogs,
        file: name.to_string(),
        line,
        reason,
    }
}

/// Read a CSV export (already un-gzipped): a header row, then one record per row; `line` is
/// the row's line in the file.
pub fn parse_csv(
    name: &str,
    input: impl Read,
    on_row: &mut (dyn FnMut(Row, u64) + Send),
    on_bad: &mut (dyn FnMut(Malformed) + Send),
) {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
    let header = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return on_bad(bad(name, 1, format!("not a CSV export: {e}"))),
    };
    for result in reader.records() {
        match result {
            Ok(cells) => {
                let line = cells.position().map_or(0, |p| p.line());
                let record = header
                    .iter()
                    .zip(cells.iter())
                    .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                    .collect();
                emit(name, line, record, on_row, on_bad);
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                on_bad(bad(name, line, format!("not CSV: {e}")));
                // A quoting error leaves the reader's place unknown; an unequal row does not.
                if !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. }) {
                    return;
                }
            }
        }
    }
}

/// Read a Parquet export a batch at a time; `line` is the row's number (1-based).
pub fn parse_parquet(
    name: &str,
    input: impl ChunkReader + 'static,
    on_row: &mut (dyn FnMut(Row, u64) + Send),
    on_bad: &mut (dyn FnMut(Malformed) + Send),
) {
    let reader = match ParquetRecordBatchReaderBuilder::try_new(input)
        .and_then(|b| b.with_batch_size(PARQUET_BATCH_ROWS).build())
    {
        Ok(r) => r,
        Err(e) => return on_bad(bad(name, 0, format!("not a Parquet export: {e}"))),
    };
    let mut n = 0u64;
    for batch in reader {
        let records = batch
            .map_err(|e| e.to_string())
            .and_then(|b| json_records(&b));
        match records {
            Ok(records) => {
                for record in records {
                    n += 1;
                    emit(name, n, record, on_row, on_bad);
                }
            }
            Err(e) => {
                return on_bad(bad(
                    name,
                    n + 1,
                    format!("unreadable Parquet: {e}; the rows before this one were read"),
                ));
            }
        }
    }
}

/// A batch's rows as JSON objects (timestamps as RFC 3339 text, which `row.rs` reads).
fn json_records(
    batch: &datafusion::arrow::record_batch::RecordBatch,
) -> Result<Vec<Map<String, Value>>, String> {
    let mut writer = LineDelimitedWriter::new(Vec::new());
    writer.write(batch).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    writer
        .into_inner()
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).map_err(|e| e.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::parquet::arrow::ArrowWriter;
    use std::sync::Arc;

    /// Rows and malformed records of an export.
    type OnRow<'a> = &'a mut (dyn FnMut(Row, u64) + Send);
    type OnBad<'a> = &'a mut (dyn FnMut(Malformed) + Send);

    fn read(f: impl FnOnce(OnRow, OnBad)) -> (Vec<(Row, u64)>, Vec<Malformed>) {
        let (mut rows, mut bad) = (Vec::new(), Vec::new());
        f(&mut |r, line| rows.push((r, line)), &mut |m| bad.push(m));
        (rows, bad)
    }

    const CSV: &str = "request_id,call_type,api_key,spend,total_tokens,prompt_tokens,completion_tokens,startTime,endTime,model,metadata,messages,status\n\
chatcmpl-1,acompletion,sk-secret-key,0.00042,21,19,2,2026-11-29 01:02:03.250,2026-11-29 01:02:04.000,bedrock/anthropic.claude-3-haiku-20240307-v1:0,\"{\"\"usage_object\"\": {\"\"cache_read_input_tokens\"\": 4}}\",,success\n\
chatcmpl-2,acompletion,sk-secret-key,,5,x,1,2026-11-29 01:02:05,,m,{},,success\n";

    #[test]
    fn a_csv_spend_log_row_is_read_as_the_record_the_database_holds() {
        let (rows, bad) =
            read(|on_row, on_bad| parse_csv("spend.csv", CSV.as_bytes(), on_row, on_bad));
        assert_eq!(rows.len(), 1, "{bad:?}");
        let (row, line) = &rows[0];
        assert_eq!(*line, 2);
        assert_eq!(row.record_id.as_deref(), Some("chatcmpl-1"));
        assert_eq!((row.input_total, row.output, row.total), (19, 2, Some(21)));
        assert_eq!(row.cache_read, Some(4));
        assert_eq!(row.cost, Some(0.00042));
        assert_eq!(row.end_ms - row.start_ms, 750);
        assert!(
            row.api_key
                .as_deref()
                .is_some_and(|k| k.starts_with("key:") && !k.contains("secret"))
        );
        assert_eq!(bad.len(), 1);
        assert_eq!((bad[0].file.as_str(), bad[0].line), ("spend.csv", 3));
        assert!(bad[0].reason.contains("prompt_tokens"), "{}", bad[0].reason);
    }

    #[test]
    fn a_broken_csv_row_is_reported_with_its_line() {
        let text = "request_id,prompt_tokens\nr,1,extra\n";
        let (rows, bad) =
            read(|on_row, on_bad| parse_csv("s.csv", text.as_bytes(), on_row, on_bad));
        assert!(rows.is_empty());
        assert_eq!(bad[0].line, 2);
        assert!(bad[0].reason.starts_with("not CSV"), "{}", bad[0].reason);
    }

    #[test]
    fn a_parquet_spend_log_export_is_read_row_by_row() {
        let column = |v: Vec<Option<&str>>| Arc::new(StringArray::from(v)) as ArrayRef;
        let batch = RecordBatch::try_from_iter([
            ("request_id", column(vec![Some("a"), Some("b")])),
            ("model", column(vec![Some("m"), Some("m")])),
            (
                "startTime",
                column(vec![
                    Some("2026-11-29T01:02:03Z"),
                    Some("2026-11-29T01:02:04Z"),
                ]),
            ),
            (
                "prompt_tokens",
                Arc::new(Int64Array::from(vec![Some(10), None])) as ArrayRef,
            ),
            (
                "completion_tokens",
                Arc::new(Int64Array::from(vec![3, 4])) as ArrayRef,
            ),
            (
                "metadata",
                column(vec![Some("{\"user_api_key_alias\": \"team-a\"}"), None]),
            ),
        ])
        .unwrap();
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let (rows, bad) = read(|on_row, on_bad| {
            parse_parquet("s.parquet", bytes::Bytes::from(bytes), on_row, on_bad)
        });
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0.api_key.as_deref(), Some("team-a"));
        assert_eq!((rows[0].0.input_total, rows[0].1), (10, 1));
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 2);
        assert!(bad[0].reason.contains("prompt_tokens"), "{}", bad[0].reason);
    }

    #[test]
    fn exports_are_told_by_their_name() {
        assert_eq!(Export::of("a/b/spend.CSV"), Some(Export::Csv));
        assert_eq!(Export::of("spend.csv.gz"), Some(Export::Csv));
        assert_eq!(Export::of("spend.parquet"), Some(Export::Parquet));
        assert_eq!(Export::of("2026-11-29/x.json"), None);
    }
}
