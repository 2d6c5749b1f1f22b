//! Writing files so that nothing is left half-written and nothing is destroyed: a temporary
//! file beside the destination, then a rename onto it.
//!
//! Rules, checked by [`check_target`] before any work and again when writing:
//! - `-` is standard output;
//! - only regular files are replaced (a device or a FIFO never is: the rename would put a
//!   regular file in its place); a symbolic link is followed, and the file it points to is
//!   written, so the link survives;
//! - an input of this run ([`protect`]) is never replaced;
//! - an existing file is replaced only after [`allow_replace`] (`--force`).
//!
//! Temporary files are registered while they exist, so that an interrupted run removes them
//! ([`remove_temp_files`]).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use trace_format::special_kind;

use crate::error::{Error, Result};

#[derive(Default)]
struct State {
    /// (device, inode) of the inputs.
    protected: Vec<(u64, u64)>,
    /// Temporary files that exist now.
    temps: Vec<PathBuf>,
    /// Existing destinations may be replaced.
    replace: bool,
    /// Destinations written so far (an interruption names them: they were replaced).
    written: Vec<PathBuf>,
    /// Destinations that did not exist before this process wrote them, with the (device, inode)
    /// it wrote: a failed run removes them again ([`remove_created_outputs`]).
    created: Vec<(PathBuf, (u64, u64))>,
    /// Directories this process created (parents before children): a failed run removes those
    /// it left empty.
    created_dirs: Vec<PathBuf>,
}

static STATE: Mutex<State> =
    Mutex::new(State { protected: Vec::new(), temps: Vec::new(), replace: false, written: Vec::new(), created: Vec::new(), created_dirs: Vec::new() });

/// Removes the outputs this process created (never one that existed before it, and never one
/// that another process has since replaced), for a run that fails after writing some of its
/// outputs: a failed run leaves no new file behind. Returns the paths removed.
pub fn remove_created_outputs() -> Vec<PathBuf> {
    let mut s = state();
    let mut removed = Vec::new();
    for (path, id) in s.created.drain(..) {
        if file_id(&path) == Some(id) && std::fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    s.written.retain(|p| !removed.contains(p));
    // Children first; `remove_dir` leaves any directory that is not empty.
    for dir in s.created_dirs.drain(..).rev() {
        let _ = std::fs::remove_dir(&dir);
    }
    removed
}

/// `create_dir_all` that remembers the directories it creates, so that a failed run removes
/// them again if they stay empty ([`remove_created_outputs`]).
pub fn create_dirs(dir: &Path) -> Result<()> {
    let mut missing = Vec::new();
    let mut d = Some(dir);
    while let Some(p) = d.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        missing.push(p.to_path_buf());
        d = p.parent();
    }
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    state().created_dirs.extend(missing.into_iter().rev());
    Ok(())
}

/// The destinations written so far by this process, in order.
pub fn written_outputs() -> Vec<PathBuf> {
    state().written.clone()
}

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether `path` means standard output.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Marks files that no output may replace (the inputs of the run).
pub fn protect(paths: &[PathBuf]) {
    let ids: Vec<(u64, u64)> = paths.iter().filter_map(|p| file_id(p)).collect();
    state().protected.extend(ids);
}

/// Lets outputs replace existing files (never inputs, never special files).
pub fn allow_replace(replace: bool) {
    state().replace = replace;
}

/// Removes every temporary file that exists now (for an interrupted run, which then exits);
/// returns how many there were.
pub fn remove_temp_files() -> usize {
    let mut s = state();
    let n = s.temps.len();
    for tmp in s.temps.drain(..) {
        let _ = std::fs::remove_file(tmp);
    }
    n
}

/// (device, inode) of an existing file, following symbolic links.
#[cfg(unix)]
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(path: &Path) -> Option<(u64, u64)> {
    // Without inodes: canonical paths, hashed.
    use std::hash::{Hash, Hasher};
    let canonical = std::fs::canonicalize(path).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    canonical.hash(&mut h);
    Some((0, h.finish()))
}

/// Whether two paths name the same file (existing: same inode; otherwise the same absolute
/// name in the same directory).
pub fn same_file(a: &Path, b: &Path) -> bool {
    if is_stdout(a) || is_stdout(b) {
        return is_stdout(a) && is_stdout(b);
    }
    if let (Some(x), Some(y)) = (file_id(a), file_id(b)) {
        return x == y;
    }
    let absolute = |p: &Path| -> Option<PathBuf> {
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Some(std::fs::canonicalize(dir).ok()?.join(p.file_name()?))
    };
    matches!((absolute(a), absolute(b)), (Some(x), Some(y)) if x == y)
}

/// Why `path` may not be written, if it may not: it is special, an input, or exists without
/// [`allow_replace`]. The reason reads after the path: `FILE: REASON`.
pub fn check_target(path: &Path) -> std::result::Result<(), String> {
    if is_stdout(path) {
        return Ok(());
    }
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(_) if std::fs::symlink_metadata(path).is_ok() => return Err("is a symbolic link to nothing".into()),
        Err(_) => return Ok(()),
    };
    if let Some(kind) = special_kind(&meta) {
        return Err(format!("is {kind}; only regular files are written (use - for standard output)"));
    }
    let s = state();
    if file_id(path).is_some_and(|id| s.protected.contains(&id)) {
        return Err("is one of the input traces; it is never replaced".into());
    }
    if !s.replace {
        return Err("exists; choose another name, or --force to replace it".into());
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically (`-`: standard output).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes).map_err(Error::from))
}

/// Streams into `path` atomically: `fill` writes into a buffered temporary file beside the
/// destination, which is renamed onto it only when `fill` succeeds (and removed otherwise).
/// `-` streams to standard output. Errors name the destination, never the temporary file.
pub(crate) fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    if is_stdout(path) {
        let stdout = std::io::stdout();
        let mut w = std::io::BufWriter::new(stdout.lock());
        fill(&mut w)?;
        return w.flush().map_err(Error::from);
    }
    check_target(path).map_err(|reason| Error::Invalid(format!("{}: {reason}", path.display())))?;
    // The file a symbolic link points to is the destination: the link stays.
    let dest = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?,
        _ => path.to_path_buf(),
    };
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let (tmp, file) = create_temp(&dest).map_err(io)?;
    let mut existed = true;
    let result = (|| {
        let mut w = std::io::BufWriter::new(file);
        fill(&mut w).map_err(|e| match e {
            Error::Write(source) => io(source),
            e => e,
        })?;
        let file = w.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        drop(file);
        // Checked again: the destination may have appeared, or changed, while writing.
        check_target(&dest).map_err(|reason| Error::Invalid(format!("{}: {reason}", path.display())))?;
        let replace = state().replace;
        existed = std::fs::symlink_metadata(&dest).is_ok();
        if replace {
            std::fs::rename(&tmp, &dest).map_err(io)
        } else {
            // A hard link fails if the name exists, where a rename would replace it.
            match std::fs::hard_link(&tmp, &dest) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&tmp);
                    Ok(())
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    Err(Error::Invalid(format!("{}: appeared while it was written; not replaced without --force", path.display())))
                }
                Err(_) => std::fs::rename(&tmp, &dest).map_err(io),
            }
        }
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    let mut s = state();
    s.temps.retain(|t| t != &tmp);
    if result.is_ok() {
        s.written.push(path.to_path_buf());
        if let Some(id) = file_id(&dest).filter(|_| !existed) {
            s.created.push((dest.clone(), id));
        }
    }
    drop(s);
    result
}

/// Creates a fresh temporary file beside `dest` and registers it.
fn create_temp(dest: &Path) -> std::io::Result<(PathBuf, File)> {
    let name = dest.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    let mut s = state();
    for n in 0..1000u32 {
        let suffix = format!(".tmp-{}-{n}", std::process::id());
        // A legal name near the 255-byte limit cannot take the suffix: a short hidden name then.
        let tmp_name = if name.len() + suffix.len() <= 255 {
            let mut t = name.clone();
            t.push(&suffix);
            t
        } else {
            std::ffi::OsString::from(format!(".mlx-analyze{suffix}"))
        };
        let tmp = dest.with_file_name(tmp_name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => {
                s.temps.push(tmp.clone());
                return Ok((tmp, file));
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(ErrorKind::AlreadyExists, "no free temporary file name beside it"))
}
