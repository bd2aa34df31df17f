//! Reports written as their cases finish, in memory that does not grow with the number of
//! cases: the table prints each case (and, past [`PASSING_SHOWN`](super::table::PASSING_SHOWN)
//! passing ones, only the others), JSON writes the `cases` array element by element and the
//! closing figures at the end. Markdown and JUnit are summaries of a whole run and keep the
//! cases until the end.

use super::json;
use super::table::{Shown, Table};
use super::{Format, Style, renderer};
use crate::core::case::CaseReport;
use crate::core::summary::{Report, SCHEMA_VERSION, Tally, Tool};
use std::io::Write;

/// A report being written.
pub struct CaseWriter<W: Write> {
    out: W,
    format: Format,
    style: Style,
    tally: Tally,
    shown: Shown,
    /// Markdown and JUnit: every case, rendered at the end.
    kept: Vec<CaseReport>,
    /// The first write error other than a closed pipe; nothing more is written after it.
    failed: Option<std::io::Error>,
}

impl<W: Write> CaseWriter<W> {
    /// Start a report on `out`; `over_runs` adds the spread over repeated runs. A closed
    /// pipe (stdout piped into `head`) is not a failure of the audit; any other write error
    /// (a full disk) is, and [`finish`](Self::finish) returns it.
    pub fn new(out: W, format: Format, style: Style, over_runs: bool) -> Self {
        let mut w = CaseWriter {
            out,
            format,
            style,
            tally: Tally::new(over_runs),
            shown: Shown::default(),
            kept: Vec::new(),
            failed: None,
        };
        if format == Format::Json {
            w.write(json::head().as_bytes());
        }
        w
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if let Err(e) = self.out.write_all(bytes).and_then(|_| self.out.flush())
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            self.failed = Some(e);
        }
    }

    /// Write one finished case.
    pub fn case(&mut self, case: CaseReport) {
        let index = self.tally.cases();
        self.tally.add(&case);
        let text = match self.format {
            Format::Json => json::case(&case, index),
            Format::Table => Table { style: self.style }.streamed_case(&case, &mut self.shown),
            Format::Markdown | Format::Junit => {
                self.kept.push(case);
                return;
            }
        };
        self.write(text.as_bytes());
    }

    /// Write what the cases add up to, and return the exit code (or the write error).
    pub fn finish(mut self) -> std::io::Result<i32> {
        let any = self.tally.cases() > 0;
        let tally = std::mem::replace(&mut self.tally, Tally::new(false));
        let closing = tally.close();
        let code = closing.exit_code;
        let text = match self.format {
            Format::Json => json::closing(&closing, any),
            Format::Table => Table { style: self.style }.closing(&closing, &self.shown),
            Format::Markdown | Format::Junit => {
                let report = Report {
                    schema_version: SCHEMA_VERSION,
                    tool: Tool::this(),
                    cases: std::mem::take(&mut self.kept),
                    closing,
                };
                renderer(self.format, self.style).report(&report)
            }
        };
        self.write(text.as_bytes());
        self.failed.map_or(Ok(code), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Render;
    use crate::report::testing;

    /// A report written case by case says exactly what the collected report says, in every
    /// format.
    #[test]
    fn a_streamed_report_is_the_collected_report() {
        let names = [
            "invoke-write-hi.json",
            "litellm-1.63.14-proxy-write-hi.json",
            "invoke-headers-disagree.json",
        ];
        for format in Format::ALL {
            for over_runs in [false, true] {
                let cases: Vec<CaseReport> = names.iter().map(|n| testing::case(n)).collect();
                let collected = if over_runs {
                    Report::over_runs(cases.clone())
                } else {
                    Report::new(cases.clone())
                };
                let whole = renderer(format, Style::default()).report(&collected);
                let mut out = Vec::new();
                let mut w = CaseWriter::new(&mut out, format, Style::default(), over_runs);
                cases.into_iter().for_each(|c| w.case(c));
                assert_eq!(w.finish().unwrap(), collected.exit_code());
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    whole,
                    "{format:?} over_runs={over_runs}"
                );
            }
        }
    }

    #[test]
    fn json_pieces_are_serde_json_pretty_text() {
        let report = testing::report(&["invoke-write-hi.json", "converse-write-hi.json"]);
        let mut expected = serde_json::to_string_pretty(&report).unwrap();
        expected.push('\n');
        assert_eq!(crate::report::json::Json.report(&report), expected);
        let empty = Report::new(vec![]);
        let mut expected = serde_json::to_string_pretty(&empty).unwrap();
        expected.push('\n');
        assert_eq!(crate::report::json::Json.report(&empty), expected);
    }
}
