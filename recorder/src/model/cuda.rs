//! Hand-written CUDA kernels, run through MLX's custom-kernel API on the CUDA backend only, each
//! checked against MLX's own operations when it is created (a kernel that fails the check is not
//! used). Each thread block owns one row, held in registers: one 16-byte-vector read, block
//! reductions, one vector write.
//!
//! - LayerNorm with weight and bias. MLX's LayerNorm on CUDA makes three passes over each row with
//!   scalar loads: 0.22 ms for 9,360 x 5,120 bf16 rows on an H200 (0.86 TB/s), against 0.075 ms
//!   here.
//! - RMSNorm followed by RoPE (queries and keys): one pass instead of RMSNorm's write and RoPE's
//!   read and write.

use std::ffi::CString;

use mlx_rs::error::Exception;
use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{Array, Device, DeviceType, Dtype};

type R<T> = std::result::Result<T, Exception>;

/// Start of every kernel body: `T`, `THREADS`, `VECS` (16-byte vectors per thread) and `D` are
/// template constants; the row of `x` is loaded into `v` by the body.
const ROW_PRELUDE: &str = r#"
  constexpr int N = 16 / sizeof(T);
  const int tid = threadIdx.x;
  const size_t row = blockIdx.x;
  const T* xr = x + row * D;
  T* outr = out + row * D;
  float v[VECS * N];
  __shared__ float partial[32];
  auto block_sum = [&](float s) -> float {
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if ((tid & 31) == 0) partial[tid >> 5] = s;
    __syncthreads();
    if (tid < 32) {
      float t = tid < THREADS / 32 ? partial[tid] : 0.0f;
      for (int o = 16; o > 0; o >>= 1) t += __shfl_xor_sync(0xffffffffu, t, o);
      if (tid == 0) partial[0] = t;
    }
    __syncthreads();
    float total = partial[0];
    __syncthreads();
    return total;
  };
"#;

/// LayerNorm body; `EPS` is spliced in as a literal.
const LAYER_NORM_SOURCE: &str = r#"
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < VECS; ++i) {
    uint4 raw = *reinterpret_cast<const uint4*>(xr + (i * THREADS + tid) * N);
    const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int j = 0; j < N; ++j) {
      v[i * N + j] = static_cast<float>(e[j]);
      sum += v[i * N + j];
    }
  }
  const float mean = block_sum(sum) / D;
  float sq = 0.0f;
#pragma unroll
  for (int k = 0; k < VECS * N; ++k) {
    float c = v[k] - mean;
    sq += c * c;
  }
  const float rstd = rsqrtf(block_sum(sq) / D + EPS);
#pragma unroll
  for (int i = 0; i < VECS; ++i) {
    const int base = (i * THREADS + tid) * N;
    uint4 wraw = *reinterpret_cast<const uint4*>(w + base);
    uint4 braw = *reinterpret_cast<const uint4*>(b + base);
    const T* we = reinterpret_cast<const T*>(&wraw);
    const T* be = reinterpret_cast<const T*>(&braw);
    uint4 oraw;
    T* oe = reinterpret_cast<T*>(&oraw);
#pragma unroll
    for (int j = 0; j < N; ++j) {
      oe[j] = static_cast<T>((v[i * N + j] - mean) * rstd * static_cast<float>(we[j]) + static_cast<float>(be[j]));
    }
    *reinterpret_cast<uint4*>(outr + base) = oraw;
  }
"#;

/// RMSNorm (weight `w`) then RoPE on interleaved pairs; `a` holds per token and pair index
/// `(cos; sin)` as `[L, 1, 2, HALF]` (see [`super::rope_tables`]), `HALF` = head_dim / 2.
const RMS_ROPE_SOURCE: &str = r#"
  const T* ar = a + row * (2 * HALF);
  float sq = 0.0f;
#pragma unroll
  for (int i = 0; i < VECS; ++i) {
    uint4 raw = *reinterpret_cast<const uint4*>(xr + (i * THREADS + tid) * N);
    const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int j = 0; j < N; ++j) {
      v[i * N + j] = static_cast<float>(e[j]);
      sq += v[i * N + j] * v[i * N + j];
    }
  }
  const float r = rsqrtf(block_sum(sq) / D + EPS);
#pragma unroll
  for (int i = 0; i < VECS; ++i) {
    const int base = (i * THREADS + tid) * N;
    uint4 wraw = *reinterpret_cast<const uint4*>(w + base);
    const T* we = reinterpret_cast<const T*>(&wraw);
    uint4 oraw;
    T* oe = reinterpret_cast<T*>(&oraw);
#pragma unroll
    for (int j = 0; j < N; j += 2) {
      const int p = ((base + j) % (2 * HALF)) / 2;
      const float c = static_cast<float>(ar[p]);
      const float s = static_cast<float>(ar[HALF + p]);
      const float x0 = v[i * N + j] * r * static_cast<float>(we[j]);
      const float x1 = v[i * N + j + 1] * r * static_cast<float>(we[j + 1]);
      oe[j] = static_cast<T>(x0 * c - x1 * s);
      oe[j + 1] = static_cast<T>(x0 * s + x1 * c);
    }
    *reinterpret_cast<uint4*>(outr + base) = oraw;
  }
"#;

/// Threads per row and 16-byte vectors per thread for rows of `d` elements of `size` bytes, when
/// the row splits evenly (else MLX's LayerNorm is used).
fn launch_shape(d: i32, size: i32) -> Option<(i32, i32)> {
    let per_vector = 16 / size;
    if d % per_vector != 0 {
        return None;
    }
    let vectors = d / per_vector;
    [128, 256, 64, 192, 160, 96, 32].into_iter().find(|t| vectors % t == 0 && vectors / t <= 16).map(|t| (t, vectors / t))
}

fn check(status: i32, what: &str) -> R<()> {
    if status == 0 { Ok(()) } else { Err(Exception::custom(format!("CUDA kernel: {what} failed"))) }
}

fn c_string(s: &str) -> R<CString> {
    CString::new(s).map_err(|e| Exception::custom(e.to_string()))
}

fn string_vector(values: &[&str]) -> R<mlx_sys::mlx_vector_string> {
    let owned = values.iter().map(|v| c_string(v)).collect::<R<Vec<_>>>()?;
    let mut pointers: Vec<_> = owned.iter().map(|v| v.as_ptr()).collect();
    // SAFETY: mlx-c copies the strings; `owned` outlives the call.
    Ok(unsafe { mlx_sys::mlx_vector_string_new_data(pointers.as_mut_ptr(), pointers.len()) })
}

/// Whether MLX's default device is a CUDA GPU.
fn on_cuda() -> bool {
    let gpu = matches!(Device::try_default().ok().and_then(|d| d.get_type().ok()), Some(DeviceType::Gpu));
    gpu && crate::machine::detect_backend() == crate::machine::Backend::Cuda
}

/// A custom kernel whose thread blocks each own one row of a 2-D `x` (the first input) and write
/// one row of the output, of `x`'s shape and dtype.
struct RowKernel {
    raw: mlx_sys::mlx_fast_cuda_kernel,
}

impl RowKernel {
    fn new(name: &str, inputs: &[&str], body: &str, eps: f32) -> R<Self> {
        let name = c_string(&format!("mlxtrace_{name}_{:08x}", eps.to_bits()))?;
        let source = c_string(&format!("{ROW_PRELUDE}{}", body.replace("EPS", &format!("{eps:e}f"))))?;
        let header = c_string("")?;
        let inputs = string_vector(inputs)?;
        let outputs = string_vector(&["out"])?;
        // SAFETY: plain constructor; the string vectors are freed right after.
        let raw = unsafe {
            let raw = mlx_sys::mlx_fast_cuda_kernel_new(name.as_ptr(), inputs, outputs, source.as_ptr(), header.as_ptr(), true, 0);
            mlx_sys::mlx_vector_string_free(inputs);
            mlx_sys::mlx_vector_string_free(outputs);
            raw
        };
        if raw.ctx.is_null() {
            return Err(Exception::custom("CUDA kernel: creation failed"));
        }
        Ok(RowKernel { raw })
    }

    /// Runs over the rows of `inputs[0]`; `None` when its rows do not split evenly into 16-byte
    /// vectors (the caller then uses MLX's operations). Every input is cast to `x`'s dtype.
    fn apply(&self, inputs: &[&Array], extra: &[(&str, i32)]) -> R<Option<Array>> {
        let x = inputs[0];
        let shape = x.shape();
        let dtype = x.dtype();
        if shape.len() != 2 || !matches!(dtype, Dtype::Bfloat16 | Dtype::Float16 | Dtype::Float32) {
            return Ok(None);
        }
        let (rows, d) = (shape[0], shape[1]);
        let Some((threads, vecs)) = launch_shape(d, x.item_size() as i32) else { return Ok(None) };
        let cast: Vec<Array> = inputs[1..].iter().map(|a| a.as_dtype(dtype)).collect::<R<_>>()?;
        // SAFETY: the bodies read one row of `x` per block, `d`-element vectors and per-row
        // tables of the other inputs (row-contiguous, ensured by MLX), and write every element
        // of `out` exactly once.
        unsafe {
            let config = mlx_sys::mlx_fast_cuda_kernel_config_new();
            let run = || -> R<Array> {
                let out_shape = [rows, d];
                check(mlx_sys::mlx_fast_cuda_kernel_config_add_output_arg(config, out_shape.as_ptr(), 2, dtype.into()), "output")?;
                check(mlx_sys::mlx_fast_cuda_kernel_config_set_grid(config, rows * threads, 1, 1), "grid")?;
                check(mlx_sys::mlx_fast_cuda_kernel_config_set_thread_group(config, threads, 1, 1), "thread group")?;
                let t = c_string("T")?;
                check(mlx_sys::mlx_fast_cuda_kernel_config_add_template_arg_dtype(config, t.as_ptr(), dtype.into()), "T")?;
                for &(name, value) in [("THREADS", threads), ("VECS", vecs), ("D", d)].iter().chain(extra) {
                    let n = c_string(name)?;
                    check(mlx_sys::mlx_fast_cuda_kernel_config_add_template_arg_int(config, n.as_ptr(), value), name)?;
                }
                let vector = mlx_sys::mlx_vector_array_new();
                for a in std::iter::once(x).chain(cast.iter()) {
                    mlx_sys::mlx_vector_array_append_value(vector, a.as_ptr());
                }
                let mut outputs = mlx_sys::mlx_vector_array_new();
                let stream = mlx_rs::Stream::thread_local_or_gpu();
                let status = mlx_sys::mlx_fast_cuda_kernel_apply(&mut outputs, self.raw, vector, config, stream.as_ptr());
                mlx_sys::mlx_vector_array_free(vector);
                if status != 0 {
                    mlx_sys::mlx_vector_array_free(outputs);
                    return Err(Exception::custom("CUDA kernel: apply failed"));
                }
                let mut out = mlx_sys::mlx_array_new();
                let got = mlx_sys::mlx_vector_array_get(&mut out, outputs, 0);
                mlx_sys::mlx_vector_array_free(outputs);
                check(got, "output")?;
                Ok(Array::from_ptr(out))
            };
            let result = run();
            mlx_sys::mlx_fast_cuda_kernel_config_free(config);
            result.map(Some)
        }
    }
}

impl Drop for RowKernel {
    fn drop(&mut self) {
        // SAFETY: created by `mlx_fast_cuda_kernel_new`, freed once.
        unsafe { mlx_sys::mlx_fast_cuda_kernel_free(self.raw) };
    }
}

/// Keeps a kernel only if its self-check ran and stayed within `tolerance` of MLX.
fn checked<K>(what: &str, kernel: R<K>, check: impl FnOnce(&K) -> R<f32>, tolerance: f32) -> Option<K> {
    let kernel = match kernel {
        Ok(k) => k,
        Err(e) => {
            crate::say!("warning: the CUDA {what} kernel could not be created ({e}); using MLX's operations");
            return None;
        }
    };
    match check(&kernel) {
        Ok(err) if err <= tolerance => Some(kernel),
        Ok(err) => {
            crate::say!("warning: the CUDA {what} kernel differs from MLX's by {err:e}; using MLX's operations");
            None
        }
        Err(e) => {
            crate::say!("warning: the CUDA {what} kernel did not run ({e}); using MLX's operations");
            None
        }
    }
}

/// Creates a row kernel when MLX runs on a CUDA GPU, and keeps it if its self-check passes.
fn create<K>(
    what: &str,
    name: &str,
    inputs: &[&str],
    body: &str,
    eps: f32,
    wrap: impl FnOnce(RowKernel) -> K,
    check: impl FnOnce(&K) -> R<f32>,
) -> Option<K> {
    if !on_cuda() {
        return None;
    }
    checked(what, RowKernel::new(name, inputs, body, eps).map(wrap), check, 1e-4)
}

fn max_abs_diff(a: &Array, b: &Array) -> R<f32> {
    let err = a.subtract(b)?.abs()?.max(None)?;
    err.eval()?;
    Ok(err.item_exact::<f32>())
}

/// Random f32 test rows with a shifted mean.
fn test_rows(rows: i32, d: i32) -> R<Array> {
    let key = mlx_rs::random::key(7)?;
    mlx_rs::random::normal::<f32>(&[rows, d], None, None, &key)?.add(Array::from_f32(3.0))
}

fn test_vector(d: i32, seed: u64) -> R<Array> {
    let key = mlx_rs::random::key(seed)?;
    mlx_rs::random::uniform::<_, f32>(0.5, 1.5, &[d], &key)
}

/// A one-pass LayerNorm with weight and bias over `[rows, D]`.
pub(crate) struct LayerNormKernel {
    kernel: RowKernel,
    eps: f32,
}

impl LayerNormKernel {
    /// The kernel on a CUDA default device, if it passes its check against MLX's LayerNorm.
    pub(crate) fn for_default_device(eps: f32) -> Option<Self> {
        let wrap = |kernel| LayerNormKernel { kernel, eps };
        create("LayerNorm", "layer_norm", &["x", "w", "b"], LAYER_NORM_SOURCE, eps, wrap, |k| k.self_check())
    }

    fn self_check(&self) -> R<f32> {
        let (x, w, b) = (test_rows(16, 1024)?, test_vector(1024, 8)?, test_vector(1024, 9)?);
        let ours = self.apply(&x, &w, &b)?.ok_or_else(|| Exception::custom("no launch shape"))?;
        max_abs_diff(&ours, &mlx_rs::fast::layer_norm(&x, Some(&w), Some(&b), self.eps)?)
    }

    /// `LayerNorm(x) * w + b` over the last axis of a 2-D `x`; `None` when the rows do not split
    /// evenly into the kernel's vectors.
    pub(crate) fn apply(&self, x: &Array, w: &Array, b: &Array) -> R<Option<Array>> {
        self.kernel.apply(&[x, w, b], &[])
    }
}

/// RMSNorm with weight, then 3-D RoPE on interleaved pairs, over `[L, D]` queries or keys.
pub(crate) struct RmsRopeKernel {
    kernel: RowKernel,
    eps: f32,
}

impl RmsRopeKernel {
    /// The kernel on a CUDA default device, if it passes its check against MLX's RMSNorm and the
    /// plain RoPE.
    pub(crate) fn for_default_device(eps: f32) -> Option<Self> {
        let wrap = |kernel| RmsRopeKernel { kernel, eps };
        create("RMSNorm + RoPE", "rms_rope", &["x", "w", "a"], RMS_ROPE_SOURCE, eps, wrap, |k| k.self_check())
    }

    fn self_check(&self) -> R<f32> {
        let (l, heads, hd) = (16, 4, 128);
        let (x, w) = (test_rows(l, heads * hd)?, test_vector(heads * hd, 8)?);
        let tables = super::rope_tables(hd as u32, [2, 2, 4], crate::config::DType::F32).map_err(|e| Exception::custom(e.to_string()))?;
        let ours = self.apply(&x, &w, &tables.0, heads)?.ok_or_else(|| Exception::custom("no launch shape"))?;
        // Reference: MLX's RMSNorm, then each pair (x0, x1) -> (x0 c - x1 s, x0 s + x1 c).
        let y = mlx_rs::fast::rms_norm(&x, Some(&w), self.eps)?.reshape(&[l, heads, hd / 2, 2])?;
        let cos = tables.0.index((.., .., 0..1, ..)).reshape(&[l, 1, hd / 2, 1])?;
        let sin = tables.0.index((.., .., 1..2, ..)).reshape(&[l, 1, hd / 2, 1])?;
        let (x0, x1) = (y.index((.., .., .., 0..1)), y.index((.., .., .., 1..2)));
        let r0 = x0.multiply(&cos)?.subtract(&x1.multiply(&sin)?)?;
        let r1 = x0.multiply(&sin)?.add(&x1.multiply(&cos)?)?;
        let reference = mlx_rs::ops::concatenate(&[r0, r1], 3)?.reshape(&[l, heads * hd])?;
        max_abs_diff(&ours, &reference)
    }

    /// Whether rows of `dim` values of `item_size` bytes with `heads` heads suit the kernel.
    pub(crate) fn applies(dim: i32, heads: i32, item_size: i32) -> bool {
        let per_vector = 16 / item_size;
        dim % heads == 0 && (dim / heads) % per_vector == 0 && launch_shape(dim, item_size).is_some()
    }

    /// `RoPE(RMSNorm(x) * w)` for `[L, heads * head_dim]` rows, pairs interleaved as in `x`, with
    /// the `a` table of [`super::rope_tables`]; `None` when the rows do not split evenly.
    pub(crate) fn apply(&self, x: &Array, w: &Array, a: &Array, heads: i32) -> R<Option<Array>> {
        if !Self::applies(x.shape()[1], heads, x.item_size() as i32) {
            return Ok(None);
        }
        let half = x.shape()[1] / heads / 2;
        self.kernel.apply(&[x, w, a], &[("HALF", half)])
    }
}

#[cfg(test)]
mod tests {
    use super::launch_shape;

    #[test]
    fn rows_split_into_whole_vectors() {
        // LingBot-14B: 5120 bf16 = 640 vectors of 8 -> 128 threads x 5.
        assert_eq!(launch_shape(5120, 2), Some((128, 5)));
        // Wan 1.3B: 1536 bf16 = 192 vectors -> 64 threads x 3.
        assert_eq!(launch_shape(1536, 2), Some((64, 3)));
        // f32: 5120 = 1280 vectors of 4 -> 128 x 10.
        assert_eq!(launch_shape(5120, 4), Some((128, 10)));
        // A row that is not a whole number of vectors is left to MLX.
        assert_eq!(launch_shape(100, 2), None);
    }
}
