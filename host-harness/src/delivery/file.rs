//! File and standard-output sinks: every event exactly once into a file, at least once
//! to standard output.
//!
//! The store keeps the file's length as of the last acknowledged write. A file found
//! longer holds a tail that was never acknowledged (half a write cut by ENOSPC, or a
//! whole one before a crash); its events are still in the outbox, so the tail is cut off
//! and they are written again. Each write is fsynced before it is acknowledged. Writes
//! run on the blocking pool: a stalled reader of `serve`'s output holds a blocking
//! thread, not the threads that answer requests.

use std::io::{Seek as _, SeekFrom, Write as _};

use anyhow::Context as _;

use crate::endpoint::EventSink;
use crate::store::Outbox;

fn joined(outbox: &Outbox) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(outbox.entries.iter().map(|e| e.line.len()).sum());
    for entry in &outbox.entries {
        bytes.extend_from_slice(&entry.line);
    }
    bytes
}

pub(super) fn write_shared(output: &EventSink, outbox: &Outbox) -> anyhow::Result<()> {
    let mut output = output.lock().unwrap_or_else(|p| p.into_inner());
    output.write_all(&joined(outbox))?;
    output.flush()?;
    Ok(())
}

/// The length of the events file (0 when it does not exist yet).
pub(super) fn file_length(path: &std::path::Path) -> anyhow::Result<u64> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(meta.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes the outbox's events at `acknowledged`, the file's length after the last
/// acknowledged write; the file's new length.
pub(super) fn write_file(
    path: &std::path::Path,
    acknowledged: u64,
    outbox: &Outbox,
) -> anyhow::Result<u64> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot open the events file {}", path.display()))?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        anyhow::bail!("{} is not a regular file", path.display());
    }
    let start = if meta.len() > acknowledged {
        // A tail never acknowledged: its events are in this outbox.
        file.set_len(acknowledged)?;
        acknowledged
    } else {
        // Shorter than acknowledged: rotated or truncated by someone else; append.
        meta.len()
    };
    file.seek(SeekFrom::Start(start))?;
    let bytes = joined(outbox);
    file.write_all(&bytes)
        .with_context(|| format!("cannot write to {}", path.display()))?;
    file.sync_data()?;
    Ok(start + bytes.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Entry;

    fn outbox(lines: &[&str]) -> Outbox {
        Outbox {
            offset: None,
            entries: lines
                .iter()
                .enumerate()
                .map(|(i, l)| Entry {
                    id: i.to_string(),
                    line: format!("{l}\n").into_bytes(),
                    dedup_key: String::new(),
                    attempt: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn an_unacknowledged_tail_is_cut_and_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, "old\n").unwrap();
        let start = file_length(&path).unwrap();
        let end = write_file(&path, start, &outbox(&["a"])).unwrap();
        assert_eq!(end, 6, "the first write goes after what the file held");
        // A crash after writing "b" but before acknowledging it, and half a line.
        std::fs::write(&path, "old\na\nb\n{\"half").unwrap();
        let end = write_file(&path, end, &outbox(&["b", "c"])).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\na\nb\nc\n");
        assert_eq!(end, 10);
        // Rotated away by someone else: appended to the new file.
        std::fs::write(&path, "").unwrap();
        write_file(&path, end, &outbox(&["d"])).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "d\n");
        assert!(write_file(dir.path(), 0, &outbox(&["x"])).is_err());
        assert_eq!(file_length(&dir.path().join("none")).unwrap(), 0);
    }
}
