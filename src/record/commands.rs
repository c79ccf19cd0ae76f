//! `commands.jsonl`: every process a run started, exactly as it was
//! started: one JSON line per spawn, written (and synced) just before the
//! spawn, so a run killed at any instant still says what it ran. This is
//! the record of what was executed, not of what was planned: the runner
//! rewrites some command lines at run time (one_batch retries with fewer
//! batch sizes, Nsight Systems wrapping when profiling), and those are the
//! argv recorded here. `commands.sh` ([`script`]) is built from this file
//! alone, plus what the manifest says of each group (its engine, mode,
//! cells and readiness URL).

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};

use camino::{Utf8Path, Utf8PathBuf};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::RecordError;
use super::csv::write_synced;
use super::manifest::{Manifest, is_secret};

pub use crate::plan::output::shell_quote;

/// What a started process was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The group's server, one_batch process, or worker rank.
    Launch,
    /// A cell's benchmark client.
    Client,
}

/// One started process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Executed {
    pub group: String,
    /// The cell it ran for; `None` for a launch that serves several cells.
    pub cell: Option<String>,
    pub role: Role,
    /// The exact argv (never a shell string).
    pub argv: Vec<String>,
    /// Environment added on top of matrix's own; values of secret-looking
    /// names (TOKEN, KEY, SECRET, PASSWORD) are written as `***`.
    pub env: IndexMap<String, String>,
    /// CPUs it was pinned to; `None`: not pinned.
    pub cpus: Option<Vec<usize>>,
    /// RFC 3339, when it was spawned.
    pub started_at: String,
}

impl Executed {
    /// A record stamped now, secrets masked.
    pub fn now(
        group: &str,
        cell: Option<&str>,
        role: Role,
        argv: &[String],
        env: &IndexMap<String, String>,
        cpus: Option<&[usize]>,
    ) -> Executed {
        Executed {
            group: group.to_string(),
            cell: cell.map(str::to_string),
            role,
            argv: argv.to_vec(),
            env: env
                .iter()
                .map(|(k, v)| {
                    let v = if is_secret(k) { "***" } else { v.as_str() };
                    (k.clone(), v.to_string())
                })
                .collect(),
            cpus: cpus.map(<[usize]>::to_vec),
            started_at: jiff::Timestamp::now().to_string(),
        }
    }
}

/// `commands.jsonl`, open for appending.
#[derive(Debug)]
pub struct CommandLog {
    path: Utf8PathBuf,
    file: File,
}

impl CommandLog {
    /// Open (creating it) for appending; a torn last line (a kill mid-write)
    /// is cut off first.
    pub fn open(path: &Utf8Path) -> Result<CommandLog, RecordError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(|e| RecordError::io(format!("cannot open {path}"), e))?;
        let text =
            std::fs::read(path).map_err(|e| RecordError::io(format!("cannot read {path}"), e))?;
        let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if complete < text.len() {
            file.set_len(complete as u64)
                .map_err(|e| RecordError::io(format!("cannot cut the torn line of {path}"), e))?;
        }
        Ok(CommandLog {
            path: path.to_owned(),
            file,
        })
    }

    /// Append one record (one line), synced before returning.
    pub fn append(&mut self, e: &Executed) -> Result<(), RecordError> {
        let mut line = serde_json::to_string(e).map_err(|err| {
            RecordError::io(
                format!("cannot encode a line of {}", self.path),
                std::io::Error::other(err),
            )
        })?;
        line.push('\n');
        write_synced(&mut self.file, line.as_bytes())
            .map_err(|err| RecordError::io(format!("cannot append to {}", self.path), err))
    }

    /// The records of a file, in spawn order; a missing file is empty and a
    /// torn last line is ignored.
    pub fn read(path: &Utf8Path) -> Result<Vec<Executed>, RecordError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(RecordError::io(format!("cannot read {path}"), e)),
        };
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        text[..complete]
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| RecordError::CorruptJournal {
                    path: path.to_owned(),
                    line: i + 1,
                    reason: e.to_string(),
                })
            })
            .collect()
    }
}

/// What `commands.sh` needs besides `commands.jsonl`, from the manifest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScriptContext {
    pub run_id: String,
    pub matrix_version: String,
    /// Where the run was started from (manifest `cwd`, the project root).
    pub cwd: String,
    /// The environment matrix ran with (manifest `env`, secrets `***`):
    /// every process it started inherited it.
    pub env: IndexMap<String, String>,
    /// The plan's groups by id.
    pub groups: IndexMap<String, ScriptGroup>,
}

/// One group of the plan, as far as the script needs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScriptGroup {
    pub engine: String,
    pub mode: String,
    /// A server with a client per cell (else one process measuring every
    /// cell, e.g. one_batch).
    pub server: bool,
    /// The readiness URL of its server and how long to wait for it.
    pub ready: Option<(String, f64)>,
    /// Its cells' ids, in plan order.
    pub cells: Vec<String>,
}

impl ScriptContext {
    /// Read from a manifest; its plan is read loosely (a field it lacks is
    /// left empty), so an older manifest still gets a script.
    pub fn from_manifest(m: &Manifest) -> ScriptContext {
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        let groups = m.plan["groups"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|g| {
                let ready = g["ready"]["url"].as_str().map(|u| {
                    let t = g["ready"]["timeout_s"].as_f64().unwrap_or(600.0);
                    (u.to_string(), t)
                });
                let group = ScriptGroup {
                    engine: text(&g["engine"]),
                    mode: text(&g["mode"]),
                    server: g["exec"] == "server" || (g["exec"].is_null() && ready.is_some()),
                    ready,
                    cells: g["cells"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                        .iter()
                        .map(|c| text(&c["id"]))
                        .collect(),
                };
                (text(&g["id"]), group)
            })
            .collect();
        ScriptContext {
            run_id: m.run_id.clone(),
            matrix_version: m.matrix_version.clone(),
            cwd: m.cwd.clone(),
            env: m.env.clone(),
            groups,
        }
    }
}

/// Seconds a stopped server gets between SIGTERM and SIGKILL in the script
/// (matrix's default `--grace`).
const SCRIPT_GRACE_S: u32 = 10;

/// The shell functions the script calls: readiness probe (curl, else
/// python3), readiness wait, server stop (TERM to its process group, a
/// grace period, KILL).
const SCRIPT_FUNCTIONS: &str = r#"matrix_failed=0
matrix_server=
matrix_probe() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsS -o /dev/null --max-time 5 "$1" 2>/dev/null
    else
        python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$1" 2>/dev/null
    fi
}
# matrix_wait_ready URL TIMEOUT_S: until URL answers 2xx, the server exits, or the time is up.
matrix_wait_ready() {
    matrix_t0=$(date +%s)
    until matrix_probe "$1"; do
        if ! kill -0 "$matrix_server" 2>/dev/null; then
            echo "commands.sh: the server exited before $1 answered" >&2
            return 1
        fi
        if [ $(( $(date +%s) - matrix_t0 )) -ge "$2" ]; then
            echo "commands.sh: $1 did not answer within $2 s" >&2
            return 1
        fi
        sleep 0.2
    done
}
# matrix_stop: SIGTERM to the server's process group, then SIGKILL after the grace period.
matrix_stop() {
    [ -n "$matrix_server" ] || return 0
    kill -TERM -- "-$matrix_server" 2>/dev/null || kill -TERM "$matrix_server" 2>/dev/null
    matrix_i=0
    while kill -0 -- "-$matrix_server" 2>/dev/null && [ "$matrix_i" -lt GRACE_TENTHS ]; do
        sleep 0.1
        matrix_i=$((matrix_i + 1))
    done
    kill -KILL -- "-$matrix_server" 2>/dev/null
    wait "$matrix_server" 2>/dev/null
    matrix_server=
}
trap 'matrix_stop' EXIT
trap 'matrix_stop; exit 130' INT TERM
"#;

/// `commands.sh`: every process of `records` (commands.jsonl, in spawn
/// order) as a bash script that runs them again, one block per group. See
/// docs/RESULTS.md, "commands.sh". Pure: the same records and context give
/// the same text.
pub fn script(records: &[Executed], ctx: &ScriptContext) -> String {
    let mut b = ScriptBuilder::new(ctx.clone());
    for r in records {
        b.push(r);
    }
    b.text()
}

/// [`script`], one record at a time: the recorder keeps one and adds each
/// spawn, so rebuilding the script after a spawn costs that spawn's lines
/// plus one copy of the text, not a pass over every record.
#[derive(Debug, Clone)]
pub struct ScriptBuilder {
    ctx: ScriptContext,
    /// Names recorded masked (`***`), in order of first appearance.
    secrets: Vec<String>,
    body: String,
    current: Option<String>,
    server_open: bool,
}

impl ScriptBuilder {
    pub fn new(ctx: ScriptContext) -> ScriptBuilder {
        let mut b = ScriptBuilder {
            ctx,
            secrets: Vec::new(),
            body: String::new(),
            current: None,
            server_open: false,
        };
        let masked: Vec<String> = b
            .ctx
            .env
            .iter()
            .filter(|(k, v)| masked(k, v))
            .map(|(k, _)| k.clone())
            .collect();
        for k in masked {
            b.secret(&k);
        }
        b
    }

    fn secret(&mut self, k: &str) {
        if !self.secrets.iter().any(|s| s == k) {
            self.secrets.push(k.to_string());
        }
    }

    /// Add the next started process.
    pub fn push(&mut self, r: &Executed) {
        for (k, v) in &r.env {
            if masked(k, v) {
                self.secret(k);
            }
        }
        let group = self.ctx.groups.get(&r.group);
        let s = &mut self.body;
        if self.current.as_deref() != Some(r.group.as_str()) {
            if self.server_open {
                let _ = writeln!(s, "matrix_stop");
                self.server_open = false;
            }
            self.current = Some(r.group.clone());
            s.push('\n');
            block_header(s, &r.group, group);
        }
        // A group the manifest's plan lacks cannot say it is a server: its
        // launch runs in the foreground. So does a worker rank's (`--node-rank
        // N`, N > 0): it serves nothing and runs until the master's run ends
        // it, as matrix runs it.
        let server = group.is_some_and(|g| g.server) && !worker_rank(&r.argv);
        let what = match (r.role, &r.cell) {
            (Role::Launch, _) if server => "launch (server, in the background)".to_string(),
            (Role::Launch, _) => "launch".to_string(),
            (Role::Client, Some(c)) => format!("client of cell {c}"),
            (Role::Client, None) => "client".to_string(),
        };
        if server && r.role == Role::Launch && self.server_open {
            // A relaunch (a retry, or the server died): stop the old one first.
            let _ = writeln!(s, "matrix_stop");
        }
        let _ = writeln!(s, "# {} {what}", r.started_at);
        let line = command_line(r);
        match r.role {
            Role::Launch if server => {
                let _ = writeln!(s, "setsid {line} &");
                let _ = writeln!(s, "matrix_server=$!");
                match group.and_then(|g| g.ready.as_ref()) {
                    Some((url, timeout)) => {
                        let _ = writeln!(
                            s,
                            "matrix_wait_ready {} {} || matrix_failed=$((matrix_failed + 1))",
                            shell_quote(url),
                            timeout.ceil().max(1.0) as u64
                        );
                    }
                    None => {
                        let _ = writeln!(s, "# (no readiness URL in the plan: not waited for)");
                    }
                }
                self.server_open = true;
            }
            _ => {
                let _ = writeln!(s, "{line} \\\n    || matrix_failed=$((matrix_failed + 1))");
            }
        }
    }

    /// The whole script for the records pushed so far.
    pub fn text(&self) -> String {
        let mut s = String::with_capacity(self.body.len() + 4096);
        self.head(&mut s);
        s.push_str(&self.body);
        if self.server_open {
            let _ = writeln!(s, "matrix_stop");
        }
        let _ = writeln!(
            s,
            "\nif [ \"$matrix_failed\" -gt 0 ]; then\n    \
             echo \"commands.sh: $matrix_failed command(s) failed\" >&2\n    \
             exit 1\nfi"
        );
        s
    }

    fn head(&self, s: &mut String) {
        let ctx = &self.ctx;
        let _ = writeln!(s, "#!/usr/bin/env bash");
        let _ = writeln!(
            s,
            "# commands.sh of run {}: every process the run started, in the order it\n\
             # started them, as they ran (written by matrix {} from commands.jsonl and\n\
             # manifest.json; rewritten after every start, so edits are lost).\n\
             #\n\
             # Run it with bash (`bash commands.sh`); each command line is quoted for any\n\
             # POSIX shell, so a line can be pasted on its own. A server starts in the\n\
             # background in its own process group (setsid), its readiness URL is polled\n\
             # with curl (python3 when curl is missing), then its cells' clients run and\n\
             # the server is stopped (SIGTERM to its group, {SCRIPT_GRACE_S} s, SIGKILL).\n\
             # One-batch processes run in the foreground. Output goes to the terminal; the\n\
             # run's own logs are not touched, but result files named by the commands are\n\
             # written as they were (--result-filename appends, --output-file replaces).\n\
             # Those are this run's own result files: after running this script they hold\n\
             # the new lines too (the run's CSV keeps the numbers of the run).\n\
             #\n\
             # No `set -e`: a command that failed in the run (a failed cell) fails here too\n\
             # and the script goes on, as matrix did; it counts failures and exits 1 if any.",
            ctx.run_id, ctx.matrix_version
        );
        if !self.secrets.is_empty() {
            let _ = writeln!(
                s,
                "#\n# Secrets were recorded masked (***): set {} in your environment; the\n\
                 # commands use your values.",
                self.secrets.join(", ")
            );
        }
        s.push('\n');
        s.push_str(&SCRIPT_FUNCTIONS.replace("GRACE_TENTHS", &(SCRIPT_GRACE_S * 10).to_string()));
        for k in &self.secrets {
            let _ = writeln!(s, ": \"${{{k}:?set {k}: the run recorded it masked}}\"");
        }
        if !ctx.cwd.is_empty() {
            let _ = writeln!(s, "# Where the run was started (manifest.json cwd).");
            let _ = writeln!(s, "cd {} || exit 2", shell_quote(&ctx.cwd));
        }
        if !ctx.env.is_empty() {
            let _ = writeln!(
                s,
                "# The environment matrix ran with (manifest.json env): every command inherited it."
            );
            for (k, v) in &ctx.env {
                let _ = writeln!(s, "export {}", assignment(k, v));
            }
        }
    }
}

/// Is this a multi-node worker rank's launch (`--node-rank N`, N > 0)?
fn worker_rank(argv: &[String]) -> bool {
    argv.iter()
        .position(|a| a == "--node-rank")
        .and_then(|i| argv.get(i + 1))
        .and_then(|r| r.parse::<u32>().ok())
        .is_some_and(|r| r > 0)
}

/// A value recorded masked: a secret-looking name whose value is `***`.
fn masked(k: &str, v: &str) -> bool {
    is_secret(k) && v == "***"
}

fn block_header(s: &mut String, id: &str, group: Option<&ScriptGroup>) {
    let _ = writeln!(s, "# ==== group {id}");
    match group {
        Some(g) => {
            let _ = writeln!(s, "# engine {}, mode {}", g.engine, g.mode);
            let _ = writeln!(s, "# cells: {}", g.cells.join(" "));
        }
        None => {
            let _ = writeln!(s, "# (not in the manifest's plan)");
        }
    }
}

/// `env K=V ... taskset -c LIST argv...`, quoted; secrets masked in the
/// record take the user's value. The line commands.sh runs, and
/// `matrix show RUN CELL` prints.
pub fn command_line(r: &Executed) -> String {
    let mut words: Vec<String> = Vec::new();
    if !r.env.is_empty() {
        words.push("env".into());
        words.extend(r.env.iter().map(|(k, v)| assignment(k, v)));
    }
    if let Some(cpus) = &r.cpus {
        let list: Vec<String> = cpus.iter().map(usize::to_string).collect();
        words.extend(["taskset".into(), "-c".into(), list.join(",")]);
    }
    words.extend(r.argv.iter().map(|a| shell_quote(a)));
    // Long lines break before each option, for reading.
    let mut line = String::new();
    let long = words.iter().map(|w| w.len() + 1).sum::<usize>() > 100;
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            if long && w.starts_with("--") {
                line.push_str(" \\\n    ");
            } else {
                line.push(' ');
            }
        }
        line.push_str(w);
    }
    line
}

/// `K=value` quoted; a secret recorded as `***` becomes `K="${K:?set K}"`.
pub fn assignment(k: &str, v: &str) -> String {
    if masked(k, v) {
        format!("{k}=\"${{{k}:?set {k}}}\"")
    } else {
        format!("{k}={}", shell_quote(v))
    }
}

/// Write `commands.sh` from `commands.jsonl`: via a temporary file and a
/// rename (a reader sees the old or the new script, never a part), mode
/// 0755. Not synced: it is rebuilt from `commands.jsonl` (which is) on the
/// next start or resume.
pub fn write_script(path: &Utf8Path, text: &str) -> Result<(), RecordError> {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = path.with_extension("sh.tmp");
    let mut f =
        File::create(&tmp).map_err(|e| RecordError::io(format!("cannot create {tmp}"), e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.set_permissions(std::fs::Permissions::from_mode(0o755)))
        .map_err(|e| RecordError::io(format!("cannot write {tmp}"), e))?;
    drop(f);
    std::fs::rename(&tmp, path)
        .map_err(|e| RecordError::io(format!("cannot rename {tmp} to {path}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_roundtrip_masked_and_a_torn_line_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8Path::from_path(dir.path())
            .unwrap()
            .join("commands.jsonl");
        let env: IndexMap<String, String> = [("HF_TOKEN", "hf_x"), ("CUDA_VISIBLE_DEVICES", "0")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let argv = vec!["nsys".to_string(), "profile".into(), "a b".into()];
        let e = Executed::now("g1", Some("c1"), Role::Client, &argv, &env, Some(&[2, 3]));
        assert_eq!(e.env["HF_TOKEN"], "***");
        assert_eq!(e.env["CUDA_VISIBLE_DEVICES"], "0");
        let mut log = CommandLog::open(&path).unwrap();
        log.append(&e).unwrap();
        drop(log);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"group\":"))
            .unwrap();
        assert_eq!(CommandLog::read(&path).unwrap(), vec![e.clone()]);
        let mut log = CommandLog::open(&path).unwrap();
        log.append(&e).unwrap();
        assert_eq!(CommandLog::read(&path).unwrap(), vec![e.clone(), e]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"role\":\"client\""), "{text}");
        assert!(text.contains("\"cpus\":[2,3]"), "{text}");
    }

    /// Each string survives a POSIX shell's parsing as one word, unchanged.
    #[test]
    fn shell_quote_round_trips_through_sh() {
        let words = [
            "plain",
            "--tp-size",
            "/a/b.c:d=e,f+g@h%",
            "",
            "a b",
            "it's",
            "''",
            "\"double\"",
            "$HOME",
            "${X:?}",
            "`id`",
            "$(id)",
            "a;b&c|d",
            "*",
            "~",
            "back\\slash",
            "new\nline",
            "tab\there",
            "{\"json\": [1, 2]}",
            "ünïcode",
            "-",
            "#comment",
            "!bang",
        ];
        let line = std::iter::once("printf '%s\\0'".to_string())
            .chain(words.iter().map(|w| shell_quote(w)))
            .collect::<Vec<_>>()
            .join(" ");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&line)
            .output()
            .unwrap();
        assert!(out.status.success(), "{line}");
        let got: Vec<&str> = std::str::from_utf8(&out.stdout)
            .unwrap()
            .split_terminator('\0')
            .collect();
        assert_eq!(got, words, "{line}");
        // Bare only when nothing in it is special to a shell.
        assert_eq!(shell_quote("--port"), "--port");
        assert_eq!(shell_quote("/x/y.json"), "/x/y.json");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("~"), "'~'");
        assert_eq!(shell_quote("*"), "'*'");
    }

    fn ctx() -> ScriptContext {
        let mut env = IndexMap::new();
        env.insert("HF_TOKEN".to_string(), "***".to_string());
        env.insert("MATRIX_SIM_TIME_SCALE".to_string(), "0.001".to_string());
        let mut groups = IndexMap::new();
        groups.insert(
            "glat".to_string(),
            ScriptGroup {
                engine: "sim".into(),
                mode: "latency".into(),
                server: false,
                ready: None,
                cells: vec!["c1".into(), "c2".into()],
            },
        );
        groups.insert(
            "gsrv".to_string(),
            ScriptGroup {
                engine: "sglang".into(),
                mode: "serving".into(),
                server: true,
                ready: Some(("http://127.0.0.1:30000/health".into(), 600.0)),
                cells: vec!["c3".into(), "c4".into()],
            },
        );
        ScriptContext {
            run_id: "20261122-153000_t".into(),
            matrix_version: "0.1.0".into(),
            cwd: "/home/me/bench dir".into(),
            env,
            groups,
        }
    }

    fn rec(
        group: &str,
        cell: Option<&str>,
        role: Role,
        argv: &[&str],
        env: &[(&str, &str)],
        cpus: Option<&[usize]>,
    ) -> Executed {
        Executed {
            group: group.into(),
            cell: cell.map(str::to_string),
            role,
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cpus: cpus.map(<[usize]>::to_vec),
            started_at: "2026-11-22T15:30:00Z".into(),
        }
    }

    /// A latency group (one_batch in the foreground, pinned, with a
    /// retry), then a serving group whose server died once (relaunch),
    /// with a secret in its environment and a client argument with spaces.
    fn records() -> Vec<Executed> {
        let ob = [
            "/usr/bin/python3",
            "-m",
            "sglang.bench_one_batch",
            "--batch-size",
            "1",
            "2",
            "--result-filename",
            "/r/glat/result.jsonl",
        ];
        let server = [
            "python3",
            "-m",
            "sglang.launch_server",
            "--port",
            "30000",
            "--json-model-override-args",
            "{\"a\": 1}",
        ];
        let client = |rate: &str| -> Vec<String> {
            [
                "python3",
                "-m",
                "sglang.bench_serving",
                "--request-rate",
                rate,
                "--tag",
                "it's a test",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        };
        let env = [("CUDA_VISIBLE_DEVICES", "0,1"), ("HF_TOKEN", "***")];
        vec![
            rec(
                "glat",
                None,
                Role::Launch,
                &ob,
                &[("CUDA_VISIBLE_DEVICES", "0")],
                Some(&[0, 1, 2]),
            ),
            rec(
                "glat",
                None,
                Role::Launch,
                &ob[..5],
                &[("CUDA_VISIBLE_DEVICES", "0")],
                Some(&[0, 1, 2]),
            ),
            rec("gsrv", None, Role::Launch, &server, &env, None),
            rec(
                "gsrv",
                Some("c3"),
                Role::Client,
                &client("4").iter().map(String::as_str).collect::<Vec<_>>(),
                &[],
                Some(&[7]),
            ),
            rec("gsrv", None, Role::Launch, &server, &env, None),
            rec(
                "gsrv",
                Some("c4"),
                Role::Client,
                &client("inf").iter().map(String::as_str).collect::<Vec<_>>(),
                &[],
                None,
            ),
        ]
    }

    #[test]
    fn a_worker_rank_runs_in_the_foreground() {
        let argv = ["python3", "-m", "sglang.launch_server", "--node-rank", "1"];
        let text = script(&[rec("gsrv", None, Role::Launch, &argv, &[], None)], &ctx());
        assert!(!text.contains("setsid python3"), "{text}");
        assert!(text.contains("\npython3 -m sglang.launch_server"), "{text}");
        assert!(!text.contains("matrix_wait_ready http"), "{text}");
        let argv = ["python3", "-m", "sglang.launch_server", "--node-rank", "0"];
        let text = script(&[rec("gsrv", None, Role::Launch, &argv, &[], None)], &ctx());
        assert!(text.contains("setsid python3"), "{text}");
    }

    #[test]
    fn script_of_a_latency_and_a_serving_group() {
        let text = script(&records(), &ctx());
        insta::assert_snapshot!("commands_sh", text);
        // The secret's value is never written, only a reference to the user's.
        assert!(!text.contains("HF_TOKEN=***"), "{text}");
        assert!(
            text.contains("HF_TOKEN=\"${HF_TOKEN:?set HF_TOKEN}\""),
            "{text}"
        );
        // The builder one record at a time writes what `script` writes, at
        // every prefix.
        let mut b = ScriptBuilder::new(ctx());
        for (i, r) in records().iter().enumerate() {
            b.push(r);
            assert_eq!(b.text(), script(&records()[..=i], &ctx()));
        }
    }

    /// The script parses (bash -n) and runs its commands in order: a stub
    /// for every program prints its argv, so the quoting and the blocks are
    /// checked by a real shell.
    #[test]
    fn script_runs_under_bash_with_the_exact_argv() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        let log = root.join("argv.log");
        let stub = root.join("stub");
        std::fs::write(
            &stub,
            format!(
                "#!/bin/sh\nfor a in \"$@\"; do printf '%s|' \"$a\" >> {log}; done\necho >> {log}\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let mut c = ctx();
        c.cwd = root.to_string();
        c.groups.clear();
        c.groups.insert(
            "glat".into(),
            ScriptGroup {
                engine: "sim".into(),
                mode: "latency".into(),
                server: false,
                ready: None,
                cells: vec!["c1".into()],
            },
        );
        let recs = vec![
            rec(
                "glat",
                None,
                Role::Launch,
                &[stub.as_str(), "a b", "it's", "$X", ""],
                &[("K", "v w")],
                None,
            ),
            rec(
                "glat",
                None,
                Role::Launch,
                &[
                    "sh",
                    "-c",
                    "printf '%s|' \"$K\" \"$HF_TOKEN\" >> argv.log; echo >> argv.log; exit 3",
                ],
                &[("K", "x"), ("HF_TOKEN", "***")],
                Some(&[0]),
            ),
        ];
        let path = root.join("commands.sh");
        write_script(&path, &script(&recs, &c)).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o755
        );
        let out = std::process::Command::new("bash")
            .arg(&path)
            .env("HF_TOKEN", "mine")
            .output()
            .unwrap();
        // The second command exits 3: counted, the script exits 1.
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "a b|it's|$X||\nx|mine|\n"
        );
        // Without the secret set, the script refuses before running anything.
        std::fs::remove_file(&log).unwrap();
        let out = std::process::Command::new("bash")
            .arg(&path)
            .env_remove("HF_TOKEN")
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&out.stderr).contains("set HF_TOKEN"));
        assert!(!log.exists());
    }
}
