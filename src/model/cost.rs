//! FLOPs and HBM bytes of one forward step.
//!
//! A step processes a mixed batch: each sequence brings `new_tokens` tokens
//! and already has `context` tokens in the KV cache (prefill: context 0;
//! decode: new 1). The cost is
//!
//! - FLOPs = 2·(active matmul params)·tokens + 2·hidden·vocab·sequences
//!   (logits of the last token only) + attention: each new token at absolute
//!   position p attends causally to p + 1 keys, costing
//!   2·heads·(d_qk + d_v)·layers FLOPs per key.
//! - bytes = every non-routed-expert weight once + the routed experts that
//!   the step's tokens touch + KV of the cached context read + KV of the
//!   new tokens written. Activations are not counted.
//!
//! With `T` tokens each routed to `k` of `E` experts uniformly, an expert is
//! untouched with probability (1 − k/E)^T, so the expected number of distinct
//! experts read per MoE layer is E·(1 − (1 − k/E)^T): k for one token, E for
//! a large batch.

use std::ops::{Add, AddAssign};

use super::spec::ModelSpec;

/// One sequence's share of a forward step.
#[derive(Clone, Copy, Debug)]
pub struct SeqStep {
    /// Tokens this step computes for the sequence (prompt chunk, or 1 in decode).
    pub new_tokens: u64,
    /// Tokens already in the KV cache before the step.
    pub context: u64,
}

/// Work of one step: floating-point operations and bytes moved to/from HBM.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cost {
    pub flops: f64,
    pub bytes: f64,
}

impl Cost {
    /// FLOPs per byte: above the GPU's `peak / bandwidth` the step is compute-bound.
    pub fn intensity(&self) -> f64 {
        if self.bytes > 0.0 {
            self.flops / self.bytes
        } else {
            0.0
        }
    }
}

impl Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost {
            flops: self.flops + o.flops,
            bytes: self.bytes + o.bytes,
        }
    }
}

impl AddAssign for Cost {
    fn add_assign(&mut self, o: Cost) {
        *self = *self + o;
    }
}

/// The batch reduced to the four sums cost depends on. Integers, so that a
/// uniform batch gives bit-identical results whether summed or multiplied.
#[derive(Clone, Copy, Debug, Default)]
struct StepTotals {
    seqs: u128,
    tokens: u128,
    /// Σ over new tokens of the keys each attends to.
    keys: u128,
    /// Σ context: cached tokens whose KV is read.
    context: u128,
}

impl StepTotals {
    /// `n` sequences, each with `new` tokens after `context` cached ones.
    fn uniform(n: u64, new: u64, context: u64) -> StepTotals {
        let (n, new, c) = (n as u128, new as u128, context as u128);
        if new == 0 {
            return StepTotals::default();
        }
        StepTotals {
            seqs: n,
            tokens: n.saturating_mul(new),
            keys: n.saturating_mul(keys_of(new, c)),
            context: n.saturating_mul(c),
        }
    }

    fn add(&mut self, s: &SeqStep) {
        if s.new_tokens == 0 {
            return;
        }
        let (new, c) = (s.new_tokens as u128, s.context as u128);
        self.seqs += 1;
        self.tokens = self.tokens.saturating_add(new);
        self.keys = self.keys.saturating_add(keys_of(new, c));
        self.context = self.context.saturating_add(c);
    }
}

/// Keys attended by `new` tokens after `c` cached: Σ_{j<new} (c + j + 1).
fn keys_of(new: u128, c: u128) -> u128 {
    new.saturating_mul(c)
        .saturating_add(new.saturating_mul(new.saturating_add(1)) / 2)
}

impl ModelSpec {
    /// Cost of one forward step of a mixed batch. O(batch), no allocation.
    /// Sequences with no new tokens take no part in the step.
    pub fn step_cost(&self, seqs: &[SeqStep]) -> Cost {
        let mut t = StepTotals::default();
        for s in seqs {
            t.add(s);
        }
        self.cost_of(t)
    }

    /// Prefill of `bsz` prompts of `seq` tokens each, nothing cached.
    pub fn prefill_cost(&self, bsz: u64, seq: u64) -> Cost {
        self.cost_of(StepTotals::uniform(bsz, seq, 0))
    }

    /// One decode step of `bsz` sequences, each with `context` tokens cached.
    pub fn decode_cost(&self, bsz: u64, context: u64) -> Cost {
        self.cost_of(StepTotals::uniform(bsz, 1, context))
    }

    /// Expected distinct routed experts per MoE layer for `tokens` tokens.
    pub fn expected_experts_touched(&self, tokens: u64) -> f64 {
        self.experts_touched(tokens as f64)
    }

    fn experts_touched(&self, tokens: f64) -> f64 {
        let c = &self.coef;
        if c.experts <= 0.0 || tokens <= 0.0 {
            return 0.0;
        }
        c.experts * (1.0 - (1.0 - c.top_k / c.experts).powf(tokens))
    }

    fn cost_of(&self, t: StepTotals) -> Cost {
        if t.tokens == 0 {
            return Cost::default();
        }
        let c = &self.coef;
        let (tokens, seqs) = (t.tokens as f64, t.seqs as f64);
        let flops = c.linear_flops_per_token * tokens
            + c.head_flops_per_seq * seqs
            + c.attn_flops_per_key * t.keys as f64;
        let experts = c.moe_layers * c.expert_bytes * self.experts_touched(tokens);
        let kv = c.kv_bytes_per_token * (t.context as f64 + tokens);
        Cost {
            flops,
            bytes: c.static_weight_bytes + experts + kv,
        }
    }
}
