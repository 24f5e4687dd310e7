//! GGUF's Q8_0 blocks, both as weights and as the activations Q4_0 and
//! Q8_0 weights are multiplied with, and the scalar Q8_0 × Q8_0 dot
//! product (llama.cpp's generic `ggml_vec_dot_q8_0_q8_0`).
//!
//! A Q8_0 block holds 32 values: `d` (f16), then 32 signed bytes; value
//! `j` is `d * q_j`. Activations are quantized as llama.cpp's AVX2 code
//! does (`quantize_row_q8_0`): `d = max|v| / 127`, each value
//! `round(v * 127 / max|v|)` to nearest with ties to even.

use half::f16;

use crate::q4_1::{f16_at, QK};

/// Bytes per Q8_0 block.
pub const Q8_0_BLOCK_BYTES: usize = 34;

/// Quantizes `x` (a whole number of 32-value blocks) into `out`
/// (`x.len() / 32` blocks).
///
/// # Panics
/// If `x` is not whole blocks or `out` is not exactly their size.
pub fn quantize_row_q8_0(x: &[f32], out: &mut [u8]) {
    assert!(x.len() % QK == 0 && out.len() == x.len() / QK * Q8_0_BLOCK_BYTES);
    for (values, block) in x.chunks(QK).zip(out.chunks_mut(Q8_0_BLOCK_BYTES)) {
        let d = crate::q8_1::quantize_block(values, &mut block[2..]);
        block[0..2].copy_from_slice(&f16::from_f32(d).to_bits().to_le_bytes());
    }
}

/// One block's 32 values.
pub fn dequantize_block(block: &[u8], out: &mut [f32]) {
    let d = f16_at(block, 0);
    for (o, q) in out.iter_mut().zip(&block[2..2 + QK]) {
        *o = f32::from(*q as i8) * d;
    }
}

/// The dot product of `blocks` Q8_0 blocks (`x`) and Q8_0 blocks (`y`),
/// block by block in order, as llama.cpp's generic code adds it.
pub fn dot_scalar(x: &[u8], y: &[u8], blocks: usize) -> f32 {
    let mut sum = 0f32;
    for b in 0..blocks {
        let xb = &x[b * Q8_0_BLOCK_BYTES..(b + 1) * Q8_0_BLOCK_BYTES];
        let yb = &y[b * Q8_0_BLOCK_BYTES..(b + 1) * Q8_0_BLOCK_BYTES];
        let ints: i32 = xb[2..]
            .iter()
            .zip(&yb[2..])
            .map(|(a, b)| i32::from(*a as i8) * i32::from(*b as i8))
            .sum();
        sum += ints as f32 * (f16_at(xb, 0) * f16_at(yb, 0));
    }
    sum
}
