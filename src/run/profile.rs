//! Nsight Systems capture: the nsys command lines are built by the plan
//! ([`crate::plan::profile`]) so `matrix plan --profile` shows them and the
//! manifest records them; the runner only executes them.

pub use crate::plan::profile::*;
