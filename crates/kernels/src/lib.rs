//! # blindfold-kernels
//!
//! Quantized matrix kernels for the embedded engine: a weight matrix in
//! one of GGUF's block formats (Q4_0, Q4_1, Q8_0, Q4_K, Q6_K) times f32
//! activations, computed as llama.cpp computes it. Activations are
//! quantized once per row to the 8-bit format the weights pair with
//! (Q8_0, Q8_1 or Q8_K, with llama.cpp's rounding: to nearest, ties to
//! even), each output is an integer dot product scaled per block, and the
//! matrix product runs every activation row against each weight row while
//! that row is in cache, split over output rows between threads, asking
//! for the weights ahead of the rows it computes. Rows quantized once
//! ([`QuantizedRows`]) serve every matrix of that format and width
//! ([`matmul_many`]: a layer's query, key and value in one pass).
//!
//! Each dot product has two versions: the scalar one in its format's
//! module, safe and plain, the reference every test compares against; and,
//! at the workspace's fixed x86-64-v3 level (AVX2, FMA, F16C), the vectorised
//! one in `avx2`, the only module in the workspace with `unsafe` (its
//! loads from block bytes; each block states its invariant). For the
//! 32-value formats they differ only in the order float partial sums are
//! added (llama.cpp's AVX2 order), within the bound the property tests
//! state; for the K-quants they are equal bit for bit.
//!
//! What it is **not**: a tensor library. Bytes and `f32` slices in and out;
//! the engine wraps them (`blindfold_engine_candle::linear`).

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma",
    target_feature = "f16c"
))]
mod avx2;
pub mod k_quants;
mod matrix;
pub mod q4_0;
pub mod q4_1;
pub mod q8_0;
pub mod q8_1;

pub use k_quants::{quantize_row_q8_k, QK_K};
pub use matrix::{matmul_many, QuantMatrix, QuantizedRows};
pub use q4_1::QK;

/// The block formats a weight matrix may be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WeightFormat {
    /// 32 values: a scale and 4-bit values offset by 8.
    Q4_0,
    /// 32 values: a scale, a minimum and 4-bit values.
    Q4_1,
    /// 32 values: a scale and 8-bit values.
    Q8_0,
    /// 256 values: 6-bit scales and minimums per 32, 4-bit values.
    Q4K,
    /// 256 values: 8-bit scales per 16, 6-bit values offset by 32.
    Q6K,
}

/// The 8-bit formats activations are quantized to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ActivationFormat {
    Q8_0,
    Q8_1,
    Q8K,
}

impl ActivationFormat {
    fn block_bytes(self) -> usize {
        match self {
            ActivationFormat::Q8_0 => q8_0::Q8_0_BLOCK_BYTES,
            ActivationFormat::Q8_1 => q8_1::Q8_1_BLOCK_BYTES,
            ActivationFormat::Q8K => k_quants::Q8_K_BLOCK_BYTES,
        }
    }

    fn quantize(self, x: &[f32], out: &mut [u8]) {
        match self {
            ActivationFormat::Q8_0 => q8_0::quantize_row_q8_0(x, out),
            ActivationFormat::Q8_1 => q8_1::quantize_row_q8_1(x, out),
            ActivationFormat::Q8K => k_quants::quantize_row_q8_k(x, out),
        }
    }
}

impl WeightFormat {
    /// Values per block.
    pub fn block_values(self) -> usize {
        match self {
            WeightFormat::Q4_0 | WeightFormat::Q4_1 | WeightFormat::Q8_0 => QK,
            WeightFormat::Q4K | WeightFormat::Q6K => QK_K,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            WeightFormat::Q4_0 => q4_0::Q4_0_BLOCK_BYTES,
            WeightFormat::Q4_1 => q4_1::Q4_1_BLOCK_BYTES,
            WeightFormat::Q8_0 => q8_0::Q8_0_BLOCK_BYTES,
            WeightFormat::Q4K => k_quants::Q4_K_BLOCK_BYTES,
            WeightFormat::Q6K => k_quants::Q6_K_BLOCK_BYTES,
        }
    }

    fn activation(self) -> ActivationFormat {
        match self {
            WeightFormat::Q4_0 | WeightFormat::Q8_0 => ActivationFormat::Q8_0,
            WeightFormat::Q4_1 => ActivationFormat::Q8_1,
            WeightFormat::Q4K | WeightFormat::Q6K => ActivationFormat::Q8K,
        }
    }

    /// Bytes of one activation block (the 8-bit format these weights pair
    /// with).
    pub fn activation_block_bytes(self) -> usize {
        self.activation().block_bytes()
    }

    /// Quantizes activations `x` (whole blocks) to the 8-bit format these
    /// weights pair with, as llama.cpp does.
    ///
    /// # Panics
    /// If `x` is not whole blocks or `out` is not exactly their size.
    pub fn quantize_activations(self, x: &[f32], out: &mut [u8]) {
        self.activation().quantize(x, out)
    }

    /// One block's values.
    ///
    /// # Panics
    /// If `block` or `out` is shorter than one block.
    pub fn dequantize_block(self, block: &[u8], out: &mut [f32]) {
        match self {
            WeightFormat::Q4_0 => q4_0::dequantize_block(block, out),
            WeightFormat::Q4_1 => q4_1::dequantize_block(block, out),
            WeightFormat::Q8_0 => q8_0::dequantize_block(block, out),
            WeightFormat::Q4K => k_quants::dequantize_q4_k(block, out),
            WeightFormat::Q6K => k_quants::dequantize_q6_k(block, out),
        }
    }

    /// The scalar reference dot product of `blocks` weight blocks (`x`)
    /// and activation blocks (`y`).
    ///
    /// # Panics
    /// If either slice is shorter than `blocks` blocks.
    pub fn dot_scalar(self, x: &[u8], y: &[u8], blocks: usize) -> f32 {
        match self {
            WeightFormat::Q4_0 => q4_0::dot_scalar(x, y, blocks),
            WeightFormat::Q4_1 => q4_1::dot_scalar(x, y, blocks),
            WeightFormat::Q8_0 => q8_0::dot_scalar(x, y, blocks),
            WeightFormat::Q4K => k_quants::dot_q4_k_scalar(x, y, blocks),
            WeightFormat::Q6K => k_quants::dot_q6_k_scalar(x, y, blocks),
        }
    }

    /// The dot product of `blocks` weight blocks (`x`) and activation
    /// blocks (`y`): the vectorised kernel where the build has AVX2, FMA
    /// and F16C, else the scalar reference.
    ///
    /// # Panics
    /// If either slice is shorter than `blocks` blocks.
    pub fn dot(self, x: &[u8], y: &[u8], blocks: usize) -> f32 {
        let (x, y) = (
            &x[..blocks * self.block_bytes()],
            &y[..blocks * self.activation_block_bytes()],
        );
        self.dot_tile::<1, 1>([x], [y])[0][0]
    }

    /// `W` weight rows times `A` activation rows (all whole rows of the
    /// same number of blocks): `out[w][a]` equals [`WeightFormat::dot`] of
    /// that pair bit for bit, computed with each weight block read once
    /// for all `A` rows.
    ///
    /// # Panics
    /// If the rows do not all hold the same number of whole blocks.
    pub fn dot_tile<const W: usize, const A: usize>(self, xs: [&[u8]; W], ys: [&[u8]; A]) -> [[f32; A]; W] {
        #[cfg(all(
            target_arch = "x86_64",
            target_feature = "avx2",
            target_feature = "fma",
            target_feature = "f16c"
        ))]
        #[allow(unsafe_code)]
        // SAFETY: this code is compiled only when the build enables AVX2,
        // FMA and F16C (the workspace's x86-64-v3 level), so every CPU that
        // runs it has the features these functions are compiled for; they
        // check the rows' lengths themselves.
        unsafe {
            match self {
                WeightFormat::Q4_0 => avx2::dot_x_q8_0::<true, W, A>(xs, ys),
                WeightFormat::Q4_1 => avx2::dot_q4_1_q8_1::<W, A>(xs, ys),
                WeightFormat::Q8_0 => avx2::dot_x_q8_0::<false, W, A>(xs, ys),
                WeightFormat::Q4K => avx2::k_quants::dot_k_tile::<false, W, A>(xs, ys),
                WeightFormat::Q6K => avx2::k_quants::dot_k_tile::<true, W, A>(xs, ys),
            }
        }
        #[cfg(not(all(
            target_arch = "x86_64",
            target_feature = "avx2",
            target_feature = "fma",
            target_feature = "f16c"
        )))]
        {
            let blocks = xs[0].len() / self.block_bytes();
            let mut out = [[0f32; A]; W];
            for (w, x) in xs.iter().enumerate() {
                for (a, y) in ys.iter().enumerate() {
                    assert!(
                        x.len() == blocks * self.block_bytes()
                            && y.len() == blocks * self.activation_block_bytes()
                    );
                    out[w][a] = self.dot_scalar(x, y, blocks);
                }
            }
            out
        }
    }
}

/// Asks the CPU to bring `bytes` into its caches ahead of use (weights
/// the next tile reads, while this one computes): a hint, with no effect
/// on any result; nothing where the build has no AVX2.
pub(crate) fn prefetch(bytes: &[u8]) {
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma",
        target_feature = "f16c"
    ))]
    avx2::prefetch(bytes);
    #[cfg(not(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma",
        target_feature = "f16c"
    )))]
    let _ = bytes;
}

/// Why a matrix product cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShapeError {
    /// The inner dimension is not a whole number of the format's blocks.
    NotWholeBlocks {
        /// The inner dimension.
        k: usize,
        /// Values per block.
        block: usize,
    },
    /// A buffer's length does not match the shape.
    Length {
        /// Which buffer.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length the shape needs.
        want: usize,
    },
    /// Activations quantized for one weight format, weights in another.
    Format {
        /// The weights' format.
        weights: WeightFormat,
        /// The format the activations were quantized for.
        activations: WeightFormat,
    },
}

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShapeError::NotWholeBlocks { k, block } => {
                write!(
                    f,
                    "inner dimension {k} is not a multiple of the block size {block}"
                )
            }
            ShapeError::Length { what, got, want } => {
                write!(f, "{what} has {got} elements, the shape needs {want}")
            }
            ShapeError::Format { weights, activations } => write!(
                f,
                "the activations were quantized for {activations:?} weights, these are {weights:?}"
            ),
        }
    }
}

impl std::error::Error for ShapeError {}
