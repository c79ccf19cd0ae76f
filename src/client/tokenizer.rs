//! A local Hugging Face `tokenizer.json`, read with the `tokenizers` crate.
//! Nothing is downloaded: `--tokenizer` names a directory (or the file).

use camino::Utf8Path;

use super::ClientError;

/// The few tokenizer operations the datasets need.
pub struct Tok {
    inner: tokenizers::Tokenizer,
}

impl Tok {
    /// Load `DIR/tokenizer.json` (or the file itself).
    pub fn load(path: &Utf8Path) -> Result<Tok, ClientError> {
        let file = if path.is_dir() {
            path.join("tokenizer.json")
        } else {
            path.to_path_buf()
        };
        let inner = tokenizers::Tokenizer::from_file(file.as_std_path()).map_err(|e| {
            ClientError::Load {
                what: "tokenizer",
                path: file.to_string(),
                reason: e.to_string(),
            }
        })?;
        Ok(Tok { inner })
    }

    /// Token ids of `text`, with special tokens (HF `encode` default).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.inner
            .encode(text, true)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_default()
    }

    /// Text of `ids`, special tokens kept (HF `decode` default).
    pub fn decode(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, false).unwrap_or_default()
    }

    /// Base vocabulary size (HF `tokenizer.vocab_size`, added tokens excluded).
    pub fn vocab_size(&self) -> u32 {
        self.inner.get_vocab_size(false).max(1) as u32
    }

    /// How many special tokens `encode` adds to a single sequence.
    pub fn num_special_tokens_to_add(&self) -> u32 {
        self.inner.get_post_processor().map_or(0, |p| {
            tokenizers::PostProcessor::added_tokens(p, false) as u32
        })
    }
}
