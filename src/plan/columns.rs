//! The CSV columns that restate a setting (`tp`, `ep`, `dp`, `nnodes`),
//! read back from the exact argv that runs, never from the merged settings
//! (which can disagree with it: `tp-size` and `tp_size` in two layers render
//! two `--tp-size` flags and argparse keeps the last).
//!
//! Which flags carry which column, and the engine's default when none is
//! given, is the engine profile's `columns:` ([`ColumnSpec`]); a new engine
//! needs no Rust change.

use indexmap::IndexMap;

use crate::config::engine::ColumnSpec;

/// The value of each declared column: `None` when the last flag's value is
/// not an integer (or the flag ends the argv), so the CSV cell is empty
/// rather than guessed. Columns the profile does not declare are absent.
pub fn read(spec: &IndexMap<String, ColumnSpec>, argv: &[String]) -> IndexMap<String, Option<u64>> {
    let mut out: IndexMap<String, Option<u64>> = IndexMap::new();
    // Value columns first: switches multiply them.
    for (name, c) in spec.iter().filter(|(_, c)| c.on.is_empty()) {
        let v = match last_value(argv, &c.flags) {
            None => Some(c.default),
            Some(text) => text.and_then(int),
        };
        out.insert(name.clone(), v);
    }
    for (name, c) in spec.iter().filter(|(_, c)| !c.on.is_empty()) {
        let v = match last_switch(argv, &c.on, &c.off) {
            None | Some(false) => Some(c.default),
            Some(true) => c.product.iter().try_fold(1u64, |acc, p| {
                out.get(p)
                    .copied()
                    .flatten()
                    .and_then(|x| acc.checked_mul(x))
            }),
        };
        out.insert(name.clone(), v);
    }
    // In the profile's order.
    spec.keys()
        .filter_map(|k| out.get(k).map(|v| (k.clone(), *v)))
        .collect()
}

/// The value given to the last occurrence of any of `flags`, as argparse
/// reads it: `--flag VALUE` or `--flag=VALUE`. `None`: no such flag;
/// `Some(None)`: the flag ends the argv.
pub fn last_value<'a>(argv: &'a [String], flags: &[String]) -> Option<Option<&'a str>> {
    let mut found = None;
    for (i, arg) in argv.iter().enumerate() {
        for f in flags {
            if arg == f {
                found = Some(argv.get(i + 1).map(String::as_str));
            } else if let Some(v) = arg
                .strip_prefix(f.as_str())
                .and_then(|r| r.strip_prefix('='))
            {
                found = Some(Some(v));
            }
        }
    }
    found
}

/// Whether the last of the `on` / `off` flags is an `on` one (`None`: none given).
fn last_switch(argv: &[String], on: &[String], off: &[String]) -> Option<bool> {
    argv.iter().rev().find_map(|a| {
        if on.contains(a) {
            Some(true)
        } else if off.contains(a) {
            Some(false)
        } else {
            None
        }
    })
}

/// An argparse `type=int` value (surrounding blanks allowed, as Python's int()).
fn int(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> IndexMap<String, ColumnSpec> {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn sglang() -> IndexMap<String, ColumnSpec> {
        spec(
            "tp: {flags: [--tp-size, --tensor-parallel-size], default: 1}\n\
             ep: {flags: [--ep-size, --expert-parallel-size, --ep], default: 1}\n\
             dp: {flags: [--dp-size, --data-parallel-size], default: 1}\n\
             nnodes: {flags: [--nnodes], default: 1}\n",
        )
    }

    fn vllm() -> IndexMap<String, ColumnSpec> {
        spec(
            "tp: {flags: [--tensor-parallel-size, -tp], default: 1}\n\
             ep: {on: [--enable-expert-parallel, -ep], off: [--no-enable-expert-parallel], product: [tp, dp], default: 1}\n\
             dp: {flags: [--data-parallel-size, -dp], default: 1}\n\
             nnodes: {flags: [--nnodes, -n], default: 1}\n",
        )
    }

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    fn cols(spec: &IndexMap<String, ColumnSpec>, a: &str) -> Vec<(String, Option<u64>)> {
        read(spec, &argv(a)).into_iter().collect()
    }

    fn want(v: [Option<u64>; 4]) -> Vec<(String, Option<u64>)> {
        ["tp", "ep", "dp", "nnodes"]
            .iter()
            .map(|s| s.to_string())
            .zip(v)
            .collect()
    }

    #[test]
    fn last_occurrence_wins_as_in_argparse() {
        let c = cols(
            &sglang(),
            "python3 -m sglang.launch_server --tp-size 8 --model-path m --tp-size 4",
        );
        assert_eq!(c, want([Some(4), Some(1), Some(1), Some(1)]));
        // An alias after the flag wins too, in either spelling.
        let c = cols(
            &sglang(),
            "x --tp-size=8 --tensor-parallel-size 2 --ep 2 --ep-size=4 --dp-size 2 --nnodes 2",
        );
        assert_eq!(c, want([Some(2), Some(4), Some(2), Some(2)]));
    }

    #[test]
    fn absent_flags_take_the_profile_default() {
        let mut s = sglang();
        s["dp"].default = 3;
        let c = cols(&s, "matrix sim launch-server --model-path m");
        assert_eq!(c, want([Some(1), Some(1), Some(3), Some(1)]));
        // A column the profile does not declare is absent, not guessed.
        s.shift_remove("nnodes");
        assert!(!read(&s, &argv("x --nnodes 2")).contains_key("nnodes"));
    }

    #[test]
    fn garbage_or_missing_values_leave_the_column_empty() {
        let c = cols(
            &sglang(),
            "x --tp-size four --ep-size 2.0 --dp-size=-1 --nnodes",
        );
        assert_eq!(c, want([None, None, None, None]));
        // The last occurrence decides even when an earlier one was good.
        let c = cols(&sglang(), "x --tp-size 4 --tp-size oops");
        assert_eq!(c[0], ("tp".into(), None));
        // A longer flag sharing the prefix is another flag.
        let c = cols(&sglang(), "x --tp-size-extra 9 --nnodes-max 3");
        assert_eq!(c, want([Some(1), Some(1), Some(1), Some(1)]));
    }

    #[test]
    fn vllm_expert_parallel_spans_tp_times_dp() {
        let v = vllm();
        let c = cols(
            &v,
            "vllm -tp 4 --data-parallel-size 2 --enable-expert-parallel",
        );
        assert_eq!(c, want([Some(4), Some(8), Some(2), Some(1)]));
        let c = cols(&v, "vllm --tensor-parallel-size=2 -ep");
        assert_eq!(c, want([Some(2), Some(2), Some(1), Some(1)]));
        // Off, or turned off later: the default.
        let c = cols(
            &v,
            "vllm -tp 4 --enable-expert-parallel --no-enable-expert-parallel",
        );
        assert_eq!(c, want([Some(4), Some(1), Some(1), Some(1)]));
        assert_eq!(cols(&v, "vllm -tp 4")[1], ("ep".into(), Some(1)));
        // An unreadable factor makes the product unknown.
        let c = cols(&v, "vllm -tp x -ep -n 2");
        assert_eq!(c, want([None, None, Some(1), Some(2)]));
    }
}
