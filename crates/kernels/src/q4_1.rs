//! GGUF's Q4_1 blocks and the scalar Q4_1 × Q8_1 dot product (llama.cpp's
//! generic `ggml_vec_dot_q4_1_q8_1`): the reference the vectorised kernel
//! is tested against.
//!
//! A Q4_1 block holds 32 values: `d` and `m` (f16), then 16 bytes whose low
//! nibbles are values 0..16 and high nibbles values 16..32; value `j` is
//! `d * q_j + m`.

use half::f16;

use crate::q8_1::Q8_1_BLOCK_BYTES;

/// Values per block (Q4_1 and Q8_1 alike).
pub const QK: usize = 32;
/// Bytes per Q4_1 block.
pub const Q4_1_BLOCK_BYTES: usize = 20;

/// The f16 at `bytes[at..at + 2]` (little-endian) as f32.
pub(crate) fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([bytes[at], bytes[at + 1]])).to_f32()
}

/// One block's 32 values.
pub fn dequantize_block(block: &[u8], out: &mut [f32]) {
    let (d, m) = (f16_at(block, 0), f16_at(block, 2));
    for j in 0..QK / 2 {
        let q = block[4 + j];
        out[j] = f32::from(q & 0x0F) * d + m;
        out[j + QK / 2] = f32::from(q >> 4) * d + m;
    }
}

/// The dot product of `blocks` Q4_1 blocks (`x`) and Q8_1 blocks (`y`),
/// block by block in order, as llama.cpp's generic code adds it.
pub fn dot_scalar(x: &[u8], y: &[u8], blocks: usize) -> f32 {
    let mut sum = 0f32;
    for b in 0..blocks {
        let xb = &x[b * Q4_1_BLOCK_BYTES..(b + 1) * Q4_1_BLOCK_BYTES];
        let yb = &y[b * Q8_1_BLOCK_BYTES..(b + 1) * Q8_1_BLOCK_BYTES];
        let (dx, mx) = (f16_at(xb, 0), f16_at(xb, 2));
        let (dy, sy) = (f16_at(yb, 0), f16_at(yb, 2));
        let mut low = 0i32;
        let mut high = 0i32;
        for j in 0..QK / 2 {
            let q = xb[4 + j];
            low += i32::from(q & 0x0F) * i32::from(yb[4 + j] as i8);
            high += i32::from(q >> 4) * i32::from(yb[4 + QK / 2 + j] as i8);
        }
        sum += (dx * dy) * (low + high) as f32 + mx * sy;
    }
    sum
}
