//! `matrix run`: execute a plan group by group, cell by cell, record every
//! cell as it ends, and resume a run that was stopped or killed.

pub mod profile;
pub mod progress;
pub mod stage;
