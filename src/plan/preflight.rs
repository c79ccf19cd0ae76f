//! Pre-flight: everything that would make every launch of a run fail,
//! checked once before anything is started or written.
//!
//! This module holds the static checks, pure planning that `matrix plan`
//! makes on a laptop: tokenizer files a client needs, whether the model fits
//! the simulator's GPU memory ([`static_checks`]), and whether a real
//! engine's model fits a known GPU ([`memory_warnings`], a warning for
//! `matrix run`). The checks of the environment (programs runnable, `nsys`
//! on PATH, ports free), which spawn interpreters and bind sockets, belong
//! to the process layer: [`crate::exec::preflight`].
//!
//! Every failure is a [`PreflightError`] (exit code 2) with a hint.

use std::collections::HashMap;

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;
use thiserror::Error;

use super::model::{Group, Plan};

#[derive(Debug, Error)]
pub enum PreflightError {
    #[error("no conf/ found in {dir}: it is not a matrix project folder")]
    NoProject { dir: String },
    #[error("{who} needs the tokenizer file {file}, which is missing from the model folder {dir}")]
    Tokenizer {
        who: String,
        file: String,
        dir: String,
    },
    #[error("group {group} ({model}/{mconf} on the simulator): {message}")]
    NoMemory {
        group: String,
        model: String,
        mconf: String,
        message: String,
    },
}

impl PreflightError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            PreflightError::NoProject { .. } => "run matrix in a project folder (one holding conf/, model_conf/ and matrices/), or name one with --root DIR or MATRIX_ROOT=DIR".into(),
            PreflightError::Tokenizer { dir, .. } => format!(
                "put the model's tokenizer.json and tokenizer_config.json in {dir}, or send random token ids with matrix's built-in client, which need no tokenizer (--set workload.dataset=random-ids)"
            ),
            PreflightError::NoMemory { .. } => "raise mem_fraction_static or tp_size, pick a simulated GPU with more memory (sim_gpu), or use a smaller --mconf".into(),
        })
    }
}

/// `matrix plan`/`run`/`show-config` need a project: `root` must hold conf/.
pub fn check_project(root: &Utf8Path) -> Result<(), PreflightError> {
    if root.join("conf").is_dir() {
        Ok(())
    } else {
        Err(PreflightError::NoProject {
            dir: root.to_string(),
        })
    }
}

/// The checks planning makes: tokenizer files and, on the simulator, GPU
/// memory. `matrix_exe` tells matrix's own client from other programs.
pub fn static_checks(plan: &Plan, root: &Utf8Path, matrix_exe: &str) -> Result<(), PreflightError> {
    check_tokenizers(plan, root, matrix_exe)?;
    let mut fits = FitCache::default();
    for g in plan.groups.iter().filter(|g| is_sim(g)) {
        if let Some(message) = fits.problem(g, root, &g.launch.argv[3..]) {
            return Err(PreflightError::NoMemory {
                group: g.id.clone(),
                model: g.model.clone(),
                mconf: g.mconf.clone(),
                message,
            });
        }
    }
    Ok(())
}

/// Real engines whose weights leave no room for KV cache on `gpu` (the
/// simulator's arithmetic with the group's tp/dp and mem_fraction_static):
/// one warning each, with the numbers. Nothing for groups that do not set
/// mem_fraction_static (the engine picks its own).
pub fn memory_warnings(plan: &Plan, root: &Utf8Path, gpu: &str) -> Vec<String> {
    let mut fits = FitCache::default();
    let mut out = Vec::new();
    for g in plan.groups.iter().filter(|g| !is_sim(g)) {
        let Some(frac) = g.server.get("mem_fraction_static").and_then(Value::as_f64) else {
            continue;
        };
        // Sizes read back from the argv; unreadable ones: no estimate.
        let (Some(tp), Some(dp), Some(gpus)) = (g.tp, g.dp, g.gpu_count()) else {
            continue;
        };
        let (tp, dp) = (tp.max(1), dp.max(1));
        let mut flags: Vec<String> = [
            "--model-path",
            "model",
            "--tp-size",
            &tp.to_string(),
            "--dp-size",
            &dp.to_string(),
            "--mem-fraction-static",
            &frac.to_string(),
            "--sim-gpu",
            gpu,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // DP attention as the launch runs it, the same reading as the GPU count.
        if g.dp_attention() {
            flags.extend(["--attn-dp-size".into(), dp.to_string()]);
        }
        if let Some(message) = fits.problem(g, root, &flags) {
            out.push(format!(
                "group {} ({}/{}, {} on {} x {gpu}, mem_fraction_static {frac}): {message}",
                g.id, g.model, g.mconf, g.engine, gpus
            ));
        }
    }
    out
}

/// The simulator's launch: `<matrix> sim launch-server|one-batch FLAGS`.
fn is_sim(g: &Group) -> bool {
    g.launch.argv.len() >= 3
        && g.launch.argv[1] == "sim"
        && matches!(g.launch.argv[2].as_str(), "launch-server" | "one-batch")
}

/// The simulator's start-up memory check, once per config and flags.
#[derive(Default)]
struct FitCache {
    seen: HashMap<(Utf8PathBuf, Vec<String>), Option<String>>,
}

impl FitCache {
    /// The "not enough memory" message, if the model does not fit. Other
    /// problems of the flags or config are left to the engine's start-up.
    fn problem(&mut self, g: &Group, root: &Utf8Path, flags: &[String]) -> Option<String> {
        let config = root.join(&g.model_dir.source);
        self.seen
            .entry((config.clone(), flags.to_vec()))
            .or_insert_with(|| match crate::sim::check_fit(flags, &config) {
                Err(e @ crate::sim::SimError::NoKvRoom { .. }) => Some(e.to_string()),
                _ => None,
            })
            .clone()
    }
}

/// Tokenizer files a client's `--tokenizer` names: the staged model folder
/// (files from `model_conf/<model>/`) or, for matrix's own client, any
/// local path. matrix's client reads tokenizer.json; Python clients load
/// the folder with Hugging Face, which wants tokenizer_config.json too.
fn check_tokenizers(plan: &Plan, root: &Utf8Path, matrix_exe: &str) -> Result<(), PreflightError> {
    let mut present: HashMap<Utf8PathBuf, bool> = HashMap::new();
    let mut exists = |p: Utf8PathBuf| *present.entry(p.clone()).or_insert_with(|| p.is_file());
    for g in &plan.groups {
        let source_dir = root
            .join(&g.model_dir.source)
            .parent()
            .map(Utf8Path::to_owned)
            .unwrap_or_else(|| root.to_owned());
        for c in &g.cells {
            let Some(client) = &c.client else { continue };
            let argv = &client.argv;
            let own = argv.first().is_some_and(|a| a == matrix_exe);
            let files: &[&str] = if own {
                &["tokenizer.json"]
            } else {
                &["tokenizer.json", "tokenizer_config.json"]
            };
            for (i, a) in argv.iter().enumerate() {
                let Some(value) = argv.get(i + 1).filter(|_| a == "--tokenizer") else {
                    continue;
                };
                let dir = if *value == g.model_dir.dir {
                    source_dir.clone()
                } else if own {
                    let p = Utf8PathBuf::from(value);
                    if !p.is_dir() {
                        if exists(p.clone()) {
                            continue;
                        }
                        return Err(PreflightError::Tokenizer {
                            who: who(g, &c.id, argv),
                            file: shown(root, &p),
                            dir: p.parent().map(|d| shown(root, d)).unwrap_or_default(),
                        });
                    }
                    p
                } else {
                    // A Hub id or the served model name: not a local folder.
                    continue;
                };
                for f in files {
                    if !exists(dir.join(f)) {
                        return Err(PreflightError::Tokenizer {
                            who: who(g, &c.id, argv),
                            file: (*f).to_string(),
                            dir: format!("{}/", shown(root, &dir)),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

fn who(g: &Group, cell: &str, argv: &[String]) -> String {
    let name = argv
        .first()
        .map(|a| Utf8Path::new(a).file_name().unwrap_or(a).to_string());
    let program = name
        .into_iter()
        .chain(
            argv.iter()
                .skip(1)
                .take_while(|a| !a.starts_with("--"))
                .cloned(),
        )
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "the client `{program}` of cell {cell} (group {g_id})",
        g_id = g.id
    )
}

fn shown(root: &Utf8Path, p: &Utf8Path) -> String {
    p.strip_prefix(root)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| p.to_string())
}
