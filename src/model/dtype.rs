//! Storage types of weights and KV cache: how many bytes one element takes.
//!
//! Activations and unquantized tensors use `torch_dtype` (or `dtype`);
//! linear-layer weights use `quantization_config` when present. An fp8
//! checkpoint (DeepSeek-V3) therefore has 1-byte linear weights while its
//! embeddings, norms and router stay bf16, and its KV cache stays bf16 unless
//! the serving engine is told otherwise (see [`DType::kv_cache`]).

use super::ModelError;
use super::keys::Keys;

/// One element type: its short name and width in bytes (fractional for int4).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DType {
    pub name: &'static str,
    pub bytes: f64,
}

impl DType {
    pub const BF16: DType = DType {
        name: "bf16",
        bytes: 2.0,
    };
    pub const FP16: DType = DType {
        name: "fp16",
        bytes: 2.0,
    };
    pub const FP32: DType = DType {
        name: "fp32",
        bytes: 4.0,
    };
    pub const FP8: DType = DType {
        name: "fp8",
        bytes: 1.0,
    };

    /// True for 8-bit floating point (uses the GPU's fp8 tensor-core peak).
    pub fn is_fp8(&self) -> bool {
        self.name == "fp8"
    }

    /// A KV-cache dtype as SGLang's `--kv-cache-dtype` spells it
    /// (`auto`, `bf16`, `fp16`, `fp8_e4m3`, `fp8_e5m2`); `None` if unknown.
    /// `auto` means the default: bf16.
    pub fn kv_cache(name: &str) -> Option<DType> {
        match name.to_ascii_lowercase().as_str() {
            "auto" | "bf16" | "bfloat16" => Some(DType::BF16),
            "fp16" | "float16" | "half" => Some(DType::FP16),
            "fp8" | "fp8_e4m3" | "fp8_e5m2" | "float8_e4m3fn" | "float8_e5m2" => Some(DType::FP8),
            "fp32" | "float32" => Some(DType::FP32),
            _ => None,
        }
    }
}

/// The activation dtype from `torch_dtype` / `dtype`; bf16 when absent.
pub(crate) fn activation(keys: &Keys<'_>) -> Result<DType, ModelError> {
    let Some(name) = keys.opt_str(&["torch_dtype", "dtype"])? else {
        return Ok(DType::BF16);
    };
    match name.to_ascii_lowercase().as_str() {
        "bfloat16" | "bf16" => Ok(DType::BF16),
        "float16" | "fp16" | "half" => Ok(DType::FP16),
        "float32" | "fp32" | "float" => Ok(DType::FP32),
        "float8_e4m3fn" | "float8_e5m2" | "fp8" => Ok(DType::FP8),
        _ => Err(ModelError::UnknownDtype {
            origin: keys.origin().to_string(),
            key: "torch_dtype",
            value: name.to_string(),
        }),
    }
}

/// The dtype of linear-layer weights: `quantization_config` if present,
/// else the activation dtype.
pub(crate) fn weights(keys: &Keys<'_>, activation: DType) -> Result<DType, ModelError> {
    let Some(q) = keys.opt_object(&["quantization_config"])? else {
        return Ok(activation);
    };
    let method = q
        .opt_str(&["quant_method"])?
        .unwrap_or("")
        .to_ascii_lowercase();
    if method.contains("fp8") || q.opt_str(&["fmt"])?.is_some_and(|f| f.contains("e4m3")) {
        return Ok(DType::FP8);
    }
    if method == "compressed-tensors" {
        return compressed_tensors(&q, &method);
    }
    match q.opt_u64(&["bits", "w_bit", "weight_bits"])? {
        Some(bits) if bits > 0 => Ok(int_bits(bits)),
        _ => Err(ModelError::UnsupportedQuantization {
            origin: keys.origin().to_string(),
            method,
        }),
    }
}

/// `compressed-tensors`: the first config group's weight scheme.
fn compressed_tensors(q: &Keys<'_>, method: &str) -> Result<DType, ModelError> {
    let unsupported = || ModelError::UnsupportedQuantization {
        origin: q.origin().to_string(),
        method: method.to_string(),
    };
    let groups = q.opt_object(&["config_groups"])?.ok_or_else(unsupported)?;
    let (_, first) = groups.first().ok_or_else(unsupported)?;
    let weights = first
        .as_object()
        .and_then(|g| g.get("weights"))
        .and_then(|w| w.as_object())
        .ok_or_else(unsupported)?;
    let w = Keys::new(weights, q.origin());
    let bits = w.opt_u64(&["num_bits"])?.ok_or_else(unsupported)?;
    match (bits, w.opt_str(&["type"])?) {
        (8, Some("float")) => Ok(DType::FP8),
        (b, _) if b > 0 => Ok(int_bits(b)),
        _ => Err(unsupported()),
    }
}

/// Integer weight-only quantization (`int4`, `int8`, ...).
fn int_bits(bits: u64) -> DType {
    let name = match bits {
        4 => "int4",
        8 => "int8",
        _ => "int",
    };
    DType {
        name,
        bytes: bits as f64 / 8.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value};

    fn dtypes(text: &str) -> Result<(DType, DType), ModelError> {
        let m: Map<String, Value> = serde_json::from_str(text).expect("test JSON");
        let k = Keys::new(&m, "c.json");
        let a = activation(&k)?;
        Ok((a, weights(&k, a)?))
    }

    #[test]
    fn fp8_quantization_config_means_one_byte_weights() {
        let (a, w) = dtypes(
            r#"{"torch_dtype":"bfloat16","quantization_config":{"quant_method":"fp8","fmt":"e4m3"}}"#,
        )
        .expect("parses");
        assert_eq!(a, DType::BF16);
        assert!(w.is_fp8());
        assert_eq!(w.bytes, 1.0);
    }

    #[test]
    fn dtype_key_alias_and_default() {
        assert_eq!(
            dtypes(r#"{"dtype":"float16"}"#).expect("parses").0,
            DType::FP16
        );
        assert_eq!(dtypes("{}").expect("parses"), (DType::BF16, DType::BF16));
        assert!(dtypes(r#"{"torch_dtype":"float12"}"#).is_err());
    }

    #[test]
    fn int4_and_unknown_quantization() {
        let (_, w) =
            dtypes(r#"{"quantization_config":{"quant_method":"awq","bits":4}}"#).expect("parses");
        assert_eq!(w.bytes, 0.5);
        assert!(dtypes(r#"{"quantization_config":{"quant_method":"mystery"}}"#).is_err());
    }

    #[test]
    fn kv_cache_names() {
        assert_eq!(DType::kv_cache("auto"), Some(DType::BF16));
        assert_eq!(DType::kv_cache("fp8_e4m3"), Some(DType::FP8));
        assert_eq!(DType::kv_cache("int3"), None);
    }
}
