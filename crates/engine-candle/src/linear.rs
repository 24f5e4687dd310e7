//! Weight matrices and their kernels.
//!
//! On the CPU, weights in Q4_0, Q4_1, Q8_0, Q4_K or Q6_K (the packaged
//! model is Q4_1 with a Q8_0 embedding; common GGUFs mix in the K-quants)
//! go through `blindfold_kernels`: llama.cpp's arithmetic, vectorised with
//! AVX2, for one row or many (each weight block read once for four
//! activation rows). A row's result does not depend on the rows computed
//! beside it, so a sequence decoded in a batch of 16 gets the logits it
//! gets alone, and a lone sequence computes what llama.cpp computes.
//!
//! Other types use candle's kernels, which run each activation row against
//! the weights on its own; for those, a decoding batch of
//! [`DENSE_FROM_ROWS`] sequences or more uses a dequantized f32 copy and
//! candle's blocked GEMM instead. That copy costs four bytes per weight, so
//! it is made when the first such batch needs it, not at load (in a
//! measured VM under TCG, dequantizing every matrix at load took longer
//! than the rest of the boot). Our formats no longer take it: their tiled
//! kernel beat it (`bench/compare-llama-server.sh` at 16 clients: 114
//! tokens/s quantized, 96 dense).

use std::sync::{Arc, OnceLock};

use blindfold_kernels::{matmul_many, QuantMatrix, QuantizedRows, WeightFormat};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor};

/// From this many rows on, the dense kernel is used.
pub const DENSE_FROM_ROWS: usize = 6;

/// A weight matrix `out × in`.
pub struct Linear {
    kernel: Kernel,
    /// The dense copy, made on first use.
    dense: OnceLock<Tensor>,
}

enum Kernel {
    /// Weights on the CPU in a format `blindfold_kernels` has (llama.cpp's
    /// arithmetic, vectorised).
    Ours(QuantMatrix),
    /// Anything else: candle's kernel, and for other quantized CPU weights
    /// the blocks a dense copy is made from.
    Candle {
        matmul: QMatMul,
        dequantizable: Option<Arc<QTensor>>,
    },
}

impl Linear {
    /// Wraps a loaded tensor.
    pub(crate) fn new(q: QTensor, device: &Device) -> candle_core::Result<Linear> {
        Linear::shared(Arc::new(q), device)
    }

    /// Wraps a tensor another part of the model also uses (the embedding
    /// when the output matrix is tied to it).
    pub(crate) fn shared(q: Arc<QTensor>, device: &Device) -> candle_core::Result<Linear> {
        let kernel = match (device.is_cpu(), our_format(q.dtype())) {
            (true, Some(format)) => {
                let (n_out, k) = q.shape().dims2()?;
                let matrix = QuantMatrix::new(format, q.data()?.into_owned(), n_out, k)
                    .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
                Kernel::Ours(matrix)
            }
            _ => match q.dtype() {
                GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => Kernel::Candle {
                    matmul: QMatMul::from_arc(q)?,
                    dequantizable: None,
                },
                _ => Kernel::Candle {
                    dequantizable: device.is_cpu().then(|| q.clone()),
                    matmul: QMatMul::from_arc(q)?,
                },
            },
        };
        Ok(Linear {
            kernel,
            dense: OnceLock::new(),
        })
    }

    /// A dense matrix (safetensors weights).
    pub(crate) fn dense(t: Tensor) -> Linear {
        Linear {
            kernel: Kernel::Candle {
                matmul: QMatMul::Tensor(t),
                dequantizable: None,
            },
            dense: OnceLock::new(),
        }
    }

    /// `x · Wᵀ` for `rows` rows of `in` values (row-major), as `rows` rows
    /// of `out` values; `dense_ok` when the rows are a decoding batch (see
    /// the module docs). `device` is where the model's tensors are.
    pub(crate) fn forward_rows(
        &self,
        x: &[f32],
        rows: usize,
        dense_ok: bool,
        device: &Device,
    ) -> candle_core::Result<Vec<f32>> {
        let (matmul, has_copy) = match &self.kernel {
            Kernel::Ours(m) => return m.matmul(x, rows).map_err(shape_err),
            Kernel::Candle {
                matmul,
                dequantizable,
            } => (matmul, dequantizable.is_some()),
        };
        let k = x.len() / rows.max(1);
        let x = Tensor::from_slice(x, (rows, k), device)?;
        let y = if has_copy && dense_ok && rows >= DENSE_FROM_ROWS {
            x.matmul(&self.dense_copy()?.t()?)?
        } else {
            matmul.forward(&x)?
        };
        y.to_dtype(DType::F32)?.flatten_all()?.to_vec1()
    }

    /// Several matrices times the same rows (a layer's query, key and
    /// value; its gate and up): where all are in one of our formats with
    /// the same width, the rows are quantized once and the products run in
    /// one pass over the threads; otherwise one after another.
    pub(crate) fn forward_many(
        linears: &[&Linear],
        x: &[f32],
        rows: usize,
        dense_ok: bool,
        device: &Device,
    ) -> candle_core::Result<Vec<Vec<f32>>> {
        let ours: Option<Vec<&QuantMatrix>> = linears
            .iter()
            .map(|l| match &l.kernel {
                Kernel::Ours(m) => Some(m),
                Kernel::Candle { .. } => None,
            })
            .collect();
        if let Some(matrices) = ours.filter(|ms| {
            ms.windows(2)
                .all(|p| p[0].format() == p[1].format() && p[0].k() == p[1].k())
        }) {
            if let Some(first) = matrices.first() {
                let quantized = QuantizedRows::new(first.format(), first.k(), x, rows).map_err(shape_err)?;
                return matmul_many(&matrices, &quantized).map_err(shape_err);
            }
        }
        linears
            .iter()
            .map(|l| l.forward_rows(x, rows, dense_ok, device))
            .collect()
    }

    /// `x · Wᵀ` for a tensor `x` of shape `(rows, in)`.
    #[cfg(test)]
    fn forward(&self, x: &Tensor, dense_ok: bool) -> candle_core::Result<Tensor> {
        let (rows, _) = x.dims2()?;
        let values = x.flatten_all()?.to_vec1::<f32>()?;
        let out = self.forward_rows(&values, rows, dense_ok, x.device())?;
        let n = out.len() / rows.max(1);
        Tensor::from_vec(out, (rows, n), x.device())
    }

    /// Whether the dense copy has been made.
    #[cfg(test)]
    fn has_dense_copy(&self) -> bool {
        self.dense.get().is_some()
    }

    fn dense_copy(&self) -> candle_core::Result<Tensor> {
        if let Some(w) = self.dense.get() {
            return Ok(w.clone());
        }
        // Two batches racing both dequantize; the first copy is kept.
        let w = match &self.kernel {
            Kernel::Candle {
                dequantizable: Some(q),
                ..
            } => q.dequantize(&Device::Cpu)?,
            Kernel::Candle {
                matmul: QMatMul::Tensor(t),
                ..
            } => t.clone(),
            _ => return Err(candle_core::Error::Msg("no dense copy for these weights".into())),
        };
        Ok(self.dense.get_or_init(|| w).clone())
    }
}

/// The block format of ours a GGUF type is, if any.
fn our_format(dtype: GgmlDType) -> Option<WeightFormat> {
    match dtype {
        GgmlDType::Q4_0 => Some(WeightFormat::Q4_0),
        GgmlDType::Q4_1 => Some(WeightFormat::Q4_1),
        GgmlDType::Q8_0 => Some(WeightFormat::Q8_0),
        GgmlDType::Q4K => Some(WeightFormat::Q4K),
        GgmlDType::Q6K => Some(WeightFormat::Q6K),
        _ => None,
    }
}

fn shape_err(e: blindfold_kernels::ShapeError) -> candle_core::Error {
    candle_core::Error::Msg(e.to_string())
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

    fn kernel_of(q: &QTensor) -> QuantMatrix {
        let (n, k) = q.shape().dims2().unwrap();
        QuantMatrix::new(WeightFormat::Q4_1, q.data().unwrap().into_owned(), n, k).unwrap()
    }

    #[test]
    fn prompts_use_the_q4_1_kernel_which_agrees_with_candles_closely() {
        let ours = Linear::new(weights(), &Device::Cpu).unwrap();
        let x = input(16);
        let a = ours.forward(&x, false).unwrap().to_vec2::<f32>().unwrap();
        // Bit for bit the kernel's own product...
        let direct = kernel_of(&weights())
            .matmul(&x.flatten_all().unwrap().to_vec1::<f32>().unwrap(), 16)
            .unwrap();
        assert_eq!(a.concat(), direct);
        // ...and within activation rounding of candle's generic Q4_1 kernel
        // (which rounds ties away from zero where llama.cpp's AVX2 code,
        // and ours, round them to even): a step or so of one activation.
        let candle = QMatMul::from_qtensor(weights()).unwrap();
        let b = candle.forward(&x).unwrap().to_vec2::<f32>().unwrap();
        let w = weights()
            .dequantize(&Device::Cpu)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let xs = x.to_vec2::<f32>().unwrap();
        for (r, (ours, theirs)) in a.iter().zip(&b).enumerate() {
            for (o, (p, q)) in ours.iter().zip(theirs).enumerate() {
                let scale: f32 = w[o].iter().zip(&xs[r]).map(|(w, x)| (w * x).abs()).sum();
                assert!((p - q).abs() <= 0.01 * scale + 1e-4, "{p} vs {q} (scale {scale})");
            }
        }
    }

    #[test]
    fn a_decoding_batch_of_our_format_stays_quantized_and_each_row_equals_it_alone() {
        let ours = Linear::new(weights(), &Device::Cpu).unwrap();
        let x = input(16);
        let batch = ours.forward(&x, true).unwrap().to_vec2::<f32>().unwrap();
        assert!(!ours.has_dense_copy());
        for (r, row) in batch.iter().enumerate() {
            let alone = ours.forward(&x.narrow(0, r, 1).unwrap(), true).unwrap();
            assert_eq!(&alone.to_vec2::<f32>().unwrap()[0], row, "row {r}");
        }
    }

    #[test]
    fn a_decoding_batch_of_another_format_uses_the_dense_copy_which_agrees_closely() {
        let w: Vec<f32> = (0..48 * 256)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 37.0)
            .collect();
        let q = || {
            QTensor::quantize(
                &Tensor::from_vec(w.clone(), (48, 256), &Device::Cpu).unwrap(),
                GgmlDType::Q5K,
            )
            .unwrap()
        };
        let theirs = Linear::new(q(), &Device::Cpu).unwrap();
        let candle = QMatMul::from_qtensor(q()).unwrap();
        let x = input(2 * DENSE_FROM_ROWS)
            .reshape((DENSE_FROM_ROWS, 256))
            .unwrap();
        // Not dequantized at load; a prompt does not dequantize either.
        assert!(!theirs.has_dense_copy());
        theirs.forward(&x, false).unwrap();
        assert!(!theirs.has_dense_copy());
        let dense = theirs
            .forward(&x, true)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap()
            .concat();
        let quantized = candle.forward(&x).unwrap().to_vec2::<f32>().unwrap().concat();
        assert_ne!(dense, quantized, "the dense kernel was not used");
        assert!(theirs.has_dense_copy());
        for (a, b) in dense.iter().zip(&quantized) {
            assert!((a - b).abs() <= 0.05 * b.abs().max(1.0), "{a} vs {b}");
        }
        // Fewer rows than the threshold: candle's quantized kernel.
        let x = x.narrow(0, 0, DENSE_FROM_ROWS - 1).unwrap();
        assert_eq!(
            theirs.forward(&x, true).unwrap().to_vec2::<f32>().unwrap(),
            candle.forward(&x).unwrap().to_vec2::<f32>().unwrap()
        );
    }

    /// candle reads GGUF's block formats independently of our kernels
    /// crate: for each format we compute, both read the same blocks as the
    /// same values, and the products agree within activation rounding.
    #[test]
    fn every_format_of_ours_reads_as_candle_reads_it() {
        let (out, inp) = (64, 512);
        let w: Vec<f32> = (0..out * inp)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 37.0 + (i % 7) as f32 / 11.0)
            .collect();
        let w = Tensor::from_vec(w, (out, inp), &Device::Cpu).unwrap();
        let x = input(3 * 4).reshape((3, 512)).unwrap();
        for dtype in [
            GgmlDType::Q4_0,
            GgmlDType::Q4_1,
            GgmlDType::Q8_0,
            GgmlDType::Q4K,
            GgmlDType::Q6K,
        ] {
            let q = QTensor::quantize(&w, dtype).unwrap();
            let ours = QuantMatrix::new(
                our_format(dtype).unwrap(),
                q.data().unwrap().into_owned(),
                out,
                inp,
            )
            .unwrap();
            let theirs = q
                .dequantize(&Device::Cpu)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            assert_eq!(ours.dequantize(), theirs, "{dtype:?}");
            let linear = Linear::new(q, &Device::Cpu).unwrap();
            assert!(matches!(linear.kernel, Kernel::Ours(_)), "{dtype:?}");
            let a = linear.forward(&x, false).unwrap().to_vec2::<f32>().unwrap();
            let b = x.matmul(&w.t().unwrap()).unwrap().to_vec2::<f32>().unwrap();
            let dense = Tensor::from_vec(theirs, (out, inp), &Device::Cpu).unwrap();
            let c = x.matmul(&dense.t().unwrap()).unwrap().to_vec2::<f32>().unwrap();
            let xs = x.to_vec2::<f32>().unwrap();
            let ws = w.to_vec2::<f32>().unwrap();
            for r in 0..3 {
                for o in 0..out {
                    let scale: f32 = ws[o].iter().zip(&xs[r]).map(|(w, x)| (w * x).abs()).sum();
                    // Against the same dequantized weights: activation
                    // rounding only.
                    assert!(
                        (a[r][o] - c[r][o]).abs() <= 0.01 * scale + 1e-4,
                        "{dtype:?}: {} vs {}",
                        a[r][o],
                        c[r][o]
                    );
                    // And roughly the unquantized product.
                    assert!(
                        (a[r][o] - b[r][o]).abs() <= 0.1 * scale + 1e-3,
                        "{dtype:?}: {} vs {}",
                        a[r][o],
                        b[r][o]
                    );
                }
            }
        }
    }
}
