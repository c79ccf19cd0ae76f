//! Why an engine process failed, read from the tail of its log: the
//! engine's own error line (not the last line, which for Python engines is
//! often noise: a tqdm bar, `Killed`, a traceback frame), its hint where it
//! printed one, and whether a retry could change the outcome.

use std::fmt::Write as _;

/// The longest error line or hint kept in a message.
const MAX_CHARS: usize = 300;

/// What kind of failure a log tail and exit code show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Out of memory while loading (`not enough memory`, a CUDA OOM, ...).
    OutOfMemory,
    /// `ModuleNotFoundError` / `No module named ...`: the engine is not
    /// installed for the interpreter the profile names.
    MissingModule,
    /// The engine rejected its command line (argparse `error: argument`,
    /// `error: unrecognized arguments`, usage errors with exit code 2).
    BadArgument,
    /// The program could not be started (exit 127/126, spawn failure).
    NotFound,
    /// Anything else: a crash, a signal, an unexplained exit.
    Other,
}

impl FailureClass {
    /// A retry cannot change the outcome (same argv, same machine).
    pub fn permanent(self) -> bool {
        !matches!(self, FailureClass::Other)
    }

    /// What the user can do about a start failure of this class, when the
    /// engine said nothing.
    pub fn hint(self) -> Option<&'static str> {
        match self {
            FailureClass::OutOfMemory => Some(
                "the model does not fit at start: raise tp_size, raise mem_fraction_static, or use a smaller model config",
            ),
            FailureClass::MissingModule => Some(
                "the engine is not installed for that interpreter: install it, or point `python` under `vars:` in the engine profile at one that has it",
            ),
            FailureClass::BadArgument => Some(
                "the engine rejected its command line: compare `matrix plan` with the installed engine's --help (MATRIX_FLAGS=installed checks flags against it)",
            ),
            FailureClass::NotFound => Some(
                "the program is not installed or not executable: check the engine profile's `vars:` and PATH",
            ),
            FailureClass::Other => None,
        }
    }
}

/// A failed engine process as read from its log tail and exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The engine's own error line (or the last meaningful line).
    pub line: Option<String>,
    /// The engine's own `hint:` line (the simulator prints one).
    pub hint: Option<String>,
    pub class: FailureClass,
}

impl Failure {
    /// Read `tail` (the last lines of the log) of a process that exited
    /// with `code` (None: killed by a signal, or still running).
    pub fn read(tail: &str, code: Option<i32>) -> Failure {
        let lines: Vec<String> = tail.lines().map(clean).collect();
        let exception = final_exception(&lines);
        let found = exception.or_else(|| find_error(&lines));
        let class = classify(&lines, exception, code);
        let hint = found.and_then(|i| hint_after(&lines, i));
        let line = found
            .map(|i| error_text(&lines, i))
            .or_else(|| last_meaningful(&lines));
        Failure {
            line: line.map(|l| shorten(&l)),
            hint: hint.map(|h| shorten(&h)),
            class,
        }
    }

    /// A start failure: `<what>: <engine's error line>; hint: <hint>`, the
    /// hint the engine's own, else matrix's for the class; each part where
    /// known.
    pub fn message(&self, what: &str) -> String {
        let hint = self.hint.as_deref().or(self.class.hint());
        self.render(what, hint)
    }

    /// A failure after the start (a crash under load, a client error):
    /// like [`Failure::message`] with the engine's hint only, since matrix's
    /// hints are about starting.
    pub fn message_engine_hint(&self, what: &str) -> String {
        self.render(what, self.hint.as_deref())
    }

    fn render(&self, what: &str, hint: Option<&str>) -> String {
        let mut s = what.to_string();
        if let Some(l) = &self.line {
            let _ = write!(s, ": {l}");
        }
        if let Some(h) = hint {
            let _ = write!(s, "; hint: {h}");
        }
        s
    }
}

/// The engine's own error line in a log tail, or the last meaningful line
/// when there is none; empty when the tail has nothing but noise.
pub fn error_line(tail: &str) -> String {
    Failure::read(tail, None).line.unwrap_or_default()
}

/// ANSI colours removed, only the text after the last carriage return
/// (what a terminal shows of a tqdm bar), trimmed.
fn clean(line: &str) -> String {
    let visible = line
        .rsplit('\r')
        .find(|s| !s.trim().is_empty())
        .unwrap_or("");
    let mut out = String::with_capacity(visible.len());
    let mut chars = visible.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    let out = out.trim();
    // torch.distributed prefixes every line a rank prints: `[rank0]: ...`.
    match out.strip_prefix("[rank").and_then(|r| r.split_once("]:")) {
        Some((n, rest)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            rest.trim().to_string()
        }
        _ => out.to_string(),
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= MAX_CHARS {
        return s.to_string();
    }
    let mut t: String = s.chars().take(MAX_CHARS).collect();
    t.push('…');
    t
}

/// Index of the exception that ended the process: the first exception
/// line after the last `Traceback (most recent call last):` (SGLang prints
/// it after `Scheduler hit an exception: `, so anywhere in a line); with no
/// traceback header in the tail (cut off), the last exception line. None
/// when the last traceback has no exception line yet (the tail ends inside
/// it) or there is no exception line at all.
///
/// This line wins over lines that merely mention a cause: SGLang logs
/// `Ignore import error when loading sglang.srt.models.X: No module named
/// 'Y'` at every start, and a later crash must not read as a missing module.
fn final_exception(lines: &[String]) -> Option<usize> {
    match lines
        .iter()
        .rposition(|l| l.contains("Traceback (most recent call last)"))
    {
        Some(h) => (h + 1..lines.len()).find(|&i| is_exception_line(&lines[i])),
        None => lines.iter().rposition(|l| is_exception_line(l)),
    }
}

/// Index of the engine's error line when no exception ended the process:
/// the last line naming a cause (memory, missing module, argparse), else
/// the last Python exception line, else the last line that says error.
fn find_error(lines: &[String]) -> Option<usize> {
    let last = |pred: &dyn Fn(&str) -> bool| lines.iter().rposition(|l| pred(l));
    last(&|l| cause_of(l).is_some())
        .or_else(|| last(&is_exception_line))
        .or_else(|| last(&says_error))
}

/// The class a single line names, if any.
fn cause_of(line: &str) -> Option<FailureClass> {
    let lower = line.to_ascii_lowercase();
    if line.contains("No module named") || line.starts_with("ModuleNotFoundError") {
        Some(FailureClass::MissingModule)
    } else if lower.contains("out of memory")
        || lower.contains("not enough memory")
        || line.contains("OutOfMemoryError")
    {
        Some(FailureClass::OutOfMemory)
    } else if is_argparse_error(line) {
        Some(FailureClass::BadArgument)
    } else {
        None
    }
}

/// argparse (`prog: error: unrecognized arguments: ...`, `prog: error:
/// argument --x: invalid int value`, `... the following arguments are
/// required`) and the simulator's copies of those lines.
fn is_argparse_error(line: &str) -> bool {
    let Some(i) = line.find("error: ") else {
        return false;
    };
    let prefix = &line[..i];
    // `error: ...` at the start (matrix sim) or `prog: error: ...` (argparse).
    let shaped = prefix.is_empty() || (prefix.ends_with(": ") && !prefix.trim().contains(' '));
    let msg = &line[i + "error: ".len()..];
    shaped
        && [
            "unrecognized argument",
            "argument ",
            "the following arguments are required",
            "invalid choice",
        ]
        .iter()
        .any(|m| msg.starts_with(m))
}

/// `RuntimeError: ...`, `torch.OutOfMemoryError: ...`, `Exception: ...`,
/// a bare `AssertionError`: the last line of a Python traceback.
fn is_exception_line(line: &str) -> bool {
    let name = line.split_once(':').map_or(line, |(n, _)| n);
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && name
            .rsplit('.')
            .next()
            .is_some_and(|last| last.ends_with("Error") || last.ends_with("Exception"))
}

fn says_error(line: &str) -> bool {
    (line.contains("Error") || line.contains("error:") || line.starts_with("ERROR"))
        && !is_noise(line)
}

/// Lines that never explain a failure on their own.
fn is_noise(line: &str) -> bool {
    line.is_empty()
        || line == "Killed"
        || line.starts_with("Traceback (most recent call last)")
        || line.starts_with("File \"")
        || line.starts_with("During handling of the above exception")
        || line.starts_with("The above exception was the direct cause")
        || line.starts_with("hint:")
        || line.starts_with("caused by:")
        || line.chars().all(|c| "^~-=_*|".contains(c))
        || is_progress_bar(line)
}

/// A tqdm bar: `Loading: 40%|████      | 2/5 [00:01<00:02, ...]`.
fn is_progress_bar(line: &str) -> bool {
    line.contains("%|") && line.contains('|')
}

/// The error line, without the `error: ` prefix the simulator (and matrix)
/// print, followed by its `caused by:` lines.
fn error_text(lines: &[String], i: usize) -> String {
    let mut s = lines[i]
        .strip_prefix("error: ")
        .unwrap_or(&lines[i])
        .to_string();
    for l in &lines[i + 1..] {
        match l.strip_prefix("caused by: ") {
            Some(c) => {
                s.push_str(": ");
                s.push_str(c);
            }
            None => break,
        }
    }
    s
}

/// A `hint:` line printed after the error line (the simulator's shape).
fn hint_after(lines: &[String], i: usize) -> Option<String> {
    lines[i + 1..]
        .iter()
        .find_map(|l| l.strip_prefix("hint:").map(|h| h.trim().to_string()))
        .filter(|h| !h.is_empty())
}

fn last_meaningful(lines: &[String]) -> Option<String> {
    lines
        .iter()
        .rev()
        .find(|l| !is_noise(l))
        .or_else(|| lines.iter().rev().find(|l| !l.is_empty()))
        .cloned()
}

/// The class of a failure: what the final exception line names when
/// there is one (see [`final_exception`]), else what any line names; else
/// what the exit code says (127/126: not found or not executable; 2 with
/// an `error:` or `usage:` line and no exception: argparse), else
/// [`FailureClass::Other`].
fn classify(lines: &[String], exception: Option<usize>, code: Option<i32>) -> FailureClass {
    let named = match exception {
        Some(i) => cause_of(&lines[i]),
        None => lines.iter().rev().find_map(|l| cause_of(l)),
    };
    if let Some(c) = named {
        return c;
    }
    match code {
        Some(127 | 126) => FailureClass::NotFound,
        Some(2)
            if exception.is_none()
                && lines
                    .iter()
                    .any(|l| l.starts_with("usage:") || l.contains("error: ")) =>
        {
            FailureClass::BadArgument
        }
        _ => FailureClass::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SGLANG_NO_MEMORY: &str = "\
[2025-11-02 10:00:01] Load weight end. type=Qwen3ForCausalLM, dtype=torch.bfloat16, avail mem=2.10 GB
[2025-11-02 10:00:01] Scheduler hit an exception: Traceback (most recent call last):
  File \"/sgl-workspace/sglang/python/sglang/srt/managers/scheduler.py\", line 3012, in run_scheduler_process
    scheduler = Scheduler(server_args, port_args, gpu_id, tp_rank, moe_ep_rank, pp_rank, dp_rank)
  File \"/sgl-workspace/sglang/python/sglang/srt/model_executor/model_runner.py\", line 1620, in init_memory_pool
    raise RuntimeError(
RuntimeError: Not enough memory. Please try to increase --mem-fraction-static.

[2025-11-02 10:00:01] Received sigquit from a child process. It usually means the child failed.
Killed
";

    #[test]
    fn sglang_start_oom_is_the_runtime_error_not_killed() {
        let f = Failure::read(SGLANG_NO_MEMORY, None);
        assert_eq!(
            f.line.as_deref(),
            Some("RuntimeError: Not enough memory. Please try to increase --mem-fraction-static.")
        );
        assert_eq!(f.class, FailureClass::OutOfMemory);
        assert!(f.class.permanent());
    }

    #[test]
    fn simulator_error_keeps_its_hint() {
        let tail = "error: not enough memory: weights need 672.99 GB but only 70.40 GB is available for weights and KV cache\n  hint: raise --mem-fraction-static, --tp-size or --sim-gpu memory, or use a smaller model config\n";
        let f = Failure::read(tail, Some(1));
        assert_eq!(f.class, FailureClass::OutOfMemory);
        assert_eq!(
            f.message("server exited while starting (exit status: 1)"),
            "server exited while starting (exit status: 1): not enough memory: weights need 672.99 GB but only 70.40 GB is available for weights and KV cache; hint: raise --mem-fraction-static, --tp-size or --sim-gpu memory, or use a smaller model config"
        );
    }

    #[test]
    fn caused_by_lines_join_the_error_line() {
        let tail = "error: cannot read model config /m/config.json\n  caused by: No such file or directory (os error 2)\n  hint: check the path\n";
        let f = Failure::read(tail, Some(2));
        assert_eq!(
            f.line.as_deref(),
            Some("cannot read model config /m/config.json: No such file or directory (os error 2)")
        );
        assert_eq!(f.hint.as_deref(), Some("check the path"));
        assert_eq!(f.class, FailureClass::BadArgument, "exit 2 with error:");
    }

    #[test]
    fn missing_module_is_permanent() {
        let tail = "Traceback (most recent call last):\n  File \"<frozen runpy>\", line 189, in _run_module_as_main\n  File \"<frozen runpy>\", line 148, in _get_module_details\nModuleNotFoundError: No module named 'sglang'\n";
        let f = Failure::read(tail, Some(1));
        assert_eq!(
            f.line.as_deref(),
            Some("ModuleNotFoundError: No module named 'sglang'")
        );
        assert_eq!(f.class, FailureClass::MissingModule);
        assert_eq!(f.hint, None, "sglang prints no hint");
        assert!(
            f.message("x")
                .contains("; hint: the engine is not installed")
        );
        assert_eq!(
            f.message_engine_hint("x"),
            "x: ModuleNotFoundError: No module named 'sglang'"
        );
        assert!(f.class.permanent());
    }

    /// SGLang's start-up warning about an optional model's import, then a
    /// transient crash while loading.
    const SGLANG_IMPORT_WARNING_THEN_NCCL: &str = "\
[2025-11-02 10:00:00] Ignore import error when loading sglang.srt.models.deepseek_janus_pro: No module named 'timm'
[2025-11-02 10:00:00] Ignore import error when loading sglang.srt.models.mllama4: No module named 'transformers.models.llama4'
[2025-11-02 10:00:05] Init torch distributed begin.
[2025-11-02 10:00:07] Scheduler hit an exception: Traceback (most recent call last):
  File \"/sgl-workspace/sglang/python/sglang/srt/managers/scheduler.py\", line 3012, in run_scheduler_process
    scheduler = Scheduler(server_args, port_args, gpu_id, tp_rank, moe_ep_rank, pp_rank, dp_rank)
  File \"/usr/lib/python3/dist-packages/torch/distributed/distributed_c10d.py\", line 2806, in all_reduce
    work = group.allreduce([tensor], opts)
RuntimeError: NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:1970, unhandled system error, NCCL version 2.21.5

[2025-11-02 10:00:07] Received sigquit from a child process. It usually means the child failed.
Killed
";

    #[test]
    fn import_warning_does_not_beat_a_later_crash() {
        let f = Failure::read(SGLANG_IMPORT_WARNING_THEN_NCCL, Some(1));
        assert_eq!(
            f.line.as_deref(),
            Some(
                "RuntimeError: NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:1970, unhandled system error, NCCL version 2.21.5"
            )
        );
        assert_eq!(f.class, FailureClass::Other);
        assert!(!f.class.permanent(), "a retry can get past an NCCL error");
        assert_eq!(f.hint, None);
    }

    #[test]
    fn rank_prefixed_traceback_is_read_like_a_plain_one() {
        let tail = "\
[rank0]: Traceback (most recent call last):
[rank0]:   File \"/x/sglang/srt/managers/scheduler.py\", line 2000, in run_scheduler_process
[rank0]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB
[rank1]: RuntimeError: NCCL communicator was aborted
";
        let f = Failure::read(tail, Some(1));
        assert_eq!(
            f.line.as_deref(),
            Some("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")
        );
        assert_eq!(f.class, FailureClass::OutOfMemory);
    }

    #[test]
    fn import_warning_then_a_real_missing_module_is_permanent() {
        let tail = "\
[2025-11-02 10:00:00] Ignore import error when loading sglang.srt.models.mllama4: No module named 'transformers.models.llama4'
Traceback (most recent call last):
  File \"<frozen runpy>\", line 198, in _run_module_as_main
  File \"/x/sglang/launch_server.py\", line 7, in <module>
    from sglang.srt.entrypoints.http_server import launch_server
ModuleNotFoundError: No module named 'sglang'
";
        let f = Failure::read(tail, Some(1));
        assert_eq!(
            f.line.as_deref(),
            Some("ModuleNotFoundError: No module named 'sglang'")
        );
        assert_eq!(f.class, FailureClass::MissingModule);
        assert!(f.class.permanent());
    }

    #[test]
    fn the_last_traceback_decides_and_its_first_exception_line() {
        // An earlier handled OOM traceback, then a transient crash whose
        // message runs over two lines, the second looking like an exception.
        let tail = "\
Traceback (most recent call last):
  File \"/x/a.py\", line 1, in f
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB
retrying with a smaller graph
Traceback (most recent call last):
  File \"/x/b.py\", line 2, in g
RuntimeError: worker 3 died
ValueError: from the worker
";
        let f = Failure::read(tail, Some(1));
        assert_eq!(f.line.as_deref(), Some("RuntimeError: worker 3 died"));
        assert_eq!(f.class, FailureClass::Other);
    }

    #[test]
    fn a_traceback_without_its_exception_line_falls_back_to_the_scan() {
        let cut = "starting\nTraceback (most recent call last):\n  File \"/x/a.py\", line 1, in f\nCUDA out of memory while capturing graphs\n";
        let f = Failure::read(cut, Some(1));
        assert_eq!(
            f.line.as_deref(),
            Some("CUDA out of memory while capturing graphs")
        );
        assert_eq!(f.class, FailureClass::OutOfMemory);
        let headless = "  File \"/x/a.py\", line 1, in f\nRuntimeError: boom\nexiting\n";
        let f = Failure::read(headless, Some(1));
        assert_eq!(f.line.as_deref(), Some("RuntimeError: boom"));
        assert_eq!(f.class, FailureClass::Other);
    }

    #[test]
    fn argparse_errors_are_bad_arguments() {
        for (tail, want) in [
            (
                "usage: launch_server.py [-h] --model-path MODEL_PATH\nlaunch_server.py: error: unrecognized arguments: --bogus 1\n",
                "launch_server.py: error: unrecognized arguments: --bogus 1",
            ),
            (
                "usage: one_batch.py [-h]\none_batch.py: error: argument --tp-size: invalid int value: 'x'\n",
                "one_batch.py: error: argument --tp-size: invalid int value: 'x'",
            ),
            (
                "error: argument --tp-size: invalid value \"x\": not an integer\n",
                "argument --tp-size: invalid value \"x\": not an integer",
            ),
        ] {
            let f = Failure::read(tail, Some(2));
            assert_eq!(f.line.as_deref(), Some(want), "{tail}");
            assert_eq!(f.class, FailureClass::BadArgument, "{tail}");
        }
    }

    #[test]
    fn a_crash_is_transient_and_names_its_exception() {
        let tail = "Traceback (most recent call last):\n  File \"/x/model_runner.py\", line 402, in __init__\n    self.load_model()\nRuntimeError: simulated crash during model loading (MATRIX_SIM_FAULT crash_at_start)\n";
        let f = Failure::read(tail, Some(3));
        assert_eq!(f.class, FailureClass::Other);
        assert!(!f.class.permanent());
        assert_eq!(f.hint, None);
        assert_eq!(
            f.message("server exited while starting (exit status: 3)"),
            "server exited while starting (exit status: 3): RuntimeError: simulated crash during model loading (MATRIX_SIM_FAULT crash_at_start)"
        );
    }

    #[test]
    fn noise_is_skipped_when_nothing_says_error() {
        let tail = "starting engine\nwarming up\nLoading safetensors: 40%|████      | 2/5 [00:01<00:02]\r\nKilled\n\n";
        assert_eq!(error_line(tail), "warming up");
        let bar = "Loading: 10%|█ | 1/9\rLoading: 20%|██ | 2/9\r";
        assert_eq!(
            error_line(bar),
            "Loading: 20%|██ | 2/9",
            "only noise: keep it"
        );
        assert_eq!(error_line(""), "");
    }

    #[test]
    fn exit_codes_classify_when_the_log_does_not() {
        assert_eq!(Failure::read("", Some(127)).class, FailureClass::NotFound);
        assert_eq!(
            Failure::read("usage: x [-h]\n", Some(2)).class,
            FailureClass::BadArgument
        );
        assert_eq!(Failure::read("bye\n", Some(2)).class, FailureClass::Other);
        assert_eq!(Failure::read("bye\n", None).class, FailureClass::Other);
    }

    #[test]
    fn cuda_oom_and_colours() {
        let tail = "\u{1b}[31mtorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\u{1b}[0m\n[rank0] exiting\n";
        let f = Failure::read(tail, None);
        assert_eq!(
            f.line.as_deref(),
            Some("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")
        );
        assert_eq!(f.class, FailureClass::OutOfMemory);
    }

    #[test]
    fn long_lines_are_shortened() {
        let long = format!("RuntimeError: {}", "x".repeat(1000));
        let l = error_line(&long);
        assert_eq!(l.chars().count(), MAX_CHARS + 1);
        assert!(l.ends_with('…'));
    }
}
