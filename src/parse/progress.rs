//! tqdm-style progress in a client's log: `  5%|▌    | 1/20 [00:01<00:21,
//! 1.12s/it]`. tqdm rewrites its line with `\r` on a terminal and in a file
//! alike; both SGLang's bench_serving and `matrix bench serving` write it to
//! stderr, which the runner sends to the cell's log.

/// The last complete `done/total` progress in `text`: the last `N/M [`
/// (the form tqdm prints) of the last segment (split on `\r` and `\n`)
/// that has one, with `N <= M`. A segment cut short at the end of `text`
/// (still being written) is used only when it already holds the `[`.
pub fn last_progress(text: &str) -> Option<(u64, u64)> {
    text.rsplit(['\r', '\n']).find_map(segment_progress)
}

/// `N/M [` in one segment (its last occurrence).
fn segment_progress(seg: &str) -> Option<(u64, u64)> {
    let b = seg.as_bytes();
    let mut end = seg.len();
    while let Some(i) = seg[..end].rfind(" [") {
        end = i;
        // digits '/' digits right before " ["
        let mut j = i;
        while j > 0 && b[j - 1].is_ascii_digit() {
            j -= 1;
        }
        if j == i || j == 0 || b[j - 1] != b'/' {
            continue;
        }
        let total = &seg[j..i];
        let slash = j - 1;
        let mut k = slash;
        while k > 0 && b[k - 1].is_ascii_digit() {
            k -= 1;
        }
        if k == slash {
            continue;
        }
        let (Ok(done), Ok(total)) = (seg[k..slash].parse::<u64>(), total.parse::<u64>()) else {
            continue;
        };
        if done <= total {
            return Some((done, total));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes tqdm wrote to a file in SGLang's bench_serving (20
    /// prompts), `\r` between updates, warnings around it.
    const TQDM: &str = "Starting benchmark ...\n  0%|          | 0/20 [00:00<?, ?it/s]\r  5%|\u{258c}         | 1/20 [00:01<00:21,  1.12s/it]\r100%|\u{2588}\u{2588}\u{2588}\u{2588}\u{2588}\u{2588}\u{2588}\u{2588}\u{2588}\u{2588}| 20/20 [00:01<00:00, 17.50it/s]\n\n============ Serving Benchmark Result ============\nSuccessful requests:                     20\n";

    #[test]
    fn reads_the_last_update_across_carriage_returns() {
        assert_eq!(last_progress(TQDM), Some((20, 20)));
        let cut = &TQDM[..TQDM.find("\r100%").unwrap()];
        assert_eq!(last_progress(cut), Some((1, 20)));
        let first = &TQDM[..TQDM.find("\r  5%").unwrap()];
        assert_eq!(last_progress(first), Some((0, 20)));
    }

    #[test]
    fn a_segment_still_being_written_is_not_read() {
        // "1/2" of "1/20" is on disk, the rest not yet.
        let partial = "  0%|  | 0/20 [00:00<?, ?it/s]\r  5%|  | 1/2";
        assert_eq!(last_progress(partial), Some((0, 20)));
    }

    #[test]
    fn other_slashes_are_not_progress() {
        assert_eq!(last_progress("see /tmp/a/b [x]\nratio 3/2 [bad]\n"), None);
        assert_eq!(last_progress("no progress here\n"), None);
        assert_eq!(last_progress(""), None);
    }

    #[test]
    fn the_real_fixture_ends_complete() {
        let text = include_str!("../../tests/fixtures/parse/serving.sglang.stdout.txt");
        assert_eq!(last_progress(text), Some((20, 20)));
    }
}
