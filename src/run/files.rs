//! Reading what a process appended to a file since we last looked: result
//! files and logs are appended to across launches (a resumed run, a retry),
//! so each launch reads only its own part.

use camino::Utf8Path;

/// Current size of a file (0 when it does not exist).
pub fn size_of(path: &Utf8Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The text of `path` from byte `offset` on ("" when unreadable).
pub fn read_from(path: &Utf8Path, offset: u64) -> String {
    String::from_utf8_lossy(&read_bytes_from(path, offset)).into_owned()
}

/// The bytes of `path` from byte `offset` on (none when unreadable).
pub fn read_bytes_from(path: &Utf8Path, offset: u64) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    if f.seek(SeekFrom::Start(offset)).is_err() {
        return Vec::new();
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    buf
}

/// The last `n` lines of `text`.
pub fn last_lines(text: &str, n: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(n)..].join("\n")
}
