//! `matrix serve` in a real browser: Debian's `chromium`, headless, driven
//! over the DevTools protocol (tests/support/cdp.rs) against the database
//! of real sim runs. Each page renders without console errors, the run
//! table has one row per cell, the compare page shows the planted
//! regression, a run's chart has one point per cell, a reproduce box
//! fills in, a cell recorded after the page
//! loaded appears without a reload. A screenshot of each page is kept in
//! `$MATRIX_SCREENSHOTS_DIR` (default: a new folder under the system temp
//! folder, not deleted); its path is printed.
//!
//! Without chromium this test FAILS, saying how to install it.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use camino::Utf8PathBuf;
use matrix::record::db::{CellRecord, Db, RunRecord};
use support::cdp::Browser;
use support::run::RunProject;
use support::serve::{Server, planted_runs};

/// Where screenshots go: `$MATRIX_SCREENSHOTS_DIR`, else a fresh folder in
/// the temp folder that the test leaves behind for review.
fn screenshots_dir() -> PathBuf {
    let dir = match std::env::var_os("MATRIX_SCREENSHOTS_DIR") {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!(
            "matrix-screenshots-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_second()
        )),
    };
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn live_cell(i: u32) -> CellRecord {
    let mut c = CellRecord {
        cell_id: format!("livecell{i}"),
        status: "ok".into(),
        ..Default::default()
    };
    c.key.insert("bsz".into(), i.to_string());
    for (k, v) in [("cell_id", c.cell_id.clone()), ("bsz", i.to_string())] {
        c.row.insert(k.into(), v);
    }
    c.row.insert("e2e_latency_s".into(), "0.5".into());
    c.samples
        .push([("e2e_latency_s".to_string(), 0.5)].into_iter().collect());
    c
}

#[test]
fn every_page_renders_in_chromium() {
    let browser = Browser::launch();
    let mut p = RunProject::new();
    p.sim_scale = 0.0001;
    let (base, new) = planted_runs(&p);
    let db_file = Utf8PathBuf::from_path_buf(p.results().join("matrix.db")).unwrap();
    let cells = Db::open_existing(&db_file)
        .unwrap()
        .load_run(&new)
        .unwrap()
        .cells
        .len();
    assert_eq!(cells, 4);
    // A run still in progress (no finished_at), one cell so far.
    let live = RunRecord {
        run_id: "live-run".into(),
        source: "run".into(),
        started_at: Some("2026-12-01T00:00:00Z".into()),
        engine: Some("sim".into()),
        ..Default::default()
    };
    let mut db = Db::open(&db_file).unwrap();
    db.upsert_run(&live).unwrap();
    db.upsert_cell(&live, &live_cell(1)).unwrap();

    let s = Server::start(p.path(), &[]);
    let shots = screenshots_dir();
    println!("screenshots: {}", shots.display());
    let mut page = browser.page();
    let shot = |page: &mut support::cdp::Page, name: &str| {
        let path = page.screenshot(&shots.join(format!("{name}.png")));
        println!("screenshot {name}: {}", path.display());
    };

    // Runs list.
    page.navigate(&s.url("/"));
    assert_eq!(
        page.eval("document.querySelectorAll('#runs tbody tr').length"),
        3
    );
    shot(&mut page, "runs");
    assert!(page.errors.is_empty(), "/: {:?}", page.errors);

    // Run page: one row per cell; a reproduce box fills in when opened.
    page.navigate(&s.url(&format!("/runs/{new}")));
    assert_eq!(
        page.eval("document.querySelectorAll('#cells tbody tr').length"),
        cells as u64
    );
    page.eval("document.querySelector('#cells details.repro').open = true");
    assert!(
        page.wait_until(
            "document.querySelector('#cells details.repro pre').textContent.includes('sim_slowdown=1.10')",
            Duration::from_secs(30)
        ),
        "the reproduce box shows the run's command: {}",
        page.eval("document.querySelector('#cells details.repro pre').textContent")
    );
    // Its plots: drawn by src/report/plot, inline SVG, one point per cell.
    assert!(
        page.wait_until(
            "document.querySelector('section.plots').dataset.loaded === '1'",
            Duration::from_secs(60)
        ),
        "the run's plots load"
    );
    let figures = page.eval("document.querySelectorAll('section.plots figure.plot svg').length");
    assert!(
        figures.as_u64().unwrap() >= 1,
        "at least one chart: {figures}"
    );
    let first = page.eval(
        "(() => { const f = document.querySelector('section.plots figure.plot'); \
         const m = JSON.parse(f.querySelector('svg metadata').textContent); \
         return { points: Number(f.dataset.points), \
                  meta: m.series.reduce((n, s) => n + s.points, 0), \
                  circles: f.querySelectorAll('svg circle').length }; })()",
    );
    assert_eq!(first["points"], cells as u64, "one point per cell: {first}");
    assert_eq!(first["meta"], cells as u64, "the SVG's own count: {first}");
    assert!(
        first["circles"].as_u64().unwrap() >= cells as u64,
        "a marker drawn per cell: {first}"
    );
    shot(&mut page, "run");
    assert!(page.errors.is_empty(), "run page: {:?}", page.errors);

    // Compare: the planted regression.
    page.navigate(&s.url(&format!("/compare/{base}/{new}")));
    let regressed = page
        .eval("document.querySelectorAll('#compare-report tr.regression').length")
        .as_u64()
        .unwrap();
    assert!(
        regressed >= 4,
        "the 10 % slowdown shows: {regressed} regression rows"
    );
    let summary = page.eval("document.querySelector('#compare-report').textContent");
    assert!(
        summary.as_str().unwrap().contains("regression"),
        "{summary}"
    );
    assert!(
        page.wait_until(
            "document.querySelector('section.plots').dataset.loaded === '1'",
            Duration::from_secs(60)
        ),
        "the compare plots load"
    );
    assert_eq!(
        page.eval("Number(document.querySelector('section.plots figure.plot').dataset.points)"),
        2 * cells as u64,
        "both runs' cells on the compare chart"
    );
    shot(&mut page, "compare");
    assert!(page.errors.is_empty(), "compare: {:?}", page.errors);

    // Trends.
    page.navigate(&s.url("/trends"));
    assert!(
        page.eval("document.querySelectorAll('section.trend').length")
            .as_u64()
            .unwrap()
            >= 1
    );
    assert!(
        page.wait_until(
            "[...document.querySelectorAll('section.plots')].every(s => s.dataset.loaded === '1')",
            Duration::from_secs(60)
        ),
        "the trend plots load"
    );
    assert!(
        page.eval("document.querySelectorAll('section.trend figure.plot svg').length")
            .as_u64()
            .unwrap()
            >= 1,
        "a trend chart"
    );
    shot(&mut page, "trends");
    assert!(page.errors.is_empty(), "trends: {:?}", page.errors);

    // A run in progress: a cell recorded after the page loaded appears.
    page.navigate(&s.url("/runs/live-run"));
    assert_eq!(
        page.eval("document.querySelectorAll('#cells tbody tr').length"),
        1
    );
    db.upsert_cell(&live, &live_cell(2)).unwrap();
    assert!(
        page.wait_until(
            "document.querySelectorAll('#cells tbody tr').length === 2 && \
             document.getElementById('cell-livecell2') !== null",
            Duration::from_secs(30)
        ),
        "the new cell did not appear"
    );
    shot(&mut page, "live");
    assert!(page.errors.is_empty(), "live run page: {:?}", page.errors);

    // A missing run: the 404 page renders (the browser logs the 404 status
    // itself, so only the page's own script errors count here).
    page.navigate(&s.url("/runs/no-such-run"));
    assert!(
        page.eval("document.querySelector('h1').textContent")
            .as_str()
            .unwrap()
            .contains("404")
    );
    shot(&mut page, "not-found");
    let script_errors: Vec<&String> = page.errors.iter().filter(|e| !e.contains("404")).collect();
    assert!(script_errors.is_empty(), "404 page: {script_errors:?}");

    // The error collector itself sees a console error (so the empty lists
    // above mean something).
    page.eval("console.error('probe-error')");
    assert!(
        support::wait_for(Duration::from_secs(10), || {
            page.eval("1");
            page.errors.iter().any(|e| e.contains("probe-error"))
        }),
        "console errors are collected: {:?}",
        page.errors
    );
}
