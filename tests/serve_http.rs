//! `matrix serve` over HTTP: the real binary on port 0 against the
//! database of real sim runs. Status codes, JSON shapes, one table row per
//! cell, 404 pages, refused traversal / absolute paths / symlink escapes,
//! a cell ingested while the server runs, the `--host` warning.

mod support;

use camino::Utf8PathBuf;
use matrix::record::db::Db;
use matrix::record::db::{CellRecord, RunRecord};
use support::run::RunProject;
use support::serve::{Server, planted_runs};

fn sim_project() -> RunProject {
    let mut p = RunProject::new();
    p.sim_scale = 0.0001;
    p
}

fn db_path(p: &RunProject) -> Utf8PathBuf {
    Utf8PathBuf::from_path_buf(p.results().join("matrix.db")).unwrap()
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn pages_api_and_files_of_sim_runs() {
    let p = sim_project();
    let (base, new) = planted_runs(&p);
    let stored = Db::open_existing(&db_path(&p))
        .unwrap()
        .load_run(&new)
        .unwrap();
    let csv_rows = p.rows(&new).len();
    assert_eq!(stored.cells.len(), 4);
    assert_eq!(csv_rows, 4);
    let s = Server::start(p.path(), &[]);
    assert!(s.addr.starts_with("127.0.0.1:"), "{}", s.addr);

    // Runs list: both runs, newest first; the filters.
    let home = s.get("/");
    assert_eq!(home.status, 200);
    assert!(
        home.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let body = home.text();
    assert_eq!(count(&body, "<tr data-run="), 2, "{body}");
    let table = &body[body.find("<table id=\"runs\"").unwrap()..];
    assert!(
        table.find(&new).unwrap() < table.find(&base).unwrap(),
        "newest first"
    );
    let api = s.get("/api/runs").json();
    let runs = api.as_array().expect("an array of runs");
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["run_id"], new.as_str());
    assert_eq!(runs[0]["cells_ok"], 4);
    assert_eq!(runs[0]["engine"], "sim");
    for key in [
        "started_at",
        "model",
        "engine_version",
        "image",
        "git_sha",
        "cells_failed",
    ] {
        assert!(runs[0].get(key).is_some(), "{key} in {}", runs[0]);
    }
    assert_eq!(
        s.get("/api/runs?model=no-such-model").json(),
        serde_json::json!([])
    );
    assert_eq!(
        s.get("/api/runs?engine=SIM")
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        s.get("/api/runs?since=1d").json().as_array().unwrap().len(),
        2
    );
    let bad = s.get("/api/runs?since=yesterday-ish");
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]
            .as_str()
            .unwrap()
            .contains("yesterday-ish")
    );
    assert_eq!(
        count(&s.get("/?model=no-such-model").text(), "<tr data-run="),
        0
    );

    // Run page: one row per cell, the reproduce line, file links.
    let page = s.get(&format!("/runs/{new}"));
    assert_eq!(page.status, 200);
    let html = page.text();
    assert_eq!(count(&html, "<tr id=\"cell-"), csv_rows, "one row per cell");
    for c in &stored.cells {
        assert!(html.contains(&format!("id=\"cell-{}\"", c.cell_id)));
    }
    assert!(html.contains("repro-run"), "the run's matrix run line");
    assert!(
        html.contains("/files/raw_output/"),
        "links to the run's files"
    );
    assert_eq!(s.get("/runs/latest").status, 200);

    // The cells API.
    let cells = s.get(&format!("/api/runs/{new}/cells")).json();
    assert_eq!(cells["run_id"], new.as_str());
    assert!(cells["finished_at"].is_string(), "a finished run");
    let list = cells["cells"].as_array().unwrap();
    assert_eq!(list.len(), csv_rows);
    let columns: Vec<&str> = cells["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        columns.contains(&"cell_id") && columns.contains(&"e2e_latency_s"),
        "{columns:?}"
    );
    assert_eq!(
        list[0]["samples"].as_array().unwrap().len(),
        5,
        "every repeat"
    );
    assert!(list[0]["row"]["e2e_latency_s"].is_string());
    let meta = s.get(&format!("/api/runs/{new}")).json();
    assert_eq!(meta["cell_count"], 4);
    assert!(meta.get("cells").is_none());

    // Reproduce: the manifest's argv and the cell's commands.
    let cell = list[0]["cell_id"].as_str().unwrap();
    let r = s
        .get(&format!("/api/runs/{new}/reproduce?cell={cell}"))
        .json();
    let line = r["matrix_run"].as_str().expect("a matrix run line");
    assert!(
        line.contains(" run ") && line.contains("sim_slowdown=1.10"),
        "{line}"
    );
    let commands = r["commands"].as_array().unwrap();
    assert!(!commands.is_empty(), "{r}");
    assert!(
        commands.iter().any(|c| c.as_str().unwrap().contains("sim")),
        "{r}"
    );
    assert_eq!(
        s.get(&format!("/api/runs/{new}/reproduce?cell=nope"))
            .status,
        404
    );
    assert_eq!(s.get(&format!("/api/runs/{new}/reproduce")).status, 400);

    // Files from inside the results folder.
    let m = s.get(&format!("/files/raw_output/{new}/manifest.json"));
    assert_eq!(m.status, 200);
    assert_eq!(m.json()["run_id"], new.as_str());
    assert_eq!(m.header("x-content-type-options"), Some("nosniff"));
    let sh = s.get(&format!("/files/raw_output/{new}/commands.sh"));
    assert_eq!(sh.status, 200);
    assert!(sh.header("content-type").unwrap().starts_with("text/plain"));

    // Plots (src/report/plot's SVG, inline in an HTML fragment).
    let plots = s.get(&format!("/runs/{new}/plots"));
    assert_eq!(plots.status, 200);
    assert!(plots.text().contains("<svg"), "{}", plots.text());
    assert!(
        plots
            .text()
            .contains(&format!("data-points=\"{csv_rows}\""))
    );
    assert_eq!(s.get("/runs/no-such-run/plots").status, 404);
    assert!(
        s.get(&format!("/compare/{base}/{new}/plots"))
            .text()
            .contains("<svg")
    );
    assert!(
        s.get("/trends/plots?model=qwen&mode=latency")
            .text()
            .contains("<svg")
    );

    // Compare and trends.
    let cmp = s.get(&format!("/compare/{base}/{new}"));
    assert_eq!(cmp.status, 200);
    assert!(cmp.text().contains("regression"), "{}", cmp.text());
    let j = s.get(&format!("/api/compare/{base}/{new}")).json();
    assert_eq!(j["format"], 1);
    let regressed = j["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["comparison"]["verdict"] == "regression")
        .count();
    assert!(regressed >= 4, "the planted slowdown: {j:#}");
    let redirect = s.get(&format!("/compare?base={base}&new={new}"));
    assert_eq!(redirect.status, 303);
    assert_eq!(
        redirect.header("location"),
        Some(format!("/compare/{base}/{new}").as_str())
    );
    let t = s.get("/trends");
    assert_eq!(t.status, 200);
    assert!(t.text().contains("qwen"), "{}", t.text());
    let tj = s.get("/api/trends").json();
    let groups = tj.as_array().unwrap();
    assert!(!groups.is_empty());
    assert!(groups[0]["series"].as_array().unwrap().len() >= 4);
    assert_eq!(s.get("/trends?since=not-a-time").status, 400);

    // Assets.
    let js = s.get("/assets/app.js");
    assert_eq!(js.status, 200);
    assert!(js.header("content-type").unwrap().contains("javascript"));
    assert_eq!(s.get("/assets/style.css").status, 200);
}

#[test]
fn missing_runs_and_pages_are_404_pages_never_panics() {
    let p = sim_project();
    let s = Server::start(p.path(), &[]);
    // No database yet: an empty list, not an error.
    assert_eq!(s.get("/").status, 200);
    assert_eq!(s.get("/api/runs").json(), serde_json::json!([]));
    let r = s.get("/runs/no-such-run");
    assert_eq!(r.status, 404);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text().contains("404"), "{}", r.text());
    assert_eq!(s.get("/api/runs/no-such-run/cells").status, 404);
    assert_eq!(s.get("/nothing/here").status, 404);

    let (base, _) = planted_runs(&p);
    // Odd input everywhere: 4xx answers, the server stays up.
    for path in [
        "/runs/no-such-run",
        "/runs/%00",
        "/runs/%ff%fe",
        "/runs/latest~99",
        "/runs/latest~x",
        "/compare/no-such-run/latest",
        &format!("/compare/{base}/nope"),
        "/api/compare/a/b",
        "/api/runs/%2e%2e/cells",
        "/trends?since=%ff",
    ] {
        let r = s.get(path);
        assert!(
            (400..500).contains(&r.status),
            "{path}: {} {}",
            r.status,
            r.text()
        );
        assert!(!r.text().contains("panicked"), "{path}");
    }
    assert_eq!(s.get(&format!("/runs/{base}")).status, 200, "still serving");
    assert_eq!(s.get("/runs/latest~99").status, 404);
}

#[test]
fn files_outside_the_results_folder_are_refused() {
    let p = sim_project();
    let results = p.results();
    std::fs::create_dir_all(results.join("raw_output/r1")).unwrap();
    std::fs::write(results.join("raw_output/r1/server.log"), "inside\n").unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.log"), "TOP-SECRET\n").unwrap();
    std::fs::create_dir(outside.path().join("dir")).unwrap();
    std::fs::write(outside.path().join("dir/also.log"), "TOP-SECRET\n").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.log"), results.join("link.log"))
        .unwrap();
    std::os::unix::fs::symlink(outside.path().join("dir"), results.join("linkdir")).unwrap();
    std::fs::write(p.path().join("beside.log"), "TOP-SECRET\n").unwrap();
    let s = Server::start(p.path(), &[]);

    let ok = s.get("/files/raw_output/r1/server.log");
    assert_eq!(ok.status, 200);
    assert_eq!(ok.text(), "inside\n");

    let outside_path = outside.path().join("secret.log");
    let abs = outside_path.to_str().unwrap();
    for (path, status) in [
        // `..` as written, encoded, and mixed.
        ("/files/../beside.log", 400),
        ("/files/%2e%2e/beside.log", 400),
        ("/files/raw_output/%2E%2E/%2E%2E/beside.log", 400),
        ("/files/raw_output/r1/..%2f..%2f../beside.log", 400),
        ("/files/raw_output/./r1/server.log", 400),
        // Absolute paths.
        (&format!("/files/{abs}"), 400),
        (&format!("/files/%2F{}", abs.trim_start_matches('/')), 400),
        ("/files//etc/passwd", 400),
        // Symlinks out of the results folder: as if absent.
        ("/files/link.log", 404),
        ("/files/linkdir/also.log", 404),
        // A folder, a missing file.
        ("/files/raw_output", 404),
        ("/files/raw_output/r1/missing.log", 404),
    ] {
        let r = s.get(path);
        assert_eq!(r.status, status, "{path}: {}", r.text());
        assert!(!r.text().contains("TOP-SECRET"), "{path} leaked");
    }
}

#[test]
fn a_cell_ingested_after_start_is_served() {
    let p = sim_project();
    let db_file = db_path(&p);
    let mut db = Db::open(&db_file).unwrap();
    let cell = |i: u32| {
        let mut c = CellRecord {
            cell_id: format!("cell{i}"),
            status: "ok".into(),
            ..Default::default()
        };
        c.key.insert("bsz".into(), i.to_string());
        c.row.insert("cell_id".into(), c.cell_id.clone());
        c.row.insert("bsz".into(), i.to_string());
        c.row.insert("e2e_latency_s".into(), "1.5".into());
        c.samples
            .push([("e2e_latency_s".to_string(), 1.5)].into_iter().collect());
        c
    };
    let run = RunRecord {
        run_id: "live-run".into(),
        source: "run".into(),
        started_at: Some("2026-12-01T00:00:00Z".into()),
        engine: Some("sim".into()),
        cells: vec![cell(1)],
        ..Default::default()
    };
    db.upsert_run(&run).unwrap();
    db.upsert_cell(&run, &run.cells[0]).unwrap();
    let s = Server::start(p.path(), &[]);
    let page = s.get("/runs/live-run").text();
    assert!(page.contains("data-live=\"1\""), "an unfinished run polls");
    assert_eq!(count(&page, "<tr id=\"cell-"), 1);
    let before = s.get("/api/runs/live-run/cells").json();
    assert!(before["finished_at"].is_null());
    assert_eq!(before["cells"].as_array().unwrap().len(), 1);
    db.upsert_cell(&run, &cell(2)).unwrap();
    let after = s.get("/api/runs/live-run/cells").json();
    assert_eq!(after["cells"].as_array().unwrap().len(), 2);
    assert_eq!(after["cells"][1]["cell_id"], "cell2");
    assert_eq!(count(&s.get("/runs/live-run").text(), "<tr id=\"cell-"), 2);
}

#[test]
fn wider_host_warns_and_bad_host_is_refused() {
    let p = sim_project();
    let s = Server::start(p.path(), &["--host", "0.0.0.0"]);
    assert!(s.addr.starts_with("0.0.0.0:"), "{}", s.addr);
    let port = s.addr.rsplit(':').next().unwrap();
    assert_eq!(
        support::serve::get(&format!("127.0.0.1:{port}"), "/").status,
        200
    );
    let err = std::fs::read_to_string(&s.stderr).unwrap();
    assert!(err.contains("warning: serving on 0.0.0.0"), "{err}");
    drop(s);
    let local = Server::start(p.path(), &[]);
    assert_eq!(std::fs::read_to_string(&local.stderr).unwrap(), "");
    let out = std::process::Command::new(support::bin())
        .args(["--root"])
        .arg(p.path())
        .args(["serve", "--host", "not-an-ip", "--port", "0"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not-an-ip"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_run_larger_than_a_page_is_shown_a_page_at_a_time() {
    let p = sim_project();
    let (_, new) = planted_runs(&p);
    let stored = Db::open_existing(&db_path(&p))
        .unwrap()
        .load_run(&new)
        .unwrap();
    let ids: Vec<&str> = stored.cells.iter().map(|c| c.cell_id.as_str()).collect();
    assert_eq!(ids.len(), 4);
    let s = Server::start(p.path(), &["--page-cells", "3"]);

    // The rows of a page, as the cell ids of its table, in order.
    let rows = |body: &str| -> Vec<String> {
        body.split("<tr id=\"cell-")
            .skip(1)
            .map(|r| r[..r.find('"').unwrap()].to_string())
            .collect()
    };
    let first = s.get(&format!("/runs/{new}"));
    assert_eq!(first.status, 200);
    let first = first.text();
    assert_eq!(rows(&first), ids[..3].to_vec(), "{first}");
    assert!(first.contains("cells 1–3 of 4 (page 1 of 2)"), "{first}");
    assert!(
        first.contains(&format!("/runs/{new}?page=2\">next")),
        "{first}"
    );
    assert!(first.contains("data-paged=\"1\""));
    assert!(first.contains("<span id=\"cell-count\">4</span> cell(s), 4 ok, 0 not ok"));

    let second = s.get(&format!("/runs/{new}?page=2")).text();
    assert_eq!(rows(&second), ids[3..].to_vec(), "{second}");
    assert!(second.contains("cells 4–4 of 4 (page 2 of 2)"), "{second}");
    assert!(second.contains(&format!("/runs/{new}?page=1\">previous")));
    assert!(!second.contains("\">next</a>"));

    for (query, status) in [("?page=3", 404), ("?page=0", 404), ("?page=x", 400)] {
        let r = s.get(&format!("/runs/{new}{query}"));
        assert_eq!(r.status, status, "{query}: {}", r.text());
    }

    // The default page size holds the whole run: one table, no links.
    let whole = Server::start(p.path(), &[]);
    let body = whole.get(&format!("/runs/{new}")).text();
    assert_eq!(rows(&body), ids);
    assert!(!body.contains("class=\"pages\""));
    assert!(body.contains("data-paged=\"0\""));
}
