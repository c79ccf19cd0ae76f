//! The startup-retry policy, once for both modes: a launch that failed to
//! start (a one_batch process that measured nothing, a server that never
//! became ready) is retried `startup_retries` times unless its failure is
//! one a retry cannot change (out of memory, a missing module, a bad
//! argument, a program not found); its cells then get `oom` when it ran out
//! of memory, else the status of how it failed.

use crate::parse::{Failure, FailureClass};
use crate::record::Status;

/// Why a launch did not start.
#[derive(Debug, Clone)]
pub struct StartFailure {
    /// The status its cells get when it is not retried.
    pub status: Status,
    pub msg: String,
    /// A retry would fail the same way.
    pub permanent: bool,
}

impl StartFailure {
    /// From the engine's own words (`failure`, read from the launch's log):
    /// `oom` for lack of memory, else a crash at start; permanent as its
    /// class says.
    pub fn read(failure: &Failure, what: &str) -> StartFailure {
        let status = if failure.class == FailureClass::OutOfMemory {
            Status::Oom
        } else {
            Status::StartupCrash
        };
        StartFailure {
            status,
            msg: failure.message(what),
            permanent: failure.class.permanent(),
        }
    }

    pub fn new(status: Status, msg: String, permanent: bool) -> StartFailure {
        StartFailure {
            status,
            msg,
            permanent,
        }
    }
}

/// Failed starts of one group so far, against `startup_retries`.
#[derive(Debug, Clone)]
pub struct Retries {
    failures: u32,
    limit: u32,
}

impl Retries {
    pub fn new(startup_retries: u32) -> Retries {
        Retries {
            failures: 0,
            limit: startup_retries,
        }
    }

    /// Count a failed start; whether to launch again.
    pub fn retry(&mut self, f: &StartFailure) -> bool {
        self.failures += 1;
        !f.permanent && self.failures <= self.limit
    }

    /// A launch started: later failures count afresh.
    pub fn started(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_are_retried_up_to_the_limit() {
        let f = StartFailure::new(Status::StartupCrash, "x".into(), false);
        let mut r = Retries::new(2);
        assert!(r.retry(&f));
        assert!(r.retry(&f));
        assert!(!r.retry(&f));
        r.started();
        assert!(r.retry(&f));
    }

    #[test]
    fn permanent_failures_are_not_retried() {
        let f = StartFailure::new(Status::Oom, "x".into(), true);
        assert!(!Retries::new(5).retry(&f));
    }

    #[test]
    fn out_of_memory_in_the_log_is_oom_and_permanent() {
        let failure = Failure::read("torch.OutOfMemoryError: CUDA out of memory.", Some(1));
        let f = StartFailure::read(&failure, "x");
        assert_eq!(f.status, Status::Oom);
        assert!(f.permanent);
    }
}
