//! The file system, carefully: atomic writes (nothing half-written is ever visible under its
//! final name, the files of one state written together, no temporary file left behind by a
//! signal) and the expansion of files and folders into the fixtures to replay.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Temporary files being written, removed by [`remove_temp_files`] when a signal stops the
/// process, so that none outlives it.
static IN_FLIGHT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The marker in a temporary file's name (`.NAME.tmp-PID`).
const TEMP_MARKER: &str = ".tmp-";

fn in_flight() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    IN_FLIGHT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Remove every temporary file being written (called on SIGINT / SIGTERM before exiting).
/// The lock stays held until the process exits, so no new one appears.
pub fn remove_temp_files() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    let guard = in_flight();
    for tmp in guard.iter() {
        if tmp.is_dir() {
            let _ = std::fs::remove_dir_all(tmp);
        } else {
            let _ = std::fs::remove_file(tmp);
        }
    }
    guard
}

/// Have a temporary file or folder removed if a signal stops the process before
/// [`untrack_temp`] (a reconciliation's work folder, a report being renamed into place).
pub fn track_temp(path: &Path) {
    in_flight().push(path.to_path_buf());
}

/// The temporary file or folder is gone or renamed: stop tracking it.
pub fn untrack_temp(path: &Path) {
    in_flight().retain(|t| t != path);
}

/// Write a file atomically: a temporary sibling, flushed, then renamed over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_all_atomic(&[(path, bytes)])
}

/// Write several files as one: every temporary sibling written and flushed first, then all
/// renamed, so that files of one state never sit beside files of another (a run killed while
/// writing leaves the previous set or the new one, not a mix of both unless it dies between
/// two renames). Errors name the path.
pub fn write_all_atomic(files: &[(&Path, &[u8])]) -> std::io::Result<()> {
    let staged: Vec<(PathBuf, &Path)> = files.iter().map(|(p, _)| (temp_path(p), *p)).collect();
    in_flight().extend(staged.iter().map(|(t, _)| t.clone()));
    let result = (|| {
        for ((tmp, path), (_, bytes)) in staged.iter().zip(files) {
            remove_stale_temps(path);
            write_synced(tmp, bytes).map_err(|e| named(path, e))?;
        }
        for (tmp, path) in &staged {
            std::fs::rename(tmp, path).map_err(|e| named(path, e))?;
        }
        Ok(())
    })();
    let mut flying = in_flight();
    for (tmp, _) in &staged {
        if result.is_err() {
            let _ = std::fs::remove_file(tmp);
        }
        flying.retain(|t| t != tmp);
    }
    result
}

fn named(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn temp_path(path: &Path) -> PathBuf {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    dir.join(format!(".{file_name}{TEMP_MARKER}{}", std::process::id()))
}

fn write_synced(tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(tmp)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Remove the temporary siblings of `path` left by a process that was killed outright
/// (`kill -9` runs no handler): those whose process no longer exists. Only where `/proc`
/// says which processes exist; elsewhere they stay (hidden, never under a report's name).
fn remove_stale_temps(path: &Path) {
    let proc_fs = Path::new("/proc/self");
    let (Some(dir), Some(name)) = (
        temp_path(path).parent().map(Path::to_path_buf),
        path.file_name(),
    ) else {
        return;
    };
    if !proc_fs.exists() {
        return;
    }
    let prefix = format!(".{}{TEMP_MARKER}", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        let dead = pid.parse::<u32>().is_ok_and(|pid| {
            pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists()
        });
        if dead {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// What a folder walk found.
#[derive(Debug, Default)]
pub struct Found {
    /// The files to read, sorted within each folder, each file once.
    pub files: Vec<PathBuf>,
    /// Paths passed over, with why (not regular files, a second way to the same file or
    /// folder), for the caller to report.
    pub skipped: Vec<String>,
}

/// The identity of a file or folder, so that a symlink or hard link to something already seen
/// is recognised: device and inode where the platform has them, the canonical path otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FileId {
    #[cfg(unix)]
    Inode(u64, u64),
    #[cfg(not(unix))]
    Path(PathBuf),
}

fn file_id(path: &Path, meta: &std::fs::Metadata) -> std::io::Result<FileId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let _ = path;
        Ok(FileId::Inode(meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Ok(FileId::Path(std::fs::canonicalize(path)?))
    }
}

/// Expand files and folders into the fixture files to replay: folders recursively (`*.json`
/// only, hidden files skipped), symlinked folders followed at most once (a link loop ends),
/// only regular files taken (a FIFO named `*.json` would block the reader forever), and each
/// file once however many ways lead to it. A path named explicitly must exist and be a
/// regular file or a folder.
pub fn discover(paths: &[PathBuf]) -> std::io::Result<Found> {
    let mut walk = Walk::default();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| {
            let what = if e.kind() == std::io::ErrorKind::NotFound {
                "no such file or folder".to_string()
            } else {
                e.to_string()
            };
            std::io::Error::new(e.kind(), format!("{}: {what}", p.display()))
        })?;
        if meta.is_dir() {
            walk.dir(p, &meta)?;
        } else if meta.is_file() {
            walk.file(p, &meta)?;
        } else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{}: not a regular file or folder (a FIFO, socket or device); pass a fixture file or a folder of them",
                    p.display()
                ),
            ));
        }
    }
    Ok(walk.found)
}

#[derive(Default)]
struct Walk {
    found: Found,
    seen_dirs: std::collections::HashSet<FileId>,
    seen_files: std::collections::HashSet<FileId>,
}

impl Walk {
    fn file(&mut self, path: &Path, meta: &std::fs::Metadata) -> std::io::Result<()> {
        if self.seen_files.insert(file_id(path, meta)?) {
            self.found.files.push(path.to_path_buf());
        } else {
            self.found.skipped.push(format!(
                "{}: the same file as one already read",
                path.display()
            ));
        }
        Ok(())
    }

    fn dir(&mut self, dir: &Path, meta: &std::fs::Metadata) -> std::io::Result<()> {
        if !self.seen_dirs.insert(file_id(dir, meta)?) {
            self.found.skipped.push(format!(
                "{}: a folder already walked (a symlink loop or a second link)",
                dir.display()
            ));
            return Ok(());
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for p in entries {
            let hidden = p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            // Following links: a dangling one has no metadata and is passed over.
            let Ok(meta) = std::fs::metadata(&p) else {
                self.found
                    .skipped
                    .push(format!("{}: a dangling link", p.display()));
                continue;
            };
            if meta.is_dir() {
                self.dir(&p, &meta)?;
            } else if hidden || p.extension().is_none_or(|e| e != "json") {
                continue;
            } else if meta.is_file() {
                self.file(&p, &meta)?;
            } else {
                self.found.skipped.push(format!(
                    "{}: not a regular file (a FIFO, socket or device)",
                    p.display()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn link_loops_end_each_file_counts_once_and_fifos_are_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.json"), "{}").unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/b.json"), "{}").unwrap();
        std::os::unix::fs::symlink(root, root.join("sub/loop")).unwrap();
        std::os::unix::fs::symlink(root.join("a.json"), root.join("sub/alias.json")).unwrap();
        let fifo = root.join("pipe.json");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        let found = discover(&[root.to_path_buf(), root.join("a.json")]).unwrap();
        let names: Vec<String> = found
            .files
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a.json", "sub/b.json"]);
        let skipped = found.skipped.join("\n");
        assert!(skipped.contains("symlink loop"), "{skipped}");
        assert!(skipped.contains("alias.json: the same file"), "{skipped}");
        if made.is_ok_and(|s| s.success()) {
            assert!(
                skipped.contains("pipe.json: not a regular file"),
                "{skipped}"
            );
            let e = discover(&[fifo]).unwrap_err();
            assert!(
                e.to_string().contains("not a regular file or folder"),
                "{e}"
            );
        }
    }
}
