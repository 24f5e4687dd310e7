//! Weight matrices with two kernels: candle's quantized one for a few rows,
//! and a dequantized f32 copy (candle's blocked GEMM) for many rows.
//!
//! Why: candle 0.11 multiplies Q4_1 with its generic scalar dot product and
//! runs each activation row on its own, so 16 rows cost 16 single rows.
//! For a decoding batch of [`DENSE_FROM_ROWS`] sequences or more the f32
//! GEMM is faster (the `step_timing` example: a 16-sequence step 97 ms
//! instead of 180 ms); below that the quantized kernel reads four times
//! fewer bytes and wins. The cost is memory, four bytes per weight, so the
//! dense copy is made when the first such batch needs it, not at load: a
//! server that never batches never pays it, and loading stays a read of
//! the quantized blocks (in a measured VM under TCG, dequantizing every
//! matrix at load took longer than the rest of the boot).
//!
//! Prompts always go through the quantized kernel: it quantizes the
//! activations to 8 bits exactly as llama.cpp does, and the prompt is
//! where that rounding decides the first tokens (with the dense kernel a
//! chat prompt's greedy answer differed from llama.cpp's at the fourth
//! token). So a lone sequence computes what llama.cpp computes; in a large
//! decoding batch logits differ from it in the last bits.

use std::sync::{Arc, OnceLock};

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};

/// From this many rows on, the dense kernel is used.
pub const DENSE_FROM_ROWS: usize = 6;

/// A weight matrix `out × in`.
pub struct Linear {
    quantized: QMatMul,
    /// The quantized blocks a dense copy is made from: quantized CPU
    /// weights only.
    dequantizable: Option<Arc<QTensor>>,
    /// The dense copy, made on first use.
    dense: OnceLock<Tensor>,
}

impl Linear {
    /// Wraps a loaded tensor.
    pub(crate) fn new(q: QTensor, device: &Device) -> candle_core::Result<Linear> {
        Linear::shared(Arc::new(q), device)
    }

    /// Wraps a tensor another part of the model also uses (the embedding
    /// when the output matrix is tied to it).
    pub(crate) fn shared(q: Arc<QTensor>, device: &Device) -> candle_core::Result<Linear> {
        let dequantizable = match q.dtype() {
            GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => None,
            _ if device.is_cpu() => Some(q.clone()),
            _ => None,
        };
        Ok(Linear {
            quantized: QMatMul::from_arc(q)?,
            dequantizable,
            dense: OnceLock::new(),
        })
    }

    /// A dense matrix (safetensors weights).
    pub(crate) fn dense(t: Tensor) -> Linear {
        Linear {
            quantized: QMatMul::Tensor(t),
            dequantizable: None,
            dense: OnceLock::new(),
        }
    }

    /// `x · Wᵀ` for `x` of shape `(rows, in)`; `dense_ok` when the rows
    /// are a decoding batch (see the module docs).
    pub(crate) fn forward(&self, x: &Tensor, dense_ok: bool) -> candle_core::Result<Tensor> {
        match &self.dequantizable {
            Some(q) if dense_ok && x.dim(0)? >= DENSE_FROM_ROWS => x.matmul(&self.dense_copy(q)?.t()?),
            _ => self.quantized.forward(x),
        }
    }

    /// Whether the dense copy has been made.
    #[cfg(test)]
    fn has_dense_copy(&self) -> bool {
        self.dense.get().is_some()
    }

    fn dense_copy(&self, q: &QTensor) -> candle_core::Result<Tensor> {
        if let Some(w) = self.dense.get() {
            return Ok(w.clone());
        }
        // Two batches racing both dequantize; the first copy is kept.
        let w = q.dequantize(&Device::Cpu)?;
        Ok(self.dense.get_or_init(|| w).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights() -> QTensor {
        let (out, inp) = (48, 128);
        let w: Vec<f32> = (0..out * inp)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 37.0)
            .collect();
        QTensor::quantize(
            &Tensor::from_vec(w, (out, inp), &Device::Cpu).unwrap(),
            GgmlDType::Q4_1,
        )
        .unwrap()
    }

    fn input(rows: usize) -> Tensor {
        let x: Vec<f32> = (0..rows * 128)
            .map(|i| ((i * 13 % 29) as f32 - 14.0) / 9.0)
            .collect();
        Tensor::from_vec(x, (rows, 128), &Device::Cpu).unwrap()
    }

    #[test]
    fn prompts_use_the_quantized_kernel_bit_for_bit() {
        let ours = Linear::new(weights(), &Device::Cpu).unwrap();
        let candle = QMatMul::from_qtensor(weights()).unwrap();
        let x = input(16);
        let a = ours.forward(&x, false).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(a, candle.forward(&x).unwrap().to_vec2::<f32>().unwrap());
    }

    #[test]
    fn a_decoding_batch_uses_the_dense_kernel_which_agrees_closely() {
        let ours = Linear::new(weights(), &Device::Cpu).unwrap();
        let candle = QMatMul::from_qtensor(weights()).unwrap();
        // Not dequantized at load; a prompt does not dequantize either.
        assert!(!ours.has_dense_copy());
        ours.forward(&input(16), false).unwrap();
        assert!(!ours.has_dense_copy());
        let x = input(DENSE_FROM_ROWS);
        let dense = ours.forward(&x, true).unwrap().to_vec2::<f32>().unwrap();
        let quantized = candle.forward(&x).unwrap().to_vec2::<f32>().unwrap();
        assert_ne!(dense, quantized, "the dense kernel was not used");
        assert!(ours.has_dense_copy());
        for (a, b) in dense.iter().flatten().zip(quantized.iter().flatten()) {
            assert!((a - b).abs() <= 0.05 * b.abs().max(1.0), "{a} vs {b}");
        }
        // Fewer rows than the threshold: quantized.
        let x = input(DENSE_FROM_ROWS - 1);
        assert_eq!(
            ours.forward(&x, true).unwrap().to_vec2::<f32>().unwrap(),
            candle.forward(&x).unwrap().to_vec2::<f32>().unwrap()
        );
    }
}
