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
    // 2: each distinct key and CSV header stored once (`keys`,
    // `columnsets`), cells refer to them by integer id and keep the row as
    // an array of values; every repeat's values kept with their cell
    // (`samples`: `{"metrics": [names], "repeats": [[value or null per
    // name], ...]}`) instead of one table row each. `metrics` becomes a view
    // with the same columns (one row per cell × repeat × metric). Ingest of
    // 1,000-cell runs: docs/PERFORMANCE.md ("Results database"). Content
    // hashes are cleared: they are computed differently now, so the next
    // ingest of a stored run replaces it once.
    r#"
CREATE TABLE keys (
    id INTEGER PRIMARY KEY,
    text TEXT NOT NULL UNIQUE,
    key TEXT NOT NULL
);
INSERT INTO keys (text, key) SELECT key_text, min(key) FROM cells GROUP BY key_text ORDER BY key_text;
CREATE TABLE columnsets (
    id INTEGER PRIMARY KEY,
    columns TEXT NOT NULL UNIQUE
);
INSERT OR IGNORE INTO columnsets (columns)
    SELECT (SELECT json_group_array(key ORDER BY id) FROM json_each(c.row)) FROM cells c ORDER BY c.id;
CREATE TABLE cells_v2 (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    cell_id TEXT NOT NULL,
    group_id TEXT,
    status TEXT NOT NULL,
    error TEXT,
    key_id INTEGER NOT NULL,
    columns_id INTEGER NOT NULL,
    row TEXT NOT NULL,
    samples TEXT NOT NULL,
    UNIQUE (run_id, cell_id)
);
INSERT INTO cells_v2 (id, run_id, cell_id, group_id, status, error, key_id, columns_id, row, samples)
    SELECT c.id, c.run_id, c.cell_id, c.group_id, c.status, c.error, k.id,
        (SELECT s.id FROM columnsets s
         WHERE s.columns = (SELECT json_group_array(key ORDER BY id) FROM json_each(c.row))),
        (SELECT json_group_array(value ORDER BY id) FROM json_each(c.row)),
        json_object(
            'metrics', json((SELECT json_group_array(metric ORDER BY metric)
                             FROM (SELECT DISTINCT metric FROM metrics WHERE cell = c.id))),
            'repeats', json(COALESCE((
                SELECT json_group_array(json(a) ORDER BY rep) FROM (
                    SELECT r.repeat AS rep, (
                        SELECT json_group_array(m2.value ORDER BY n.metric)
                        FROM (SELECT DISTINCT metric FROM metrics WHERE cell = c.id) n
                        LEFT JOIN metrics m2
                            ON m2.cell = c.id AND m2.repeat = r.repeat AND m2.metric = n.metric
                    ) AS a
                    FROM (SELECT DISTINCT repeat FROM metrics WHERE cell = c.id) r)
            ), '[]')))
    FROM cells c JOIN keys k ON k.text = c.key_text ORDER BY c.id;
DROP TABLE metrics;
DROP TABLE cells;
ALTER TABLE cells_v2 RENAME TO cells;
CREATE INDEX cells_key ON cells (key_id);
CREATE VIEW metrics AS
    SELECT c.id AS cell, CAST(r.key AS INTEGER) AS repeat,
        json_extract(c.samples, '$.metrics[' || v.key || ']') AS metric, v.value AS value
    FROM cells c, json_each(c.samples, '$.repeats') r, json_each(r.value) v
    WHERE v.type <> 'null';
CREATE VIEW metric_values AS
    SELECT c.run_id, c.cell_id, k.text AS key_text, m.repeat, m.metric, m.value
    FROM metrics m JOIN cells c ON c.id = m.cell JOIN keys k ON k.id = c.key_id;
UPDATE runs SET content_hash = '';
"#,
];
