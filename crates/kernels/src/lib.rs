//! # blindfold-kernels
//!
//! Quantized matrix kernels for the embedded engine: a weight matrix in
//! GGUF's Q4_1 blocks times f32 activations, computed as llama.cpp
//! computes it. Activations are quantized once per row to Q8_1 blocks (with
//! llama.cpp's rounding: to nearest, ties to even), each output is the
//! Q4_1 × Q8_1 integer dot product scaled per block, and the matrix product
//! runs every activation row against each weight row while that row is in
//! cache, split over output rows between threads.
//!
//! The dot product has two versions: [`q4_1::dot_scalar`], safe and plain,
//! the reference every test compares against; and, at the workspace's
//! fixed x86-64-v3 level (AVX2 + FMA), the vectorised one in `avx2`, the
//! only module in the workspace with `unsafe` (its loads from block bytes;
//! each block states its invariant). They differ only in the order float
//! partial sums are added, within the bound the property tests state.
//!
//! What it is **not**: a tensor library. Bytes and `f32` slices in and out;
//! the engine wraps them (`blindfold_engine_candle::linear`).

#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
mod avx2;
pub mod q4_1;
pub mod q8_1;

use rayon::prelude::*;

pub use q4_1::{Q4_1_BLOCK_BYTES, QK};
pub use q8_1::{quantize_row_q8_1, Q8_1_BLOCK_BYTES};

/// The dot product of one Q4_1 row (`x`, `blocks` blocks) and one Q8_1 row
/// (`y`): the vectorised kernel where the build has AVX2 and FMA, else the
/// scalar reference.
///
/// # Panics
/// If either slice is shorter than `blocks` blocks.
pub fn dot_q4_1_q8_1(x: &[u8], y: &[u8], blocks: usize) -> f32 {
    assert!(x.len() >= blocks * Q4_1_BLOCK_BYTES && y.len() >= blocks * Q8_1_BLOCK_BYTES);
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    #[allow(unsafe_code)]
    {
        // SAFETY: this code is compiled only when the build enables AVX2
        // and FMA (the workspace's x86-64-v3 level), so every CPU that runs
        // it has the features the function is compiled for.
        unsafe { avx2::dot_q4_1_q8_1(&x[..blocks * Q4_1_BLOCK_BYTES], &y[..blocks * Q8_1_BLOCK_BYTES]) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
    {
        q4_1::dot_scalar(x, y, blocks)
    }
}

/// Why a matrix product cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShapeError {
    /// The inner dimension is not a whole number of 32-value blocks.
    NotWholeBlocks {
        /// The inner dimension.
        k: usize,
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
}

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShapeError::NotWholeBlocks { k } => write!(f, "inner dimension {k} is not a multiple of {QK}"),
            ShapeError::Length { what, got, want } => {
                write!(f, "{what} has {got} elements, the shape needs {want}")
            }
        }
    }
}

impl std::error::Error for ShapeError {}

/// A weight matrix of `n_out` rows of `k` values in Q4_1 blocks.
#[derive(Debug, Clone)]
pub struct Q4_1Matrix {
    bytes: Vec<u8>,
    n_out: usize,
    k: usize,
}

impl Q4_1Matrix {
    /// Wraps GGUF Q4_1 data: `n_out` rows of `k` values, row-major.
    pub fn new(bytes: Vec<u8>, n_out: usize, k: usize) -> Result<Q4_1Matrix, ShapeError> {
        if k % QK != 0 {
            return Err(ShapeError::NotWholeBlocks { k });
        }
        let want = n_out * (k / QK) * Q4_1_BLOCK_BYTES;
        if bytes.len() != want {
            return Err(ShapeError::Length {
                what: "the Q4_1 weights (bytes)",
                got: bytes.len(),
                want,
            });
        }
        Ok(Q4_1Matrix { bytes, n_out, k })
    }

    /// Output features (rows).
    pub fn n_out(&self) -> usize {
        self.n_out
    }

    /// Input features (columns).
    pub fn k(&self) -> usize {
        self.k
    }

    /// The matrix as f32, row-major (the dense copy large batches use).
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.n_out * self.k];
        out.par_chunks_mut(QK)
            .zip(self.bytes.par_chunks(Q4_1_BLOCK_BYTES))
            .for_each(|(dst, block)| q4_1::dequantize_block(block, dst));
        out
    }

    /// `acts · Wᵀ`: `acts` is `rows` rows of `k` values; the result is
    /// `rows` rows of `n_out` values. Each activation row is quantized to
    /// Q8_1 once; each weight row is then dotted with every activation row.
    pub fn matmul(&self, acts: &[f32], rows: usize) -> Result<Vec<f32>, ShapeError> {
        let k = self.k;
        if acts.len() != rows * k {
            return Err(ShapeError::Length {
                what: "the activations",
                got: acts.len(),
                want: rows * k,
            });
        }
        let blocks = k / QK;
        let row_q = blocks * Q8_1_BLOCK_BYTES;
        let mut quantized = vec![0u8; rows * row_q];
        quantized
            .par_chunks_mut(row_q)
            .zip(acts.par_chunks(k))
            .for_each(|(q, a)| quantize_row_q8_1(a, q));
        let row_w = blocks * Q4_1_BLOCK_BYTES;
        // Output-major first (each weight row's results together), so
        // threads own disjoint slices; then transposed to row-major.
        let mut by_output = vec![0f32; self.n_out * rows];
        by_output
            .par_chunks_mut(rows)
            .zip(self.bytes.par_chunks(row_w))
            .for_each(|(dst, w)| {
                for (r, d) in dst.iter_mut().enumerate() {
                    *d = dot_q4_1_q8_1(w, &quantized[r * row_q..(r + 1) * row_q], blocks);
                }
            });
        if rows == 1 {
            return Ok(by_output);
        }
        let mut out = vec![0f32; rows * self.n_out];
        for (o, col) in by_output.chunks(rows).enumerate() {
            for (r, v) in col.iter().enumerate() {
                out[r * self.n_out + o] = *v;
            }
        }
        Ok(out)
    }
}
