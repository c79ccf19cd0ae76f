//! The database schema: `PRAGMA user_version` is its version; migration
//! `i` (0-based) takes version `i` to `i + 1`. Only ever append.

/// The schema version this matrix writes.
pub const VERSION: i64 = 2;

/// Forward migrations, in order.
pub const MIGRATIONS: [&str; 2] = [
    // 1: runs, cells (key as text), metrics (metric names as text).
    r#"
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    path TEXT,
    started_at TEXT,
    finished_at TEXT,
    model TEXT,
    engine TEXT,
    engine_version TEXT,
    image TEXT,
    git_sha TEXT,
    host TEXT,
    gpu TEXT,
    manifest TEXT,
    extras TEXT NOT NULL DEFAULT '{}',
    content_hash TEXT NOT NULL DEFAULT '',
    started_us INTEGER
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_us);
CREATE TABLE IF NOT EXISTS cells (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    cell_id TEXT NOT NULL,
    group_id TEXT,
    status TEXT NOT NULL,
    error TEXT,
    key_text TEXT NOT NULL,
    key TEXT NOT NULL,
    row TEXT NOT NULL,
    UNIQUE (run_id, cell_id)
);
CREATE INDEX IF NOT EXISTS cells_key ON cells (key_text);
CREATE TABLE IF NOT EXISTS metrics (
    cell INTEGER NOT NULL,
    repeat INTEGER NOT NULL,
    metric TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (cell, repeat, metric)
) WITHOUT ROWID;
"#,
    // 2: each distinct key stored once (`keys`), cells refer to it by
    // integer id; every repeat's values kept with their cell (`samples`,
    // JSON: one object of metric → value per repeat) instead of one table
    // row each. `metrics` becomes a view with the same columns (one row per
    // cell × repeat × metric). Ingest of 1,000-cell runs: docs/PERFORMANCE.md
    // ("Results database"). Content hashes are cleared: they are computed
    // differently now, so the next ingest of a stored run replaces it once.
    r#"
CREATE TABLE keys (
    id INTEGER PRIMARY KEY,
    text TEXT NOT NULL UNIQUE,
    key TEXT NOT NULL
);
INSERT INTO keys (text, key) SELECT key_text, min(key) FROM cells GROUP BY key_text ORDER BY key_text;
CREATE TABLE cells_v2 (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    cell_id TEXT NOT NULL,
    group_id TEXT,
    status TEXT NOT NULL,
    error TEXT,
    key_id INTEGER NOT NULL,
    row TEXT NOT NULL,
    samples TEXT NOT NULL DEFAULT '[]',
    UNIQUE (run_id, cell_id)
);
INSERT INTO cells_v2 (id, run_id, cell_id, group_id, status, error, key_id, row, samples)
    SELECT c.id, c.run_id, c.cell_id, c.group_id, c.status, c.error, k.id, c.row,
        COALESCE((
            SELECT json_group_array(json(o)) FROM (
                SELECT json_group_object(m.metric, m.value) AS o FROM metrics m
                WHERE m.cell = c.id GROUP BY m.repeat ORDER BY m.repeat)
        ), '[]')
    FROM cells c JOIN keys k ON k.text = c.key_text ORDER BY c.id;
DROP TABLE metrics;
DROP TABLE cells;
ALTER TABLE cells_v2 RENAME TO cells;
CREATE INDEX cells_key ON cells (key_id);
CREATE VIEW metrics AS
    SELECT c.id AS cell, CAST(r.key AS INTEGER) AS repeat, m.key AS metric, m.value AS value
    FROM cells c, json_each(c.samples) r, json_each(r.value) m;
CREATE VIEW metric_values AS
    SELECT c.run_id, c.cell_id, k.text AS key_text, CAST(r.key AS INTEGER) AS repeat,
        m.key AS metric, m.value AS value
    FROM cells c JOIN keys k ON k.id = c.key_id, json_each(c.samples) r, json_each(r.value) m;
UPDATE runs SET content_hash = '';
"#,
];
