//! Token accounting without a real tokenizer.
//!
//! Prompt text counts one token per whitespace-separated word (at least one
//! for a non-empty string); `input_ids` count one token per id. Generated
//! text is deterministic filler: each token is one word from a fixed list
//! with a leading space, chosen from the request's seed and position, so a
//! whitespace re-tokenization of the output gives back the token count.

const WORDS: [&str; 32] = [
    "the",
    "model",
    "is",
    "simulated",
    "and",
    "every",
    "token",
    "arrives",
    "at",
    "a",
    "step",
    "boundary",
    "of",
    "continuous",
    "batching",
    "on",
    "an",
    "imaginary",
    "GPU",
    "with",
    "roofline",
    "timing",
    "so",
    "latency",
    "grows",
    "under",
    "load",
    "like",
    "real",
    "serving",
    "does",
    "now",
];

/// Tokens in a prompt string (whitespace words; empty text is 0).
pub fn count_text(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// The filler token `index` of the request seeded with `seed`.
pub fn filler(seed: u64, index: u64) -> &'static str {
    let mixed = splitmix(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    WORDS[(mixed % WORDS.len() as u64) as usize]
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_and_determinism() {
        assert_eq!(count_text("  hello big\nworld "), 3);
        assert_eq!(count_text(""), 0);
        assert_eq!(filler(7, 3), filler(7, 3));
        let words: Vec<_> = (0..50).map(|i| filler(1, i)).collect();
        assert!(words.iter().any(|w| *w != words[0]), "filler varies");
    }
}
