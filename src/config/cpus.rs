//! CPU lists, written the way `taskset -c` and cgroups write them
//! (`"0-3,8,10-11"`, or a bare number), for `run.server_cpus` and
//! `run.client_cpus`: which CPUs a server's or a client's processes may run
//! on. Pinning them apart keeps a load generator from competing with the
//! server it measures (on a small CPU box, a client that shares a core with
//! vLLM's busy-polling engine core receives whole responses at once).

use serde_json::Value;

/// The CPUs of a list value: a non-negative integer or a list string.
/// Sorted, without repeats. `Err` says what is wrong with the text.
pub fn parse(value: &Value) -> Result<Vec<usize>, String> {
    if let Some(n) = value.as_u64() {
        return Ok(vec![n as usize]);
    }
    let text = value
        .as_str()
        .ok_or_else(|| "expected a CPU list such as \"1\" or \"0-3,8\"".to_string())?;
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim) {
        cpus.extend(range(part)?);
    }
    if cpus.is_empty() {
        return Err("the CPU list is empty".into());
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// `"4"` or `"2-5"`.
fn range(part: &str) -> Result<std::ops::RangeInclusive<usize>, String> {
    let num = |s: &str| {
        s.trim()
            .parse::<usize>()
            .map_err(|_| format!("`{part}` is not a CPU number or a range like 0-3"))
    };
    match part.split_once('-') {
        None => num(part).map(|n| n..=n),
        Some((lo, hi)) => {
            let (lo, hi) = (num(lo)?, num(hi)?);
            if lo > hi {
                return Err(format!("`{part}`: the range runs backwards"));
            }
            Ok(lo..=hi)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use serde_json::json;

    #[test]
    fn lists_ranges_and_numbers() {
        assert_eq!(parse(&json!(1)), Ok(vec![1]));
        assert_eq!(parse(&json!("0-3, 8,2")), Ok(vec![0, 1, 2, 3, 8]));
        assert_eq!(parse(&json!("5")), Ok(vec![5]));
    }

    #[test]
    fn bad_lists_say_why() {
        assert!(parse(&json!("3-1")).unwrap_err().contains("backwards"));
        assert!(parse(&json!("a")).unwrap_err().contains("`a`"));
        assert!(
            parse(&json!("1,"))
                .unwrap_err()
                .contains("not a CPU number")
        );
        assert!(parse(&json!(true)).unwrap_err().contains("CPU list"));
    }
}
