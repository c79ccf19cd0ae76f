//! `matrix sim launch-server|one-batch`: the built-in simulated engine.

use crate::Error;

/// Which simulator entry point, with its raw (SGLang-style) arguments.
#[derive(Debug, Clone)]
pub enum SimRequest {
    LaunchServer(Vec<String>),
    OneBatch(Vec<String>),
}

/// Run the simulator; its exit code is the command's.
pub fn run(req: &SimRequest) -> Result<i32, Error> {
    Ok(match req {
        SimRequest::LaunchServer(args) => crate::sim::launch_server(args)?,
        SimRequest::OneBatch(args) => crate::sim::one_batch(args)?,
    })
}
