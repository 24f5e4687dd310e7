//! GGUF's Q4_0 blocks and the scalar Q4_0 × Q8_0 dot product (llama.cpp's
//! generic `ggml_vec_dot_q4_0_q8_0`).
//!
//! A Q4_0 block holds 32 values: `d` (f16), then 16 bytes whose low
//! nibbles are values 0..16 and high nibbles values 16..32; value `j` is
//! `d * (q_j - 8)`.

use crate::q4_1::{f16_at, QK};
use crate::q8_0::Q8_0_BLOCK_BYTES;

/// Bytes per Q4_0 block.
pub const Q4_0_BLOCK_BYTES: usize = 18;

/// One block's 32 values.
pub fn dequantize_block(block: &[u8], out: &mut [f32]) {
    let d = f16_at(block, 0);
    for j in 0..QK / 2 {
        let q = block[2 + j];
        out[j] = f32::from(i16::from(q & 0x0F) - 8) * d;
        out[j + QK / 2] = f32::from(i16::from(q >> 4) - 8) * d;
    }
}

/// The dot product of `blocks` Q4_0 blocks (`x`) and Q8_0 blocks (`y`),
/// block by block in order, as llama.cpp's generic code adds it.
pub fn dot_scalar(x: &[u8], y: &[u8], blocks: usize) -> f32 {
    let mut sum = 0f32;
    for b in 0..blocks {
        let xb = &x[b * Q4_0_BLOCK_BYTES..(b + 1) * Q4_0_BLOCK_BYTES];
        let yb = &y[b * Q8_0_BLOCK_BYTES..(b + 1) * Q8_0_BLOCK_BYTES];
        let mut low = 0i32;
        let mut high = 0i32;
        for j in 0..QK / 2 {
            let q = xb[2 + j];
            low += (i32::from(q & 0x0F) - 8) * i32::from(yb[2 + j] as i8);
            high += (i32::from(q >> 4) - 8) * i32::from(yb[2 + QK / 2 + j] as i8);
        }
        sum += (low + high) as f32 * (f16_at(xb, 0) * f16_at(yb, 0));
    }
    sum
}
