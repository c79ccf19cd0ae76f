//! Errors of the output parsers.

use thiserror::Error;

/// A result file or log that could not be read or understood.
///
/// `source` names where the text came from (a path, or `stdout` of a cell),
/// `line` is 1-based.
#[derive(Debug, Error)]
pub enum ParseError {
    /// A line that should be one JSON object is not.
    #[error("{source_name}:{line}: not a JSON object: {reason}")]
    Json {
        source_name: String,
        line: usize,
        reason: String,
    },
    /// A JSON line lacks a key every line of this format has.
    #[error("{source_name}:{line}: missing or non-numeric `{key}`")]
    MissingKey {
        source_name: String,
        line: usize,
        key: &'static str,
    },
    /// The printed output does not follow the format's line order.
    #[error("{source_name}:{line}: {reason}")]
    Layout {
        source_name: String,
        line: usize,
        reason: String,
    },
    /// A printed result whose own numbers contradict the combination it is
    /// attributed to (wrong lists, or a skipped combination without its
    /// `skipping` line).
    #[error("{source_name}:{line}: the result printed here is not {combination}: {found}")]
    Attribution {
        source_name: String,
        line: usize,
        combination: String,
        found: String,
    },
    /// Printed results cannot be matched to (batch, input, output) combinations.
    #[error("{source_name}: {reason}")]
    Combination { source_name: String, reason: String },
    /// A file could not be read or written.
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl ParseError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ParseError::Json { .. } | ParseError::MissingKey { .. } => Some(
                "is this the right --format? one_batch writes --result-filename lines, \
                 bench_serving writes --output-file lines"
                    .into(),
            ),
            ParseError::Layout { .. } => {
                Some("the log may be cut short or from another SGLang version".into())
            }
            ParseError::Attribution { .. } => Some(
                "results are attributed in one_batch's order (batch size outermost, then input \
                 length, then output length): pass --batch-size, --input-len and --output-len \
                 exactly as one_batch ran with them; a combination it skipped needs its \
                 `skipping (bs, il, ol)` line in the log; or leave the lists out to infer each \
                 combination from its numbers"
                    .into(),
            ),
            ParseError::Combination { .. } => Some(
                "pass the lists one_batch ran with: --batch-size, --input-len, --output-len".into(),
            ),
            ParseError::Io { .. } => None,
        }
    }

    /// Malformed input is a usage error (2); an unreadable file is a failure (1).
    pub fn exit_code(&self) -> i32 {
        match self {
            ParseError::Io { .. } => crate::exit::EXIT_FAILED,
            _ => crate::exit::EXIT_USAGE,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ParseError::Io {
            context: context.into(),
            source,
        }
    }
}
