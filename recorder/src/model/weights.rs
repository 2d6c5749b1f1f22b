//! The model's parameters: their official names and shapes, random initialisation with a fixed
//! seed, and loading from safetensors checkpoints (possibly sharded).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mlx_rs::{Array, Dtype};
use trace_format::ModelConfig;

use crate::config::{DType, CAMERA_CHANNELS};

/// One parameter: official name and shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParamSpec {
    /// Checkpoint key, e.g. `blocks.3.self_attn.q.weight`.
    pub(crate) name: String,
    /// Shape as stored in the checkpoint.
    pub(crate) shape: Vec<i32>,
}

impl ParamSpec {
    fn new(name: impl Into<String>, shape: &[u32]) -> Self {
        ParamSpec { name: name.into(), shape: shape.iter().map(|&v| v as i32).collect() }
    }

    /// Elements.
    pub(crate) fn numel(&self) -> u64 {
        self.shape.iter().map(|&v| v as u64).product()
    }
}

/// Every parameter the forward reads, for `config` (its `blocks` count).
pub(crate) fn param_specs(config: &ModelConfig) -> Vec<ParamSpec> {
    let (d, f) = (config.dim, config.ffn_dim);
    let patch_out = config.out_dim * config.patch.iter().product::<u32>();
    let mut specs = Vec::new();
    let linear = |specs: &mut Vec<ParamSpec>, name: &str, i: u32, o: u32| {
        specs.push(ParamSpec::new(format!("{name}.weight"), &[o, i]));
        specs.push(ParamSpec::new(format!("{name}.bias"), &[o]));
    };
    let [pf, ph, pw] = config.patch;
    specs.push(ParamSpec::new("patch_embedding.weight", &[d, config.in_dim, pf, ph, pw]));
    specs.push(ParamSpec::new("patch_embedding.bias", &[d]));
    linear(&mut specs, "text_embedding.0", config.text_dim, d);
    linear(&mut specs, "text_embedding.2", d, d);
    linear(&mut specs, "time_embedding.0", config.freq_dim, d);
    linear(&mut specs, "time_embedding.2", d, d);
    linear(&mut specs, "time_projection.1", d, 6 * d);
    if config.camera {
        linear(&mut specs, "patch_embedding_wancamctrl", CAMERA_CHANNELS, d);
        linear(&mut specs, "c2ws_hidden_states_layer1", d, d);
        linear(&mut specs, "c2ws_hidden_states_layer2", d, d);
    }
    for b in 0..config.blocks {
        let p = format!("blocks.{b}");
        specs.push(ParamSpec::new(format!("{p}.modulation"), &[1, 6, d]));
        for attn in ["self_attn", "cross_attn"] {
            for proj in ["q", "k", "v", "o"] {
                linear(&mut specs, &format!("{p}.{attn}.{proj}"), d, d);
            }
            specs.push(ParamSpec::new(format!("{p}.{attn}.norm_q.weight"), &[d]));
            specs.push(ParamSpec::new(format!("{p}.{attn}.norm_k.weight"), &[d]));
        }
        specs.push(ParamSpec::new(format!("{p}.norm3.weight"), &[d]));
        specs.push(ParamSpec::new(format!("{p}.norm3.bias"), &[d]));
        linear(&mut specs, &format!("{p}.ffn.0"), d, f);
        linear(&mut specs, &format!("{p}.ffn.2"), f, d);
        if config.camera {
            for layer in ["cam_injector_layer1", "cam_injector_layer2", "cam_scale_layer", "cam_shift_layer"] {
                linear(&mut specs, &format!("{p}.{layer}"), d, d);
            }
        }
    }
    specs.push(ParamSpec::new("head.modulation", &[1, 2, d]));
    linear(&mut specs, "head.head", d, patch_out);
    specs
}

/// Parameter count of `config`.
pub(crate) fn param_count(config: &ModelConfig) -> u64 {
    param_specs(config).iter().map(ParamSpec::numel).sum()
}

/// Named parameter arrays in the compute dtype.
pub struct Weights {
    map: HashMap<String, Array>,
}

impl Weights {
    /// The parameter `name`.
    pub(crate) fn get(&self, name: &str) -> Result<&Array> {
        self.map.get(name).with_context(|| format!("parameter `{name}` missing"))
    }

    /// The parameter map (for saving test checkpoints).
    pub fn arrays(&self) -> &HashMap<String, Array> {
        &self.map
    }

    /// The same parameters in another dtype (e.g. bf16 weights as an f32 reference model).
    // Used by the benchmarks only.
    #[cfg(feature = "bench")]
    pub(crate) fn cast(&self, dtype: DType) -> Result<Self> {
        let mut map = HashMap::new();
        for (name, array) in &self.map {
            let cast = array.as_dtype(dtype.mlx())?;
            cast.eval()?;
            map.insert(name.clone(), cast);
        }
        Ok(Weights { map })
    }

    /// Random weights with a fixed seed: Linear weights ~ N(0, 1/fan_in), biases small,
    /// norm weights one, modulations ~ N(0, 1/dim) (the scale Wan initialises them with).
    pub fn synthetic(config: &ModelConfig, dtype: DType, seed: u64) -> Result<Self> {
        let mut map = HashMap::new();
        let mut pending: Vec<Array> = Vec::new();
        for (i, spec) in param_specs(config).into_iter().enumerate() {
            let key = mlx_rs::random::key(seed.wrapping_mul(1_000_003).wrapping_add(i as u64))?;
            let array = if spec.name.ends_with("norm_q.weight")
                || spec.name.ends_with("norm_k.weight")
                || spec.name.ends_with("norm3.weight")
            {
                Array::ones::<f32>(&spec.shape)?
            } else {
                let fan_in = if spec.shape.len() >= 2 { spec.shape[1..].iter().product::<i32>() } else { config.dim as i32 };
                let std = if spec.name.ends_with(".bias") { 0.02 } else { 1.0 / (fan_in as f32).sqrt() };
                mlx_rs::random::normal::<f32>(&spec.shape[..], None, std, &key)?
            };
            let array = array.as_dtype(dtype.mlx())?;
            pending.push(array.clone());
            map.insert(spec.name, array);
            // Materialise as we go: a lazy graph over tens of GB of weights would peak higher.
            if pending.len() >= 16 {
                mlx_rs::transforms::eval(pending.iter())?;
                pending.clear();
            }
        }
        mlx_rs::transforms::eval(pending.iter())?;
        Ok(Weights { map })
    }

    /// Loads every `*.safetensors` file in `dir`, checks each expected key's presence, shape and
    /// dtype, and casts to the compute dtype. Keys the model does not use are ignored.
    ///
    /// The checkpoint is [`validate`]d first, so that a bad one is reported by file and tensor
    /// rather than by MLX. Parameters holding NaN or infinite values (after the cast) are
    /// named in one warning on standard error: the run's times stay real, its outputs do not.
    pub(crate) fn load(dir: &Path, config: &ModelConfig, dtype: DType) -> Result<Self, WeightError> {
        let files = validate(dir, config)?;
        let mut found: HashMap<String, (Array, PathBuf)> = HashMap::new();
        for file in &files {
            let arrays = Array::load_safetensors(file)
                .map_err(|e| WeightError::Unreadable { file: file.clone(), reason: crate::clean_mlx_message(&e.to_string()) })?;
            for (key, array) in arrays {
                if let Some((_, first)) = found.get(&key) {
                    return Err(WeightError::Duplicate { key, first: first.clone(), second: file.clone() });
                }
                found.insert(key, (array, file.clone()));
            }
        }
        let mut map = HashMap::new();
        let mut non_finite = Vec::new();
        for spec in param_specs(config) {
            let Some((array, file)) = found.remove(&spec.name) else {
                return Err(WeightError::Missing { key: spec.name, dir: dir.to_path_buf() });
            };
            if array.shape() != spec.shape.as_slice() {
                return Err(WeightError::Shape { key: spec.name, file, expected: spec.shape, found: array.shape().to_vec() });
            }
            if !matches!(array.dtype(), Dtype::Float32 | Dtype::Float16 | Dtype::Bfloat16) {
                return Err(WeightError::Dtype { key: spec.name, file, found: format!("{:?}", array.dtype()) });
            }
            let array = array
                .as_dtype(dtype.mlx())
                .map_err(|e| WeightError::Unreadable { file: file.clone(), reason: crate::clean_mlx_message(&e.to_string()) })?;
            if !all_finite(&array).map_err(|e| WeightError::Unreadable { file: file.clone(), reason: crate::clean_mlx_message(&e.to_string()) })? {
                non_finite.push(format!("`{}` in {}", spec.name, file.display()));
            }
            map.insert(spec.name, array);
        }
        if !non_finite.is_empty() {
            let shown: Vec<&str> = non_finite.iter().take(3).map(String::as_str).collect();
            crate::say!(
                "mlx-record: warning: {} parameter(s) hold NaN or infinite values in {}: {}{}; times are recorded, outputs and drift are meaningless",
                non_finite.len(),
                dtype.name(),
                shown.join(", "),
                if non_finite.len() > shown.len() { ", ..." } else { "" }
            );
        }
        Ok(Weights { map })
    }
}

/// Whether every element of `array` is finite (evaluates it).
fn all_finite(array: &Array) -> mlx_rs::error::Result<bool> {
    let bad = array.is_nan()?.logical_or(&array.is_inf()?)?.any(None)?;
    bad.eval()?;
    Ok(!bad.item_exact::<bool>())
}

/// Bytes per element of a safetensors dtype name, where known.
fn safetensors_dtype_size(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "F64" | "I64" | "U64" => 8,
        "F32" | "I32" | "U32" => 4,
        "F16" | "BF16" | "I16" | "U16" => 2,
        "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" => 1,
        _ => return None,
    })
}

/// Largest safetensors header accepted (the format's own readers cap it at 100 MB).
const MAX_HEADER_BYTES: u64 = 100 << 20;

/// One tensor as a safetensors header describes it.
struct TensorEntry {
    dtype: String,
    shape: Vec<u64>,
    file: PathBuf,
}

/// Reads the header of one safetensors file and checks that every tensor's data lies inside the
/// file and has the size its dtype and shape give.
fn read_safetensors_header(file: &Path) -> Result<Vec<(String, TensorEntry)>, WeightError> {
    use std::io::Read;
    let bad = |reason: String| WeightError::Unreadable { file: file.to_path_buf(), reason };
    // Checked before opening: opening a FIFO blocks until a writer comes, forever if none does.
    let meta = std::fs::metadata(file).map_err(|e| bad(e.to_string()))?;
    if let Some(kind) = trace_format::special_kind(&meta) {
        return Err(bad(format!("is {kind}, not a regular file")));
    }
    let mut f = std::fs::File::open(file).map_err(|e| bad(e.to_string()))?;
    let len = f.metadata().map_err(|e| bad(e.to_string()))?.len();
    if len < 8 {
        return Err(bad(format!("{len} byte(s), too short for a safetensors file")));
    }
    let mut prefix = [0u8; 8];
    f.read_exact(&mut prefix).map_err(|e| bad(e.to_string()))?;
    let n = u64::from_le_bytes(prefix);
    if n > MAX_HEADER_BYTES || n > len - 8 {
        return Err(bad(format!("the header claims {n} bytes, the file has {} after the length prefix", len - 8)));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).map_err(|e| bad(e.to_string()))?;
    let json: serde_json::Value = serde_json::from_slice(&header).map_err(|e| bad(format!("the header is not JSON ({e})")))?;
    let serde_json::Value::Object(map) = json else {
        return Err(bad("the header is not a JSON object".into()));
    };
    let data_len = len - 8 - n;
    let mut out = Vec::new();
    for (key, value) in map {
        if key == "__metadata__" {
            continue;
        }
        let tensor = |reason: &str| bad(format!("tensor `{key}`: {reason}"));
        let dtype = value.get("dtype").and_then(|d| d.as_str()).ok_or_else(|| tensor("no dtype"))?.to_string();
        let shape: Vec<u64> = value
            .get("shape")
            .and_then(|s| s.as_array())
            .and_then(|dims| dims.iter().map(serde_json::Value::as_u64).collect::<Option<Vec<u64>>>())
            .ok_or_else(|| tensor("no shape of whole numbers"))?;
        let offsets: Vec<u64> = value
            .get("data_offsets")
            .and_then(|s| s.as_array())
            .and_then(|o| o.iter().map(serde_json::Value::as_u64).collect::<Option<Vec<u64>>>())
            .filter(|o| o.len() == 2)
            .ok_or_else(|| tensor("no data_offsets [begin, end]"))?;
        let (begin, end) = (offsets[0], offsets[1]);
        if begin > end || end > data_len {
            return Err(tensor(&format!("data at bytes {begin}..{end} of {data_len} (file truncated?)")));
        }
        if let Some(size) = safetensors_dtype_size(&dtype) {
            let expected = shape.iter().try_fold(size, |acc, &d| acc.checked_mul(d));
            if expected != Some(end - begin) {
                return Err(tensor(&format!("{} data byte(s), its {dtype} shape {shape:?} needs {}", end - begin, expected.map_or("more than 2^64".into(), |e| e.to_string()))));
            }
        }
        out.push((key, TensorEntry { dtype, shape, file: file.to_path_buf() }));
    }
    Ok(out)
}

/// Checks a checkpoint directory without loading it (and without MLX): every `*.safetensors`
/// file has a well-formed header whose tensors lie inside the file, no key is in two files, and
/// every parameter `config` needs is present with its shape and a float dtype. Returns the
/// checkpoint files. Errors name the file and the tensor.
pub(crate) fn validate(dir: &Path, config: &ModelConfig) -> Result<Vec<PathBuf>, WeightError> {
    let files = checkpoint_files(dir)?;
    let mut found: HashMap<String, TensorEntry> = HashMap::new();
    for file in &files {
        for (key, entry) in read_safetensors_header(file)? {
            if let Some(first) = found.get(&key) {
                return Err(WeightError::Duplicate { key, first: first.file.clone(), second: file.clone() });
            }
            found.insert(key, entry);
        }
    }
    for spec in param_specs(config) {
        let Some(entry) = found.get(&spec.name) else {
            return Err(WeightError::Missing { key: spec.name, dir: dir.to_path_buf() });
        };
        let shape_matches =
            entry.shape.len() == spec.shape.len() && entry.shape.iter().zip(&spec.shape).all(|(&a, &b)| a == b as u64);
        if !shape_matches {
            let found = entry.shape.iter().map(|&v| i32::try_from(v).unwrap_or(i32::MAX)).collect();
            return Err(WeightError::Shape { key: spec.name, file: entry.file.clone(), expected: spec.shape, found });
        }
        if !matches!(entry.dtype.as_str(), "F32" | "F16" | "BF16") {
            return Err(WeightError::Dtype { key: spec.name, file: entry.file.clone(), found: entry.dtype.clone() });
        }
    }
    Ok(files)
}

fn checkpoint_files(dir: &Path) -> Result<Vec<PathBuf>, WeightError> {
    let entries = std::fs::read_dir(dir).map_err(|e| WeightError::Dir { dir: dir.to_path_buf(), reason: e.to_string() })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(WeightError::Dir { dir: dir.to_path_buf(), reason: "no *.safetensors files in it".into() });
    }
    Ok(files)
}

/// Why a checkpoint cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WeightError {
    /// The directory is unreadable or holds no checkpoint.
    #[error("weights directory {dir}: {reason}")]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file is not valid safetensors.
    #[error("{file}: not a readable safetensors file ({reason})")]
    Unreadable {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// A key the model needs is in no shard.
    #[error("checkpoint in {dir} lacks parameter `{key}`")]
    Missing {
        /// The key.
        key: String,
        /// The directory searched.
        dir: PathBuf,
    },
    /// A key appears in two shards.
    #[error("parameter `{key}` appears in both {first} and {second}")]
    Duplicate {
        /// The key.
        key: String,
        /// First shard.
        first: PathBuf,
        /// Second shard.
        second: PathBuf,
    },
    /// A parameter has the wrong shape.
    #[error("parameter `{key}` in {file} has shape {found:?}, expected {expected:?}")]
    Shape {
        /// The key.
        key: String,
        /// The shard.
        file: PathBuf,
        /// Expected shape.
        expected: Vec<i32>,
        /// Shape found.
        found: Vec<i32>,
    },
    /// A parameter is not a float tensor.
    #[error("parameter `{key}` in {file} has dtype {found}, expected a float type (f32, f16 or bf16)")]
    Dtype {
        /// The key.
        key: String,
        /// The shard.
        file: PathBuf,
        /// dtype found.
        found: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Preset;

    #[test]
    fn parameter_counts_match_the_published_sizes() {
        // model.md: the blocks hold about 14.05 B Wan parameters; the camera adds 4 x 5120^2
        // (+ biases) per block, about 4.2 B; the embeddings and head add about 0.24 B.
        let mut cfg = Preset::Lingbot14b.config();
        let block_params = |cfg: &ModelConfig| {
            param_specs(cfg).iter().filter(|p| p.name.starts_with("blocks.")).map(ParamSpec::numel).sum::<u64>() as f64
        };
        let with_camera = block_params(&cfg);
        cfg.camera = false;
        let wan = block_params(&cfg);
        assert!((wan / 1e9 - 14.05).abs() < 0.02, "{wan}");
        assert_eq!(with_camera - wan, 40.0 * 4.0 * (5120.0 * 5120.0 + 5120.0));
        cfg.camera = true;
        let total = param_count(&cfg) as f64;
        assert!(total / 1e9 > 18.2 && total / 1e9 < 18.6, "{total}");
    }
}
