//! The outcome of one cell, as written in the CSV `status` column and the
//! journal.

use serde::{Deserialize, Serialize};

/// How a cell ended. Serialised in snake_case (`ok`, `oom`, ...): one flat
/// word, so `status != ok` filters every failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Measured; the metric columns are filled.
    Ok,
    /// The server did not become ready in time.
    StartupTimeout,
    /// The server (or one_batch) exited before it was ready.
    StartupCrash,
    /// CUDA out of memory (seen in the cell's or server's log).
    Oom,
    /// The cell's client ran past its time limit.
    CellTimeout,
    /// The server exited while the cell ran.
    ServerDied,
    /// The client exited non-zero for another reason.
    ClientError,
    /// The client succeeded but its output could not be read.
    ParseError,
    /// The user stopped the run (Ctrl-C) during the cell.
    Interrupted,
    /// The engine skipped the combination (one_batch: too big for the KV pool).
    Skipped,
    /// A matrix constraint removed the cell before anything ran.
    Pruned,
    /// The plan cannot run the cell as written (a profiled plan's cell
    /// without profile passes); the reason is in the `error` column.
    PlanError,
}

impl Status {
    /// Every status, in documentation order.
    pub const ALL: [Status; 12] = [
        Status::Ok,
        Status::StartupTimeout,
        Status::StartupCrash,
        Status::Oom,
        Status::CellTimeout,
        Status::ServerDied,
        Status::ClientError,
        Status::ParseError,
        Status::Interrupted,
        Status::Skipped,
        Status::Pruned,
        Status::PlanError,
    ];

    /// The snake_case word.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::StartupTimeout => "startup_timeout",
            Status::StartupCrash => "startup_crash",
            Status::Oom => "oom",
            Status::CellTimeout => "cell_timeout",
            Status::ServerDied => "server_died",
            Status::ClientError => "client_error",
            Status::ParseError => "parse_error",
            Status::Interrupted => "interrupted",
            Status::Skipped => "skipped",
            Status::Pruned => "pruned",
            Status::PlanError => "plan_error",
        }
    }

    /// A failure kind (makes `matrix run` exit 1). Skipped and pruned cells
    /// are not failures.
    pub fn is_failure(self) -> bool {
        !matches!(self, Status::Ok | Status::Skipped | Status::Pruned)
    }

    /// Parse the snake_case word.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_matches_as_str_and_parse_roundtrips() {
        for s in Status::ALL {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert!(Status::Oom.is_failure());
        assert!(!Status::Skipped.is_failure() && !Status::Ok.is_failure());
    }
}
