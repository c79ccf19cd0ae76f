//! A scratch copy of the shipped project, the `matrix` command, and insta
//! filters for paths and times.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A temporary project root holding copies of conf/, model_conf/, matrices/.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        super::copy_project(dir.path());
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `text` to `rel` under the project root.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `matrix --root <project> <args>`, with a clean MATRIX_* environment.
    pub fn matrix(&self, args: &[&str]) -> Command {
        matrix_at(self.path(), args)
    }
}

/// `matrix --root <root> <args>` with MATRIX_FLAGS=table so tests do not
/// depend on what is installed.
pub fn matrix_at(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("matrix").expect("binary builds");
    for (k, _) in std::env::vars() {
        if k.starts_with("MATRIX_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("MATRIX_FLAGS", "table");
    cmd.arg("--root").arg(root).args(args);
    cmd
}

/// insta settings that hide the project root, the binary path and the run
/// id's timestamp.
pub fn redactions(root: &Path) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    let root = root.to_string_lossy().to_string();
    s.add_filter(&regex_escape(&root), "[ROOT]");
    let exe = assert_cmd::cargo::cargo_bin("matrix")
        .to_string_lossy()
        .to_string();
    s.add_filter(&regex_escape(&exe), "[MATRIX]");
    s.add_filter(r"\d{8}-\d{6}_", "[TIME]_");
    s.add_filter(r"/tmp/[^/\s]+", "[TMP]");
    s
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Run and return (exit code, stdout, stderr).
pub fn output(mut cmd: Command) -> (i32, String, String) {
    let out = cmd.output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
