//! Process exit codes, shared by every stage's error type. A leaf module:
//! it imports nothing from the crate, so any stage may import it.

/// Exit code for usage or configuration errors (bad input).
pub const EXIT_USAGE: i32 = 2;
/// Exit code when some cells failed or a regression was found.
pub const EXIT_FAILED: i32 = 1;
/// Exit code when the user interrupted the run.
pub const EXIT_INTERRUPTED: i32 = 130;
