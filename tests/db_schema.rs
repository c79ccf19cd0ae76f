//! Schema migrations of the results database: a database written by an
//! older matrix (version 1: the key as text in every cell, one table row
//! per metric value) is migrated in place when opened, keeping every run,
//! cell and repeat.

use camino::Utf8PathBuf;
use indexmap::IndexMap;
use matrix::record::db::schema::{MIGRATIONS, VERSION};
use matrix::record::db::{CellKey, CellRecord, Db, Ingested, RunRecord};

fn key(bsz: &str) -> CellKey {
    [("model", "tiny"), ("mode", "latency"), ("bsz", bsz)]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What version 1 stored for a two-cell run with 3 and 1 repeats.
fn write_version_1(path: &Utf8PathBuf) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(MIGRATIONS[0]).unwrap();
    conn.execute_batch(
        r#"
        PRAGMA user_version = 1;
        INSERT INTO runs (run_id, source, started_at, model, extras, content_hash, started_us)
            VALUES ('r1', 'run', '2026-11-01T00:00:00Z', 'tiny', '{}', 'old-hash', 1793491200000000);
        INSERT INTO cells (id, run_id, cell_id, group_id, status, error, key_text, key, row) VALUES
            (1, 'r1', 'c8', 'g0', 'ok', NULL, 'bsz=8;mode=latency;model=tiny',
             '{"bsz":"8","mode":"latency","model":"tiny"}', '{"bsz":"8","e2e_latency_s":"2.0"}'),
            (2, 'r1', 'c16', 'g0', 'failed', 'boom', 'bsz=16;mode=latency;model=tiny',
             '{"bsz":"16","mode":"latency","model":"tiny"}', '{"bsz":"16","e2e_latency_s":""}');
        INSERT INTO metrics (cell, repeat, metric, value) VALUES
            (1, 0, 'e2e_latency_s', 2.1), (1, 0, 'prefill_latency_s', 0.5),
            (1, 1, 'e2e_latency_s', 2.0), (1, 1, 'prefill_latency_s', 0.4),
            (1, 2, 'e2e_latency_s', 1.9), (1, 2, 'prefill_latency_s', 0.6);
        "#,
    )
    .unwrap();
}

#[test]
fn a_version_1_database_is_migrated_with_every_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().join("matrix.db")).unwrap();
    write_version_1(&path);

    let mut db = Db::open(&path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, VERSION);
    assert_eq!(VERSION, 2);
    assert_eq!(db.counts().unwrap(), (1, 2, 6));

    let run = db.load_run("r1").unwrap();
    let got: Vec<(&str, &str, Option<&str>, &CellKey, usize)> = run
        .cells
        .iter()
        .map(|c| {
            (
                c.cell_id.as_str(),
                c.status.as_str(),
                c.error.as_deref(),
                &c.key,
                c.samples.len(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("c8", "ok", None, &key("8"), 3),
            ("c16", "failed", Some("boom"), &key("16"), 0),
        ]
    );
    let e2e: Vec<f64> = run.cells[0]
        .samples
        .iter()
        .map(|s| s["e2e_latency_s"])
        .collect();
    assert_eq!(e2e, vec![2.1, 2.0, 1.9]);
    assert_eq!(run.cells[0].samples[2]["prefill_latency_s"], 0.6);
    let rows: Vec<Vec<(&str, &str)>> = run
        .cells
        .iter()
        .map(|c| {
            c.row
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            vec![("bsz", "8"), ("e2e_latency_s", "2.0")],
            vec![("bsz", "16"), ("e2e_latency_s", "")],
        ]
    );

    // History and series read the migrated ids.
    assert_eq!(
        db.history(&key("8"), "e2e_latency_s", None, &[]).unwrap(),
        vec![2.0]
    );
    let series = db.all_series(None).unwrap();
    let names: Vec<(&str, usize, usize)> = series
        .iter()
        .map(|s| (s.metric.as_str(), s.points.len(), s.points[0].n))
        .collect();
    assert_eq!(
        names,
        vec![("e2e_latency_s", 1, 3), ("prefill_latency_s", 1, 3)]
    );

    // The view users query by name.
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM metric_values WHERE metric = 'e2e_latency_s' AND key_text = 'bsz=8;mode=latency;model=tiny'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 3);

    // The old content hash is cleared: the same run ingested again
    // replaces it once, then is unchanged.
    let again = RunRecord {
        cells: vec![CellRecord {
            cell_id: "c8".into(),
            group_id: Some("g0".into()),
            status: "ok".into(),
            error: None,
            key: key("8"),
            row: IndexMap::from([("bsz".to_string(), "8".to_string())]),
            samples: vec![IndexMap::from([("e2e_latency_s".to_string(), 2.0)])],
        }],
        ..run
    };
    assert_eq!(db.ingest(&again).unwrap(), Ingested::Replaced);
    assert_eq!(db.ingest(&again).unwrap(), Ingested::Unchanged);
    assert_eq!(db.counts().unwrap(), (1, 1, 1));
}

#[test]
fn keys_are_stored_once_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().join("matrix.db")).unwrap();
    let mut db = Db::open(&path).unwrap();
    for r in ["r1", "r2", "r3"] {
        let cells = ["1", "2"]
            .iter()
            .map(|bsz| CellRecord {
                cell_id: format!("c{bsz}"),
                status: "ok".into(),
                key: key(bsz),
                samples: vec![
                    IndexMap::from([
                        ("e2e_latency_s".to_string(), 1.0),
                        ("prefill_latency_s".to_string(), 0.1),
                    ]);
                    2
                ],
                ..CellRecord::default()
            })
            .collect();
        let run = RunRecord {
            run_id: r.into(),
            source: "run".into(),
            cells,
            ..RunRecord::default()
        };
        assert_eq!(db.ingest(&run).unwrap(), Ingested::Added);
    }
    assert_eq!(db.counts().unwrap(), (3, 6, 24));
    let conn = rusqlite::Connection::open(&path).unwrap();
    let count = |t: &str| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count("keys"), 2);
    // `metrics` (a view) has one row per cell × repeat × metric.
    assert_eq!(count("metrics"), 24);
    assert_eq!(
        db.history(&key("2"), "prefill_latency_s", None, &[])
            .unwrap(),
        vec![0.1, 0.1, 0.1]
    );
}
