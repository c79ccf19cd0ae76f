//! Files of the results folder, served read-only: a request path is a
//! relative path of plain components (no `..`, no root, no prefix, no
//! empty or `.` component), and the file it names, symlinks resolved, must
//! still be inside the (canonical) results folder and be a regular file.

use std::path::{Component, Path, PathBuf};

/// Why a file request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRefusal {
    /// Not a plain relative path (`..`, absolute, backslashes, NUL): 400.
    BadPath(String),
    /// Absent, not a regular file, or (symlinks resolved) outside the
    /// results folder: 404, the same answer for each so nothing outside
    /// is revealed.
    NotFound,
}

/// The file `rel` names inside `root`, or why not.
pub fn resolve(root: &Path, rel: &str) -> Result<PathBuf, FileRefusal> {
    let bad = |why: &str| Err(FileRefusal::BadPath(format!("{rel:?}: {why}")));
    if rel.is_empty() {
        return bad("empty path");
    }
    if rel.contains('\0') || rel.contains('\\') {
        return bad("NUL or backslash in the path");
    }
    if rel.starts_with('/') {
        return bad("absolute path");
    }
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(_) => {}
            Component::ParentDir => return bad("`..` in the path"),
            Component::RootDir | Component::Prefix(_) => return bad("absolute path"),
            Component::CurDir => return bad("`.` in the path"),
        }
    }
    if rel
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return bad("empty, `.` or `..` component");
    }
    let root = root.canonicalize().map_err(|_| FileRefusal::NotFound)?;
    let file = root
        .join(rel)
        .canonicalize()
        .map_err(|_| FileRefusal::NotFound)?;
    if !file.starts_with(&root) || !file.is_file() {
        return Err(FileRefusal::NotFound);
    }
    Ok(file)
}

/// The content type a served file is sent with: text for what a run
/// writes (logs, scripts, JSON, CSV), bytes for anything else (never HTML
/// or SVG: a file in the results folder must not run script in the
/// dashboard's origin).
pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "json" => "application/json",
        "log" | "sh" | "jsonl" | "txt" | "csv" | "yaml" | "yml" | "out" | "err" => {
            "text/plain; charset=utf-8"
        }
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_traversal_absolute_and_odd_components() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("a.log"), "x").unwrap();
        for p in [
            "",
            "../a.log",
            "x/../a.log",
            "/etc/passwd",
            "./a.log",
            "a//b",
            "a\\b",
            "..",
            "x/..",
        ] {
            assert!(
                matches!(resolve(t.path(), p), Err(FileRefusal::BadPath(_))),
                "{p:?}"
            );
        }
        assert_eq!(resolve(t.path(), "missing.log"), Err(FileRefusal::NotFound));
        assert!(resolve(t.path(), "a.log").is_ok());
    }

    #[test]
    fn refuses_symlink_out_of_the_root_and_folders() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        let t = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), t.path().join("link")).unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::fs::write(t.path().join("d/in"), "i").unwrap();
        std::os::unix::fs::symlink(t.path().join("d/in"), t.path().join("inside")).unwrap();
        assert_eq!(resolve(t.path(), "link"), Err(FileRefusal::NotFound));
        assert_eq!(resolve(t.path(), "d"), Err(FileRefusal::NotFound));
        assert!(resolve(t.path(), "inside").is_ok());
    }
}
