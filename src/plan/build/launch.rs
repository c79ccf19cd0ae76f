//! A group's launch: its command line, server and multi-node flags (checked
//! against the engine's flag table), readiness, admin calls and, for a
//! process, its results file.

use std::sync::Arc;

use camino::Utf8Path;
use indexmap::IndexMap;
use minijinja::value::Value as Mj;
use serde_json::Value;

use crate::config::engine::Exec;
use crate::config::yaml::{Origin, YamlFile};
use crate::matrix::cell::hash_of;
use crate::matrix::scope::{self, overlay};
use crate::matrix::{Cell, Setup};
use crate::plan::PlanError;
use crate::plan::model::*;
use crate::plan::render::{self, Compiled, KeyOrigin, check_argv};
use crate::plan::translate;

use super::{Flags, GROUP, Planner, RUN_DIR, lists, shown};

impl<'a> Planner<'a> {
    pub(super) fn server_flags(
        &mut self,
        setup: &Arc<Setup>,
        mode: &str,
    ) -> Result<Arc<Flags>, PlanError> {
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

    pub(super) fn group(
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
        let columns = crate::plan::columns::read(&self.profile.spec.columns, &argv);
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
    fn table(&self, mode: &str) -> Result<&'a crate::plan::flags::FlagTable, PlanError> {
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
}

/// `run.server_cpus` / `run.client_cpus` as CPU ids. The config stage
/// checked the syntax (`schema::check` with `Kind::CpuList`), so `None`
/// means unset.
pub(super) fn cpus(run: &crate::config::JsonMap, key: &str) -> Option<Vec<usize>> {
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
