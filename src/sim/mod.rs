//! The simulated SGLang engine (to be filled by the simulator work).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SimError {
    #[error("the simulator is not built yet")]
    NotBuilt,
}

impl SimError {
    pub fn hint(&self) -> Option<String> {
        None
    }
    pub fn exit_code(&self) -> i32 {
        crate::error::EXIT_USAGE
    }
}

/// `matrix sim launch-server <SGLang launch_server flags>`; returns the exit code.
pub fn launch_server(_args: &[String]) -> Result<i32, SimError> {
    Err(SimError::NotBuilt)
}

/// `matrix sim one-batch <SGLang one_batch flags>`; returns the exit code.
pub fn one_batch(_args: &[String]) -> Result<i32, SimError> {
    Err(SimError::NotBuilt)
}
