//! `tokaudit migrate PATH...`: rewrite recordings in the current fixture format (schema 2: one
//! line per frame, views verbatim), atomically. The raw bytes never change, so a migrated
//! recording replays to the same report; a file that does not load is left as it is and
//! named.

use crate::cli::MigrateArgs;
use crate::exit;
use crate::files;
use crate::fixture::{Fixture, SCHEMA_VERSION};
use anyhow::Context;

/// Run `migrate`.
pub fn run(args: MigrateArgs) -> anyhow::Result<i32> {
    let found = files::discover(&args.paths).context("cannot list fixtures")?;
    for s in &found.skipped {
        eprintln!("tokaudit: note: skipped {s}");
    }
    let (mut done, mut failed) = (0, 0);
    for path in &found.files {
        let result = Fixture::load(path)
            .and_then(Fixture::migrated)
            .map_err(anyhow::Error::from)
            .and_then(|f| f.save(path).map_err(anyhow::Error::from));
        match result {
            Ok(()) => done += 1,
            Err(e) => {
                failed += 1;
                eprintln!("tokaudit: error: {}: {e:#}; left unchanged", path.display());
            }
        }
    }
    super::print(&format!(
        "{done} fixtures written in schema {SCHEMA_VERSION}, {failed} left unchanged\n"
    ))?;
    Ok(if failed == 0 && done > 0 {
        exit::SUCCESS
    } else {
        exit::RUNTIME
    })
}
