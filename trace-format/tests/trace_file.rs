//! `TraceFile` never replaces what it should not: its `.partial` is created exclusively, a
//! destination that exists (or appears) is kept unless replacing was asked for, and devices,
//! FIFOs and links to them are never renamed over. Errors print their cause once.

use std::fs;
use std::path::{Path, PathBuf};

use trace_format::{partial_path, read_trace_file, Error, Header, Metadata, RunRecord, SyncMode, TraceFile};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trace-format-file-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn header() -> Header {
    Header::new(Metadata::default())
}

fn run(i: u32) -> RunRecord {
    let mut r = RunRecord::new(i, "baseline", SyncMode::Component, 5, 3120);
    let c = r.component("block/ffn", 1.0, 1.0);
    r.push_event(c, Some(0), 0, 1000);
    r.forward_ns = 1000;
    r
}

#[test]
fn a_second_writer_on_the_same_name_fails_at_once_and_the_first_is_untouched() {
    let dir = scratch("exclusive");
    let out = dir.join("t.msgpack");
    let mut first = TraceFile::create(&out, &header()).unwrap();
    first.add_run(&run(0)).unwrap();
    let before = fs::read(partial_path(&out)).unwrap();
    for (replace, next) in [(false, false), (true, false)] {
        match TraceFile::create_with(&out, &header(), replace, next) {
            Err(Error::Exists { path, what }) => {
                assert_eq!(path, partial_path(&out));
                assert!(what.contains("another mlx-record"), "{what}");
            }
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a second writer opened the same .partial"),
        }
    }
    assert_eq!(fs::read(partial_path(&out)).unwrap(), before);
    first.add_run(&run(1)).unwrap();
    let path = first.finish().unwrap();
    let trace = read_trace_file(&path).unwrap();
    assert!(trace.complete && trace.runs.len() == 2 && trace.warnings.is_empty());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn an_existing_destination_is_kept_unless_replacing_was_asked() {
    let dir = scratch("existing");
    let out = dir.join("t.msgpack");
    fs::write(&out, b"a finished trace").unwrap();
    assert!(matches!(TraceFile::create(&out, &header()), Err(Error::Exists { .. })));
    assert!(!partial_path(&out).exists());

    // Appearing while recording: the finished trace stays in the .partial.
    let late = dir.join("late.msgpack");
    let mut file = TraceFile::create(&late, &header()).unwrap();
    file.add_run(&run(0)).unwrap();
    fs::write(&late, b"someone else's").unwrap();
    let e = file.finish().unwrap_err();
    assert!(e.to_string().contains("is kept as") && e.to_string().contains("late.msgpack.partial"), "{e}");
    assert_eq!(fs::read(&late).unwrap(), b"someone else's");
    assert!(read_trace_file(&partial_path(&late)).unwrap().complete);

    // Replacing, asked for: the old file stays until the end, then the new trace takes its place.
    let mut file = TraceFile::create_with(&out, &header(), true, false).unwrap();
    file.add_run(&run(0)).unwrap();
    assert_eq!(fs::read(&out).unwrap(), b"a finished trace");
    file.finish().unwrap();
    assert!(read_trace_file(&out).unwrap().complete);

    // A link to a regular file: the file is replaced, the link stays.
    let real = dir.join("real.msgpack");
    fs::write(&real, b"old").unwrap();
    let link = dir.join("link.msgpack");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let file = TraceFile::create_with(&link, &header(), true, false).unwrap();
    file.finish().unwrap();
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(read_trace_file(&real).unwrap().complete);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn generated_names_take_the_next_free_number() {
    let dir = scratch("numbered");
    let out = dir.join("t.msgpack");
    fs::write(&out, b"taken").unwrap();
    fs::write(partial_path(&dir.join("t-2.msgpack")), b"being written").unwrap();
    let file = TraceFile::create_with(&out, &header(), false, true).unwrap();
    assert_eq!(file.path(), dir.join("t-3.msgpack"));
    let second = TraceFile::create_with(&out, &header(), false, true).unwrap();
    assert_eq!(second.path(), dir.join("t-4.msgpack"));
    assert_eq!(file.finish().unwrap(), dir.join("t-3.msgpack"));
    second.finish().unwrap();
    assert_eq!(fs::read(&out).unwrap(), b"taken");
    assert_eq!(fs::read(partial_path(&dir.join("t-2.msgpack"))).unwrap(), b"being written");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn devices_fifos_and_links_to_them_are_never_destinations() {
    let dir = scratch("special");
    let fifo = dir.join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let link = dir.join("null");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    let dangling = dir.join("dangling");
    std::os::unix::fs::symlink(dir.join("nothing"), &dangling).unwrap();
    for (target, kind) in [(Path::new("/dev/null"), "character device"), (&fifo, "FIFO"), (&link, "character device"), (&dangling, "dangling")] {
        for replace in [false, true] {
            match TraceFile::create_with(target, &header(), replace, false) {
                Err(e @ Error::NotRegular { .. }) => assert!(e.to_string().contains(kind), "{e}"),
                Err(e) => panic!("{}: {e}", target.display()),
                Ok(_) => panic!("{} accepted", target.display()),
            }
        }
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::metadata("/dev/null").unwrap().file_type().is_char_device());
    assert!(!Path::new("/dev/null.partial").exists());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn errors_carry_their_cause_in_the_message_only() {
    let e = TraceFile::create(Path::new("/nonexistent-dir-of-trace-format/t.msgpack"), &header()).err().unwrap();
    let message = e.to_string();
    assert!(message.contains("t.msgpack.partial") && message.contains("os error"), "{message}");
    // Printers that walk the chain would repeat the cause.
    assert!(std::error::Error::source(&e).is_none());
    assert_eq!(e.io_error().map(|io| io.kind()), Some(std::io::ErrorKind::NotFound));
}
