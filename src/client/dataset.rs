//! Prompts for the run, with SGLang's sampling rules:
//!
//! - lengths: `compute_random_lens`, uniform integers in
//!   `[max(int(L * ratio), 1), L]` (all 0 when `L` is 0);
//! - `random-ids`: ids `(offset_i + i + j) % vocab`, sent as ids (decoded
//!   to text only for the chat API, which has no id input);
//! - `random`: ShareGPT first turns (from `--dataset-path`) tokenized and
//!   repeated/truncated to each length, minus the tokenizer's special
//!   tokens, then decoded to text; without `--dataset-path` the ids are
//!   random vocabulary ids instead (SGLang would download ShareGPT);
//! - `sharegpt`: first two turns of each conversation, pruned like SGLang
//!   (prompt or output under 2 tokens, or over `--sharegpt-context-len`).
//!
//! One seeded ChaCha stream drives all of it, so `--seed` reproduces a run.

use camino::Utf8Path;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use super::ClientError;
use super::args::{Api, DatasetName, ServingRequest};
use super::tokenizer::Tok;

/// What is sent as the prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptBody {
    Ids(Vec<u32>),
    Text(String),
}

/// One request's prompt and its target lengths.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub body: PromptBody,
    pub prompt_len: u32,
    pub output_len: u32,
}

/// SGLang's `compute_random_lens`.
pub fn random_lens(full: u32, ratio: f64, n: usize, rng: &mut ChaCha8Rng) -> Vec<u32> {
    if full == 0 {
        return vec![0; n];
    }
    let lo = ((full as f64 * ratio) as u32).max(1).min(full);
    (0..n).map(|_| rng.random_range(lo..=full)).collect()
}

/// Build every prompt of the run.
pub fn load(req: &ServingRequest, tok: Option<&Tok>) -> Result<Vec<Prompt>, ClientError> {
    let mut rng = ChaCha8Rng::seed_from_u64(req.seed);
    match req.dataset {
        DatasetName::RandomIds => Ok(random_ids(req, tok, &mut rng)),
        DatasetName::Random => {
            let tok = need_tok(tok)?;
            let source = match &req.dataset_path {
                Some(p) => Some(sharegpt_pairs(p, &mut rng)?),
                None => None,
            };
            Ok(random_text(req, tok, source.as_deref(), &mut rng))
        }
        DatasetName::ShareGpt => {
            let tok = need_tok(tok)?;
            let path = req
                .dataset_path
                .as_deref()
                .ok_or_else(|| ClientError::bad_arg("--dataset-path", "sharegpt needs a file"))?;
            let pairs = sharegpt_pairs(path, &mut rng)?;
            Ok(sharegpt(req, tok, &pairs))
        }
    }
}

fn need_tok(tok: Option<&Tok>) -> Result<&Tok, ClientError> {
    tok.ok_or_else(|| ClientError::bad_arg("--tokenizer", "this dataset needs a tokenizer"))
}

fn random_ids(req: &ServingRequest, tok: Option<&Tok>, rng: &mut ChaCha8Rng) -> Vec<Prompt> {
    let n = req.num_prompts;
    let ins = random_lens(req.random_input_len, req.random_range_ratio, n, rng);
    let outs = random_lens(req.random_output_len, req.random_range_ratio, n, rng);
    let vocab = tok.map_or(req.vocab_size, Tok::vocab_size).max(1);
    (0..n)
        .map(|i| {
            let offset = rng.random_range(0..vocab);
            let ids: Vec<u32> = (0..ins[i])
                .map(|j| ((offset as u64 + i as u64 + j as u64) % vocab as u64) as u32)
                .collect();
            let body = match (req.backend.api, tok) {
                (Api::Chat, Some(t)) => PromptBody::Text(t.decode(&ids)),
                _ => PromptBody::Ids(ids),
            };
            Prompt {
                body,
                prompt_len: ins[i],
                output_len: outs[i],
            }
        })
        .collect()
}

fn random_text(
    req: &ServingRequest,
    tok: &Tok,
    source: Option<&[(String, String)]>,
    rng: &mut ChaCha8Rng,
) -> Vec<Prompt> {
    let n = req.num_prompts;
    let mut ins = random_lens(req.random_input_len, req.random_range_ratio, n, rng);
    let outs = random_lens(req.random_output_len, req.random_range_ratio, n, rng);
    let special = tok.num_special_tokens_to_add();
    for l in &mut ins {
        *l = l.saturating_sub(special);
    }
    let vocab = tok.vocab_size();
    let mut pairs = source.unwrap_or(&[]).iter();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let want = ins[out.len()] as usize;
        let seed_ids = match source {
            Some(_) => match pairs.next() {
                Some((p, _)) => tok.encode(p),
                None => break,
            },
            None => (0..want.max(1))
                .map(|_| rng.random_range(0..vocab))
                .collect(),
        };
        if seed_ids.is_empty() {
            continue;
        }
        let ids: Vec<u32> = seed_ids.iter().copied().cycle().take(want).collect();
        out.push(Prompt {
            body: PromptBody::Text(tok.decode(&ids)),
            prompt_len: want as u32,
            output_len: outs[out.len()],
        });
    }
    out
}

fn sharegpt(req: &ServingRequest, tok: &Tok, pairs: &[(String, String)]) -> Vec<Prompt> {
    let mut out = Vec::with_capacity(req.num_prompts);
    for (prompt, completion) in pairs {
        if out.len() == req.num_prompts {
            break;
        }
        let prompt_len = tok.encode(prompt).len() as u32;
        let output_len = match req.sharegpt_output_len {
            Some(l) => l,
            None => tok.encode(completion).len() as u32,
        };
        if prompt_len < 2 || output_len < 2 {
            continue;
        }
        if req
            .sharegpt_context_len
            .is_some_and(|c| prompt_len + output_len > c)
        {
            continue;
        }
        out.push(Prompt {
            body: PromptBody::Text(prompt.clone()),
            prompt_len,
            output_len,
        });
    }
    out
}

#[derive(Deserialize)]
struct Conversation {
    #[serde(default, alias = "conversation")]
    conversations: Vec<Turn>,
}

#[derive(Deserialize)]
struct Turn {
    #[serde(default)]
    value: String,
}

/// First two turns of every conversation with at least two, shuffled.
fn sharegpt_pairs(
    path: &Utf8Path,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<(String, String)>, ClientError> {
    let text = std::fs::read(path).map_err(|source| ClientError::Io {
        context: format!("cannot read dataset {path}"),
        source,
    })?;
    let convs: Vec<Conversation> =
        serde_json::from_slice(&text).map_err(|e| ClientError::Load {
            what: "ShareGPT dataset",
            path: path.to_string(),
            reason: e.to_string(),
        })?;
    let mut pairs: Vec<(String, String)> = convs
        .into_iter()
        .filter(|c| c.conversations.len() >= 2)
        .map(|c| {
            let mut it = c.conversations.into_iter();
            let a = it.next().map(|t| t.value).unwrap_or_default();
            let b = it.next().map(|t| t.value).unwrap_or_default();
            (a, b)
        })
        .collect();
    pairs.shuffle(rng);
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lens_follow_sglang_bounds() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let v = random_lens(100, 0.5, 1000, &mut rng);
        assert!(v.iter().all(|&l| (50..=100).contains(&l)));
        assert!(v.contains(&50) && v.contains(&100));
        let v = random_lens(10, 0.0, 500, &mut rng);
        assert!(v.iter().all(|&l| (1..=10).contains(&l)));
        assert_eq!(random_lens(7, 1.0, 3, &mut rng), vec![7, 7, 7]);
        assert_eq!(random_lens(0, 0.3, 2, &mut rng), vec![0, 0]);
    }
}
