//! Stop signals. SGLang exits on SIGTERM/SIGINT; with the `ignore_sigterm`
//! fault the simulator logs them and carries on, so only SIGKILL ends it.

use tokio::signal::unix::{SignalKind, signal};

use super::error::SimError;
use super::log::Logger;

/// Installed handlers; install them before anything slow so the fault also
/// covers the loading phase.
pub struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    ignore: bool,
    log: Logger,
}

impl StopSignals {
    pub fn install(log: Logger, ignore: bool) -> Result<Self, SimError> {
        let fail = |e| SimError::io("cannot install signal handlers", e);
        Ok(StopSignals {
            term: signal(SignalKind::terminate()).map_err(fail)?,
            int: signal(SignalKind::interrupt()).map_err(fail)?,
            ignore,
            log,
        })
    }

    /// Resolve on the first stop signal that is not ignored.
    pub async fn wait(mut self) {
        loop {
            let name = tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            };
            if self.ignore {
                self.log.info(&format!(
                    "Received {name}; ignoring it (MATRIX_SIM_FAULT ignore_sigterm)"
                ));
                continue;
            }
            self.log.info(&format!("Received {name}. Shutting down."));
            return;
        }
    }
}
