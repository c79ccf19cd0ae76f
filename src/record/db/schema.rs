//! The database schema: `PRAGMA user_version` is its version; migration
//! `i` (0-based) takes version `i` to `i + 1`. Only ever append.

/// The schema version this matrix writes.
pub const VERSION: i64 = 1;

/// Forward migrations, in order.
pub const MIGRATIONS: [&str; 1] = [r#"
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
"#];
