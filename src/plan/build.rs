//! Building the plan: render every launch and client command, group cells,
//! check every flag. Pure: nothing is spawned or written.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use camino::{Utf8Path, Utf8PathBuf};
use indexmap::IndexMap;
use minijinja::value::Value as Mj;
use serde_json::Value;

use crate::config::engine::{EngineProfile, Exec};
use crate::config::yaml::{Origin, YamlFile};
use crate::matrix::cell::hash_of;
use crate::matrix::expand::{ExpandInput, expand};
use crate::matrix::scope::{self, overlay};
use crate::matrix::{Cell, Setup};

use super::PlanError;
use super::model::*;
use super::render::{self, Compiled, KeyOrigin, check_argv, compile};
use super::source::{self, EngineFlags, Preference};
use super::translate;

/// What planning needs beyond the matrix.
#[derive(Debug, Clone)]
pub struct PlanInput {
    pub expand: ExpandInput,
    pub ip: Option<String>,
    pub rank: Option<u32>,
    pub run_name: Option<String>,
    /// The `matrix` executable, for templates (`{{ matrix_exe }}`).
    pub matrix_exe: String,
    /// Run id timestamp, `YYYYMMDD-HHMMSS`.
    pub timestamp: String,
    pub flags: Preference,
}

const RUN_DIR: &str = "@RUN_DIR@";
const GROUP: &str = "@GROUP@";

/// Expand, render, group and check.
pub fn build(input: &PlanInput) -> Result<Plan, PlanError> {
    let root = &input.expand.root;
    let exp =
        expand(&input.expand).map_err(|e| super::flat::explain(e.into(), root, input.flags))?;
    let run_id = run_id(input, &exp.cells);
    let results_dir = exp.cells[0]
        .setup
        .resolved
        .sections
        .run
        .get("results_dir")
        .and_then(Value::as_str)
        .unwrap_or("results")
        .to_string();
    let run_dir = absolute(root, &results_dir)
        .join("raw_output")
        .join(&run_id);

    let mut engines: IndexMap<String, (EngineProfile, EngineFlags)> = IndexMap::new();
    for cell in &exp.cells {
        let name = &cell.setup.choices.engine;
        if !engines.contains_key(name) {
            let profile = EngineProfile::load(root, name)?;
            let flags = source::load(&profile, input.flags)?;
            engines.insert(name.clone(), (profile, flags));
        }
    }
    let mut groups = Vec::new();
    for (name, (profile, flags)) in &engines {
        let cells: Vec<&Cell> = exp
            .cells
            .iter()
            .filter(|c| &c.setup.choices.engine == name)
            .collect();
        let env = scope::environment();
        let mut planner = Planner::new(input, profile, flags, root, &env)?;
        groups.extend(planner.groups(&cells)?);
    }
    let dir = run_dir.to_string();
    for g in &mut groups {
        finish_paths(g, &dir);
    }
    Ok(Plan {
        run_id,
        run_dir: dir,
        matrix: exp.matrix.as_ref().map(|m| m.file.display.clone()),
        bsz_seq: exp.bsz_seq.clone(),
        axes: exp.axes.clone(),
        flag_tables: engines
            .iter()
            .map(|(n, (_, f))| {
                let mut s = f.server.source.clone();
                if let Some(l) = &f.latency {
                    s.push_str(&format!("; latency: {}", l.source));
                }
                (n.clone(), s)
            })
            .collect(),
        engine_versions: engines
            .iter()
            .map(|(n, (_, f))| {
                let v = if n == "sim" {
                    // Built in: the simulator is this matrix.
                    EngineVersion {
                        version: Some(format!("matrix {}", env!("CARGO_PKG_VERSION"))),
                        reason: None,
                    }
                } else {
                    f.version.clone()
                };
                (n.clone(), v)
            })
            .collect(),
        groups,
        pruned: exp.pruned,
        excluded: exp.excluded,
        warnings: Vec::new(),
        profile: None,
    })
}

fn absolute(root: &Utf8Path, p: &str) -> Utf8PathBuf {
    let p = Utf8Path::new(p);
    if p.is_absolute() {
        p.to_owned()
    } else {
        root.join(p)
    }
}

/// `20261122-153000_qwen_2l`: sorts by time and says what ran.
fn run_id(input: &PlanInput, cells: &[Cell]) -> String {
    let name = match &input.run_name {
        Some(n) => n.clone(),
        None => {
            let mut parts: Vec<String> = Vec::new();
            for c in cells {
                let p = format!("{}_{}", c.setup.choices.model, c.setup.choices.mconf);
                if !parts.contains(&p) {
                    parts.push(p);
                }
            }
            if parts.len() > 3 {
                parts.truncate(3);
                parts.push("more".into());
            }
            parts.join("+")
        }
    };
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_+.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{}_{clean}", input.timestamp)
}

/// Replace the placeholders once the group ids are known.
fn finish_paths(g: &mut Group, run_dir: &str) {
    let id = g.id.clone();
    let fix_id = |s: &mut String| {
        if s.contains('@') {
            *s = s.replace(RUN_DIR, run_dir).replace(GROUP, &id);
        }
    };
    g.launch.argv.iter_mut().for_each(fix_id);
    g.launch.env.values_mut().for_each(fix_id);
    fix_id(&mut g.model_dir.dir);
    if let Some(r) = &mut g.results {
        fix_id(&mut r.file);
    }
    for c in &mut g.cells {
        if let Some(cl) = &mut c.client {
            cl.argv.iter_mut().for_each(fix_id);
            cl.env.values_mut().for_each(fix_id);
        }
        if let Some(r) = &mut c.results {
            fix_id(&mut r.file);
        }
    }
}

/// Renders the groups of one engine.
struct Planner<'a> {
    input: &'a PlanInput,
    profile: &'a EngineProfile,
    flags: &'a EngineFlags,
    root: &'a Utf8Path,
    env: &'a minijinja::Environment<'a>,
    vars: BTreeMap<String, Mj>,
    /// Server flags (+ dist flags) per setup, rendered once.
    rendered: HashMap<*const Setup, Arc<Flags>>,
    /// Setups that render the same launch share a class number.
    classes: HashMap<*const Setup, usize>,
    class_ids: HashMap<String, usize>,
    /// Parsed config.json per model variant (`{{ model_config.vocab_size }}`).
    configs: HashMap<Utf8PathBuf, Mj>,
}

/// Rendered server flags and multi-node flags of a setup.
type Flags = (Vec<String>, Vec<String>);

/// (launch class, bsz_seq line, output length).
type BucketKey = (usize, Option<usize>, Option<u64>);

impl<'a> Planner<'a> {
    fn new(
        input: &'a PlanInput,
        profile: &'a EngineProfile,
        flags: &'a EngineFlags,
        root: &'a Utf8Path,
        env: &'a minijinja::Environment<'a>,
    ) -> Result<Self, PlanError> {
        let vars = render_vars(env, profile, input)?;
        Ok(Planner {
            input,
            profile,
            flags,
            root,
            env,
            vars,
            rendered: HashMap::new(),
            classes: HashMap::new(),
            class_ids: HashMap::new(),
            configs: HashMap::new(),
        })
    }

    fn groups(&mut self, cells: &[&Cell]) -> Result<Vec<Group>, PlanError> {
        let mut out = Vec::new();
        for &mode in crate::matrix::axis::MODES {
            let mode_cells: Vec<&Cell> =
                cells.iter().copied().filter(|c| c.mode() == mode).collect();
            if mode_cells.is_empty() {
                continue;
            }
            let spec = self.profile.mode(mode)?;
            let base = format!("modes.{mode}.launch");
            let origin = |p: &str| self.profile.origin(p);
            let launch = compile(self.env, &spec.launch, &origin, &base)?;
            let exec = spec.exec();
            let mut buckets: IndexMap<BucketKey, Vec<&Cell>> = IndexMap::new();
            for c in &mode_cells {
                let key = self.bucket_key(c, mode, exec)?;
                buckets.entry(key).or_default().push(c);
            }
            for (_, bucket) in buckets {
                for sub in split_products(bucket, exec) {
                    out.push(self.group(&sub, mode, &launch)?);
                }
            }
        }
        Ok(out)
    }

    /// Cells with the same key share one launch: the rendered server flags
    /// and environment (computed once per setup and numbered), plus the model
    /// and, for a one_batch process, the bsz_seq line and output length.
    fn bucket_key(&mut self, cell: &Cell, mode: &str, exec: Exec) -> Result<BucketKey, PlanError> {
        let ptr = Arc::as_ptr(&cell.setup);
        let class = match self.classes.get(&ptr) {
            Some(c) => *c,
            None => {
                let flags = self.server_flags(&cell.setup, mode)?;
                let s = &cell.setup;
                let text = serde_json::to_string(&(
                    &flags.0,
                    &flags.1,
                    &s.resolved.sections.env,
                    &s.choices.model,
                    &s.choices.mconf,
                ))
                .unwrap_or_default();
                let next = self.class_ids.len();
                let c = *self.class_ids.entry(text).or_insert(next);
                self.classes.insert(ptr, c);
                c
            }
        };
        Ok(match exec {
            Exec::Process => (class, cell.line, cell.workload_u64("output_len")),
            Exec::Server => (class, None, None),
        })
    }

    fn server_flags(&mut self, setup: &Arc<Setup>, mode: &str) -> Result<Arc<Flags>, PlanError> {
        let key = Arc::as_ptr(setup);
        if let Some(f) = self.rendered.get(&key) {
            return Ok(f.clone());
        }
        let table = self.table(mode)?;
        let origins = SetupOrigins {
            setup,
            root: self.root,
        };
        let translated = translate::translate(self.profile, self.env, setup.server(), &origins)?;
        let flags = render::server_flags(
            &translated.server,
            table,
            &self.profile.name,
            &self.flags.extra,
            &self.profile.spec.managed,
            &translate::TranslatedOrigins {
                inner: &origins,
                translated: &translated,
            },
        )
        .map_err(|e| self.untranslated_note(e))?;
        let dist = self.dist_flags(setup)?;
        let f = Arc::new((flags, dist));
        self.rendered.insert(key, f.clone());
        Ok(f)
    }

    /// The model variant's config.json as a template value, read once.
    fn model_config(&mut self, path: &Utf8Path) -> Result<Mj, PlanError> {
        if let Some(v) = self.configs.get(path) {
            return Ok(v.clone());
        }
        let fail = |message: String| {
            PlanError::Config(crate::config::ConfigError::Engine {
                origin: Origin {
                    file: shown(self.root, path),
                    location: None,
                },
                message,
                hint: Some(
                    "model_conf/<model>/config_<mconf>.json must be an HF config.json object"
                        .into(),
                ),
            })
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let json: Value = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
        let v = Mj::from_serialize(&json);
        self.configs.insert(path.to_owned(), v.clone());
        Ok(v)
    }

    /// On an engine that translates shared keys, an unknown key is most
    /// likely an SGLang key without a translation: say where to add one.
    fn untranslated_note(&self, mut e: PlanError) -> PlanError {
        if let PlanError::UnknownFlag { key, note, .. } = &mut e {
            if !self.profile.spec.translate.is_empty() {
                let file = self.profile.origin("translate").file;
                *note = Some(format!(
                    "shared layers use SGLang's key names: map `{key}` under `translate:` in {file}, or move it under `engines.sglang.server:` in its layer if only SGLang understands it"
                ));
            }
        }
        e
    }

    /// `--dist-init-addr IP:PORT --node-rank N` on multi-node deployments.
    fn dist_flags(&self, setup: &Setup) -> Result<Vec<String>, PlanError> {
        let nnodes = setup.size("nnodes");
        let deploy = setup.choices.deploy.as_deref().unwrap_or("(none)");
        if nnodes <= 1 {
            if self.input.rank.is_some_and(|r| r > 0) {
                return Err(PlanError::MultiNode {
                    message: format!("--rank given, but deploy `{deploy}` runs on one node"),
                });
            }
            return Ok(Vec::new());
        }
        let ip = self.input.ip.as_deref().ok_or_else(|| PlanError::MultiNode {
            message: format!("deploy `{deploy}` spans {nnodes} nodes (nnodes: {nnodes}) but no --ip MASTER was given"),
        })?;
        let rank = self.input.rank.unwrap_or(0);
        if u64::from(rank) >= nnodes {
            return Err(PlanError::MultiNode {
                message: format!(
                    "--rank {rank} is out of range for {nnodes} nodes (0..{})",
                    nnodes - 1
                ),
            });
        }
        let port = dist_port(setup);
        Ok(vec![
            "--dist-init-addr".into(),
            format!("{ip}:{port}"),
            "--node-rank".into(),
            rank.to_string(),
        ])
    }

    fn group(
        &mut self,
        cells: &[&Cell],
        mode: &str,
        launch: &Compiled<'_>,
    ) -> Result<Group, PlanError> {
        let first = cells[0];
        let setup = &first.setup;
        let flags = self.server_flags(setup, mode)?;
        let model_dir = format!(
            "{RUN_DIR}/models/{}_{}",
            setup.choices.model, setup.choices.mconf
        );
        let group_dir = format!("{RUN_DIR}/{GROUP}");
        let mut top = self.vars.clone();
        top.insert("model_path".into(), Mj::from(model_dir.clone()));
        top.insert(
            "model_config".into(),
            self.model_config(&setup.config_path)?,
        );
        top.insert("run_dir".into(), Mj::from(RUN_DIR));
        top.insert("group_dir".into(), Mj::from(group_dir.clone()));
        top.insert("server_flags".into(), Mj::from(flags.0.clone()));
        top.insert("dist_flags".into(), Mj::from(flags.1.clone()));
        // The same facts for profiles that spell multi-node flags otherwise
        // (vLLM: --master-addr/--master-port/--node-rank/--headless).
        top.insert("node_rank".into(), Mj::from(self.input.rank.unwrap_or(0)));
        top.insert("master_addr".into(), Mj::from(self.input.ip.clone()));
        top.insert("dist_port".into(), Mj::from(dist_port(setup)));
        let (bszs, seqs) = lists(cells.iter().copied());
        top.insert("bszs".into(), Mj::from(bszs));
        top.insert("seqs".into(), Mj::from(seqs));
        let ols: Vec<u64> = first.workload_u64("output_len").into_iter().collect();
        top.insert("output_lens".into(), Mj::from(ols));
        top.insert("workload".into(), scope::to_mj_map(&first.workload));
        let ctx = overlay(top, setup.vars.clone());
        let (argv, env) = launch.render(&ctx)?;
        self.check_launch(&argv, mode)?;
        let mut env_all: IndexMap<String, String> = setup
            .resolved
            .sections
            .env
            .iter()
            .map(|(k, v)| (k.clone(), render::scalar_arg(v)))
            .collect();
        env_all.extend(env);
        let id = format!(
            "g{}",
            // The mode too: one server config measured in two modes is two
            // groups, with their own folders and logs.
            &hash_of(&serde_json::to_string(&(mode, &argv, &env_all)).unwrap_or_default())[..12]
        );
        let spec = self.profile.mode(mode)?;
        let run = &setup.resolved.sections.run;
        let base_url = format!(
            "http://{}:{}",
            run.get("host")
                .and_then(Value::as_str)
                .unwrap_or("127.0.0.1"),
            run.get("port").and_then(Value::as_u64).unwrap_or(30000),
        );
        let ready = spec.ready.as_ref().map(|r| Ready {
            url: format!("{base_url}{}", r.http),
            log: r.log.clone(),
            timeout_s: run
                .get("startup_timeout_s")
                .and_then(Value::as_f64)
                .unwrap_or(1200.0),
        });
        let admin = match spec.exec() {
            Exec::Server => admin_urls(&self.profile.spec.admin, &base_url),
            Exec::Process => Admin::default(),
        };
        // A server's results are per cell (rendered with the cell's id).
        let results = match spec.exec() {
            Exec::Process => self.results(mode, &ctx)?,
            Exec::Server => None,
        };
        let plan_cells = self.plan_cells(cells, mode, &ctx, cpus(run, "client_cpus"))?;
        // What the CSV restates comes from the argv that runs, not from the
        // merged settings.
        let columns = super::columns::read(&self.profile.spec.columns, &argv);
        let column = |name: &str| columns.get(name).copied().flatten();
        Ok(Group {
            id,
            engine: self.profile.name.clone(),
            mode: mode.to_string(),
            exec: spec.exec(),
            model: setup.choices.model.clone(),
            mconf: setup.choices.mconf.clone(),
            layers: Layers {
                base: setup.choices.base.clone(),
                deploy: setup.choices.deploy.clone(),
                backend: setup.choices.backend.clone(),
                optional: setup.choices.optional.clone(),
            },
            line: first.line,
            launch: Command {
                argv,
                env: env_all,
                cpus: cpus(run, "server_cpus"),
            },
            ready,
            admin,
            results,
            model_dir: ModelStage {
                source: shown(self.root, &setup.config_path),
                dir: model_dir,
            },
            tp: column("tp"),
            ep: column("ep"),
            dp: column("dp"),
            nnodes: column("nnodes"),
            server: setup.resolved.sections.server.clone(),
            provenance: setup.resolved.provenance.clone(),
            run: run.clone(),
            cells: plan_cells,
        })
    }

    /// The flag table of the launched program: one_batch's own parser for a
    /// process mode, the server's otherwise.
    fn table(&self, mode: &str) -> Result<&'a super::flags::FlagTable, PlanError> {
        Ok(match self.profile.mode(mode)?.exec() {
            Exec::Process => self.flags.latency.as_ref().unwrap_or(&self.flags.server),
            Exec::Server => &self.flags.server,
        })
    }

    fn check_launch(&self, argv: &[String], mode: &str) -> Result<(), PlanError> {
        let table = self.table(mode)?;
        check_argv(
            argv,
            table,
            &self.flags.extra,
            &self.profile.origin(&format!("modes.{mode}.launch.argv")),
        )
    }

    fn results(&self, mode: &str, ctx: &Mj) -> Result<Option<Results>, PlanError> {
        let spec = self.profile.mode(mode)?;
        let Some(r) = &spec.results else {
            return Ok(None);
        };
        let origin = self.profile.origin(&format!("modes.{mode}.results.file"));
        let file = self
            .env
            .render_str(&r.file, ctx)
            .map_err(|e| PlanError::Template {
                origin,
                template: r.file.clone(),
                message: crate::matrix::jinja_message(&e, &r.file, Some(ctx)),
            })?;
        Ok(Some(Results {
            file,
            format: r.format.clone(),
        }))
    }

    /// Cells of a group, with their client commands in serving mode. Client
    /// and results templates compile once per group; each cell renders them
    /// with its workload over the group's variables. Large groups render in
    /// parallel chunks (cells are independent; order is kept).
    fn plan_cells(
        &self,
        cells: &[&Cell],
        mode: &str,
        group_ctx: &Mj,
        client_cpus: Option<Vec<usize>>,
    ) -> Result<Vec<PlanCell>, PlanError> {
        let spec = self.profile.mode(mode)?;
        if spec.exec() == Exec::Process {
            return Ok(cells.iter().map(|c| plan_cell(c, None, None)).collect());
        }
        let origin = |p: &str| self.profile.origin(p);
        let mut clients: IndexMap<String, Compiled<'_>> = IndexMap::new();
        for c in cells {
            let kind = client_kind(c);
            if clients.contains_key(kind) {
                continue;
            }
            let cspec = spec.client.get(kind).ok_or_else(|| PlanError::Template {
                origin: origin(&format!("modes.{mode}.client")),
                template: kind.to_string(),
                message: format!(
                    "engine `{}` has no `{kind}` client for {mode} mode (workload.client); its clients: {}",
                    self.profile.name,
                    spec.client.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            })?;
            let compiled = compile(
                self.env,
                cspec,
                &origin,
                &format!("modes.{mode}.client.{kind}"),
            )?;
            clients.insert(kind.to_string(), compiled);
        }
        let results = match &spec.results {
            Some(r) => Some((
                compile_text_spec(
                    self.env,
                    &r.file,
                    &origin,
                    &format!("modes.{mode}.results.file"),
                )?,
                r.format.as_str(),
            )),
            None => None,
        };
        let renderer = CellRenderer {
            clients: &clients,
            results: results.as_ref(),
            client_tables: &self.flags.client,
            argv_origin: &|kind: &str| origin(&format!("modes.{mode}.client.{kind}.argv")),
            group_ctx,
            client_cpus,
        };
        render_parallel(cells, &renderer)
    }
}

/// `run.server_cpus` / `run.client_cpus` as CPU ids. The config stage
/// checked the syntax (`schema::check` with `Kind::CpuList`), so `None`
/// means unset.
fn cpus(run: &crate::config::JsonMap, key: &str) -> Option<Vec<usize>> {
    run.get(key)
        .filter(|v| !v.is_null())
        .and_then(|v| crate::config::cpus::parse(v).ok())
}

/// `run.dist_init_port`: where rank 0 listens for the other nodes.
fn dist_port(setup: &Setup) -> u64 {
    setup
        .resolved
        .sections
        .run
        .get("dist_init_port")
        .and_then(Value::as_u64)
        .unwrap_or(5000)
}

/// Renders the client command and results file of serving cells.
struct CellRenderer<'a, 'e> {
    clients: &'a IndexMap<String, Compiled<'e>>,
    results: Option<&'a (Compiled<'e>, &'a str)>,
    client_tables: &'a IndexMap<String, super::flags::FlagTable>,
    argv_origin: &'a (dyn Fn(&str) -> Origin + Sync),
    group_ctx: &'a Mj,
    client_cpus: Option<Vec<usize>>,
}

impl CellRenderer<'_, '_> {
    fn render(&self, c: &Cell) -> Result<PlanCell, PlanError> {
        let kind = client_kind(c);
        let ctx = scope::cell_vars(&c.workload, self.group_ctx, Some(&c.id));
        let (argv, env) = self.clients[kind].render(&ctx)?;
        if let Some(table) = self.client_tables.get(kind) {
            check_argv(&argv, table, &[], &(self.argv_origin)(kind))?;
        }
        let results = match self.results {
            Some((t, format)) => Some(Results {
                file: t.render(&ctx)?.0.concat(),
                format: format.to_string(),
            }),
            None => None,
        };
        let client = Command {
            argv,
            env,
            cpus: self.client_cpus.clone(),
        };
        Ok(plan_cell(c, Some(client), results))
    }
}

fn client_kind(c: &Cell) -> &str {
    c.workload
        .get("client")
        .and_then(Value::as_str)
        .unwrap_or("builtin")
}

fn plan_cell(c: &Cell, client: Option<Command>, results: Option<Results>) -> PlanCell {
    PlanCell {
        id: c.id.clone(),
        axes: c.axes.clone(),
        workload: c.workload.clone(),
        client,
        results,
        profile: Vec::new(),
    }
}

/// Render cells on every core when there are many; the first error wins.
fn render_parallel(cells: &[&Cell], r: &CellRenderer<'_, '_>) -> Result<Vec<PlanCell>, PlanError> {
    const MIN_CHUNK: usize = 2048;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 1 || cells.len() < 2 * MIN_CHUNK {
        return cells.iter().map(|c| r.render(c)).collect();
    }
    let chunk = cells.len().div_ceil(threads).max(MIN_CHUNK);
    let parts: Vec<Result<Vec<PlanCell>, PlanError>> = std::thread::scope(|s| {
        let handles: Vec<_> = cells
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|c| r.render(c)).collect()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut out = Vec::with_capacity(cells.len());
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// One template string as a one-item command (rendered as one argument).
fn compile_text_spec<'e>(
    env: &'e minijinja::Environment<'e>,
    text: &'e str,
    origin: &dyn Fn(&str) -> Origin,
    path: &str,
) -> Result<Compiled<'e>, PlanError> {
    render::compile_one(env, text, origin(path))
}

/// Render the profile's `vars:` in order; each may use the earlier ones,
/// `matrix_exe` and `engine`.
fn render_vars(
    env: &minijinja::Environment<'_>,
    profile: &EngineProfile,
    input: &PlanInput,
) -> Result<BTreeMap<String, Mj>, PlanError> {
    let mut vars: BTreeMap<String, Mj> = BTreeMap::new();
    vars.insert("matrix_exe".into(), Mj::from(input.matrix_exe.as_str()));
    vars.insert("engine".into(), Mj::from(profile.name.as_str()));
    // The project root, for files named relative to it (workload.dataset_path).
    vars.insert("root".into(), Mj::from(input.expand.root.as_str()));
    for (k, v) in &profile.vars {
        let origin = profile.origin(&format!("vars.{k}"));
        let rendered = render_json(env, v, &Mj::from(vars.clone()), &origin)?;
        vars.insert(k.clone(), scope::to_mj(&rendered));
    }
    Ok(vars)
}

fn render_json(
    env: &minijinja::Environment<'_>,
    v: &Value,
    ctx: &Mj,
    origin: &Origin,
) -> Result<Value, PlanError> {
    Ok(match v {
        Value::String(s) if s.contains("{{") || s.contains("{%") => {
            Value::String(env.render_str(s, ctx).map_err(|e| PlanError::Template {
                origin: origin.clone(),
                template: s.clone(),
                message: crate::matrix::jinja_message(&e, s, Some(ctx)),
            })?)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|x| render_json(env, x, ctx, origin))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

/// one_batch runs every batch size with every length. A latency bucket
/// whose cells are not a full product (exclusions) is split per length;
/// cells are ordered the way one_batch runs them (batch size outer).
fn split_products(bucket: Vec<&Cell>, exec: Exec) -> Vec<Vec<&Cell>> {
    if exec == Exec::Server {
        return vec![bucket];
    }
    let (bszs, seqs) = lists(bucket.iter().copied());
    let rank =
        |v: &[u64]| -> HashMap<u64, usize> { v.iter().enumerate().map(|(i, x)| (*x, i)).collect() };
    let (brank, srank) = (rank(&bszs), rank(&seqs));
    let order = |c: &&Cell| {
        let b = c.workload_u64("bsz").and_then(|b| brank.get(&b).copied());
        let s = c.workload_u64("seq").and_then(|s| srank.get(&s).copied());
        (b, s)
    };
    let mut sorted = bucket;
    sorted.sort_by_cached_key(order);
    if sorted.len() == bszs.len() * seqs.len() {
        return vec![sorted];
    }
    seqs.iter()
        .map(|s| {
            sorted
                .iter()
                .copied()
                .filter(|c| c.workload_u64("seq") == Some(*s))
                .collect()
        })
        .collect()
}

fn shown(root: &Utf8Path, p: &Utf8Path) -> String {
    p.strip_prefix(root)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| p.to_string())
}

/// Finds the file and line of a server key from its provenance.
struct SetupOrigins<'a> {
    setup: &'a Setup,
    root: &'a Utf8Path,
}

impl KeyOrigin for SetupOrigins<'_> {
    fn source(&self, key: &str) -> String {
        self.setup
            .resolved
            .provenance
            .get(&format!("server.{key}"))
            .cloned()
            .unwrap_or_else(|| "(unknown)".into())
    }

    /// Only called on the error path: re-reads the file to find the line.
    fn origin(&self, key: &str) -> Origin {
        let source = self.source(key);
        let file = source.split(" (").next().unwrap_or(&source).to_string();
        let path = self.root.join(&file);
        let engine = &self.setup.choices.engine;
        let candidates = [
            format!("server.{key}"),
            format!("engines.{engine}.server.{key}"),
            format!("set.server.{key}"),
            format!("set.engines.{engine}.server.{key}"),
            format!("axes.{key}"),
            format!("derive.{key}"),
        ];
        if let Ok(f) = YamlFile::read(&path, file.clone()) {
            for c in &candidates {
                if f.locate(c).is_some() {
                    return f.origin(c);
                }
            }
        }
        Origin {
            file: source,
            location: None,
        }
    }
}

/// [`super::bsz_seq_lists`] of planned cells.
fn lists<'a>(cells: impl Iterator<Item = &'a Cell>) -> (Vec<u64>, Vec<u64>) {
    super::bsz_seq_lists(cells.map(|c| (c.workload_u64("bsz"), c.workload_u64("seq"))))
}

/// The profile's admin calls as full URLs on the group's server.
fn admin_urls(spec: &crate::config::engine::AdminSpec, base_url: &str) -> Admin {
    let call = |c: &Option<crate::config::engine::AdminCall>| {
        c.as_ref().map(|c| AdminCall {
            method: c.method,
            url: format!("{base_url}{}", c.path),
        })
    };
    Admin {
        flush_cache: call(&spec.flush_cache),
        start_profile: call(&spec.start_profile),
        stop_profile: call(&spec.stop_profile),
    }
}
