//! Rows become Parquet in a work folder before any query runs: each source is read once
//! (malformed records counted once), in parallel, in constant memory (a batch at a time), and
//! the tables DataFusion or Ballista query are plain Parquet files every executor can read.
//! The folder is removed when the reconciliation ends, signal or not.

use super::row::{Malformed, Row, SourceKind};
use super::source::{self, File, SourceError};
use crate::core::prices::Prices;
use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
    UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Rows per Arrow batch and Parquet row group step.
pub const BATCH_ROWS: usize = 64 * 1024;
/// Rows per Parquet row group: the writer holds one row group in memory per file being
/// written, so this bounds staging's memory (two batches).
pub const ROW_GROUP_ROWS: usize = 2 * BATCH_ROWS;
/// Malformed records listed one by one; past this they are only counted.
pub const MAX_MALFORMED_LISTED: usize = 1_000;
/// Bits of a row id given to the line within a writer (the rest number the writer).
const RID_SHIFT: u32 = 40;

/// Why staging failed (not a malformed record: those are counted).
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// A source could not be listed or fetched.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The work folder could not be written.
    #[error("work folder {0}: {1}")]
    Write(String, String),
}

/// The schema every source's table has (`docs/reconcile.md` documents each column).
pub fn schema() -> SchemaRef {
    use DataType::*;
    let f = |name: &str, t: DataType, null: bool| Field::new(name, t, null);
    Arc::new(Schema::new(vec![
        f("rid", UInt64, false),
        f("request_id", Utf8, true),
        f("record_id", Utf8, true),
        f("model", Utf8, false),
        f("model_key", Utf8, false),
        f("price_key", Utf8, true),
        f("operation", Utf8, true),
        f("stream", Boolean, true),
        f("start_ms", Int64, false),
        f("end_ms", Int64, false),
        f("day", Utf8, false),
        f("api_key", Utf8, true),
        f("prompt_hash", Utf8, true),
        f("input_total", Int64, false),
        f("cache_read", Int64, true),
        f("cache_write", Int64, true),
        f("output", Int64, false),
        f("total", Int64, true),
        f("cost", Float64, true),
        f("file", Utf8, false),
        f("line", UInt64, false),
    ]))
}

/// What staging one source found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Staged {
    /// Files read.
    pub files: u64,
    /// Bytes read (compressed, as stored).
    pub bytes: u64,
    /// Rows written.
    pub rows: u64,
    /// Records that could not be read.
    pub malformed: u64,
}

/// Malformed records of a run: all counted, the first [`MAX_MALFORMED_LISTED`] kept.
#[derive(Debug, Default)]
pub struct MalformedLog {
    /// Those kept, in the order they were found.
    pub listed: Vec<Malformed>,
    /// All, per source.
    pub counts: HashMap<SourceKind, u64>,
}

impl MalformedLog {
    fn push(&mut self, m: Malformed) {
        *self.counts.entry(m.source).or_default() += 1;
        if self.listed.len() < MAX_MALFORMED_LISTED {
            self.listed.push(m);
        }
    }
}

/// Write one source's files as Parquet under `dir/<table>/`, `workers` files at a time.
pub async fn stage(
    kind: SourceKind,
    files: Vec<File>,
    dir: &Path,
    workers: usize,
    prices: &Arc<Prices>,
    malformed: &Arc<Mutex<MalformedLog>>,
) -> Result<Staged, StageError> {
    let table_dir = dir.join(kind.table());
    std::fs::create_dir_all(&table_dir)
        .map_err(|e| StageError::Write(table_dir.display().to_string(), e.to_string()))?;
    let workers = workers.clamp(1, files.len().max(1));
    let mut shares: Vec<Vec<File>> = vec![Vec::new(); workers];
    for (i, f) in files.into_iter().enumerate() {
        shares[i % workers].push(f);
    }
    let mut tasks = Vec::new();
    for (k, share) in shares.into_iter().enumerate() {
        let path = table_dir.join(format!("part-{k:04}.parquet"));
        let mut writer = TableWriter::create(&path, (k as u64) << RID_SHIFT, prices.clone())?;
        let malformed = malformed.clone();
        tasks.push(tokio::spawn(async move {
            let mut staged = Staged::default();
            for file in share {
                staged.files += 1;
                staged.bytes += file.size;
                read_one(&file, kind, &mut writer, &malformed).await?;
            }
            staged.rows = writer.finish()?;
            Ok::<_, StageError>(staged)
        }));
    }
    let mut total = Staged::default();
    for task in tasks {
        let s = task
            .await
            .map_err(|e| StageError::Write(table_dir.display().to_string(), e.to_string()))??;
        total.files += s.files;
        total.bytes += s.bytes;
        total.rows += s.rows;
    }
    total.malformed = lock(malformed).counts.get(&kind).copied().unwrap_or(0);
    Ok(total)
}

fn lock(m: &Mutex<MalformedLog>) -> std::sync::MutexGuard<'_, MalformedLog> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn read_one(
    file: &File,
    kind: SourceKind,
    writer: &mut TableWriter,
    malformed: &Mutex<MalformedLog>,
) -> Result<(), StageError> {
    let name: Arc<str> = file.name().into();
    let mut failed = None;
    let result = source::read(
        file,
        kind,
        &mut |row, line| {
            if failed.is_none()
                && let Err(e) = writer.push(row, &name, line)
            {
                failed = Some(e);
            }
        },
        &mut |m| lock(malformed).push(m),
    )
    .await;
    if let Some(e) = failed {
        return Err(e);
    }
    match result {
        // A file that is listed but cannot be fetched is a malformed source, not a stop.
        Err(SourceError::Store { at, source }) => {
            lock(malformed).push(Malformed {
                source: kind,
                file: at,
                line: 0,
                reason: format!("cannot be read: {source}"),
            });
            Ok(())
        }
        other => Ok(other?),
    }
}

/// One Parquet file being written, a batch of columns at a time.
struct TableWriter {
    path: PathBuf,
    writer: Option<ArrowWriter<std::fs::File>>,
    columns: Columns,
    next_rid: u64,
    rows: u64,
    prices: Arc<Prices>,
    price_keys: HashMap<String, Option<String>>,
}

#[derive(Default)]
struct Columns {
    rid: UInt64Builder,
    request_id: StringBuilder,
    record_id: StringBuilder,
    model: StringBuilder,
    model_key: StringBuilder,
    price_key: StringBuilder,
    operation: StringBuilder,
    stream: BooleanBuilder,
    start_ms: Int64Builder,
    end_ms: Int64Builder,
    day: StringBuilder,
    api_key: StringBuilder,
    prompt_hash: StringBuilder,
    input_total: Int64Builder,
    cache_read: Int64Builder,
    cache_write: Int64Builder,
    output: Int64Builder,
    total: Int64Builder,
    cost: Float64Builder,
    file: StringBuilder,
    line: UInt64Builder,
}

impl Columns {
    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.rid.finish()),
            Arc::new(self.request_id.finish()),
            Arc::new(self.record_id.finish()),
            Arc::new(self.model.finish()),
            Arc::new(self.model_key.finish()),
            Arc::new(self.price_key.finish()),
            Arc::new(self.operation.finish()),
            Arc::new(self.stream.finish()),
            Arc::new(self.start_ms.finish()),
            Arc::new(self.end_ms.finish()),
            Arc::new(self.day.finish()),
            Arc::new(self.api_key.finish()),
            Arc::new(self.prompt_hash.finish()),
            Arc::new(self.input_total.finish()),
            Arc::new(self.cache_read.finish()),
            Arc::new(self.cache_write.finish()),
            Arc::new(self.output.finish()),
            Arc::new(self.total.finish()),
            Arc::new(self.cost.finish()),
            Arc::new(self.file.finish()),
            Arc::new(self.line.finish()),
        ]
    }
}

impl TableWriter {
    fn create(path: &Path, first_rid: u64, prices: Arc<Prices>) -> Result<Self, StageError> {
        let err = |e: &dyn std::fmt::Display| {
            StageError::Write(path.display().to_string(), e.to_string())
        };
        let file = std::fs::File::create(path).map_err(|e| err(&e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::LZ4_RAW)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let writer = ArrowWriter::try_new(file, schema(), Some(props)).map_err(|e| err(&e))?;
        Ok(TableWriter {
            path: path.to_path_buf(),
            writer: Some(writer),
            columns: Columns::default(),
            next_rid: first_rid,
            rows: 0,
            prices,
            price_keys: HashMap::new(),
        })
    }

    fn push(&mut self, row: Row, file: &str, line: u64) -> Result<(), StageError> {
        let price_key = match self.price_keys.get(&row.model) {
            Some(k) => k.clone(),
            None => {
                // LiteLLM logs routes (`invoke/anthropic.…`): the key without them is tried too.
                let k = [&row.model, &row.model_key]
                    .into_iter()
                    .find_map(|m| self.prices.lookup(m))
                    .map(|(k, _)| k.to_string());
                self.price_keys.insert(row.model.clone(), k.clone());
                k
            }
        };
        let c = &mut self.columns;
        c.rid.append_value(self.next_rid);
        self.next_rid += 1;
        c.request_id.append_option(row.request_id);
        c.record_id.append_option(row.record_id);
        c.model.append_value(&row.model);
        c.model_key.append_value(&row.model_key);
        c.price_key.append_option(price_key);
        c.operation.append_option(row.operation);
        c.stream.append_option(row.stream);
        c.start_ms.append_value(row.start_ms);
        c.end_ms.append_value(row.end_ms);
        c.day.append_value(day_of(row.start_ms));
        c.api_key.append_option(row.api_key);
        c.prompt_hash.append_option(row.prompt_hash);
        c.input_total.append_value(row.input_total as i64);
        c.cache_read.append_option(row.cache_read.map(|n| n as i64));
        c.cache_write
            .append_option(row.cache_write.map(|n| n as i64));
        c.output.append_value(row.output as i64);
        c.total.append_option(row.total.map(|n| n as i64));
        c.cost.append_option(row.cost);
        c.file.append_value(file);
        c.line.append_value(line);
        self.rows += 1;
        if self.columns.rid.len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StageError> {
        let err = |e: &dyn std::fmt::Display| {
            StageError::Write(self.path.display().to_string(), e.to_string())
        };
        let batch = RecordBatch::try_new(schema(), self.columns.finish()).map_err(|e| err(&e))?;
        if let Some(w) = self.writer.as_mut() {
            w.write(&batch).map_err(|e| err(&e))?;
        }
        Ok(())
    }

    /// Write what is left and close the file; the rows written.
    fn finish(mut self) -> Result<u64, StageError> {
        self.flush()?;
        if let Some(w) = self.writer.take() {
            w.close()
                .map_err(|e| StageError::Write(self.path.display().to_string(), e.to_string()))?;
        }
        Ok(self.rows)
    }
}

/// `YYYY-MM-DD` (UTC) of a time in milliseconds (Howard Hinnant's civil-from-days).
pub fn day_of(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_calendar_days() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(951_782_400_000), "2000-02-29");
        assert_eq!(day_of(1_795_914_123_000 - 3_723_000), "2026-11-29");
    }
}
