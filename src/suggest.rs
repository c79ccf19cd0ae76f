//! "Did you mean" suggestions for unknown names. A leaf module: it imports
//! nothing from the crate, so any stage may import it.

/// Did-you-mean: the closest candidate by Jaro-Winkler similarity, if any is
/// close enough to be a plausible typo.
pub fn did_you_mean<'a, I>(input: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(input, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_finds_close_typo() {
        let c = ["tp_size", "ep_size", "mem_fraction_static"];
        assert_eq!(did_you_mean("tp_sise", c).as_deref(), Some("tp_size"));
        assert_eq!(did_you_mean("zzzz", c), None);
    }
}
