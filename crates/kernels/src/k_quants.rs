//! GGUF's K-quant super-blocks of 256 values (Q4_K and Q6_K, the types
//! common GGUFs mix in), the Q8_K activations they are multiplied with,
//! and the scalar dot products, the reference for the vectorised ones.
//!
//! - **Q4_K** (144 bytes): `d`, `dmin` (f16), 12 bytes packing eight 6-bit
//!   scales and eight 6-bit minimums, then 128 bytes of nibbles. Value `p`
//!   belongs to sub-block `j = p / 32` and is `d·scale_j·q_p − dmin·min_j`.
//! - **Q6_K** (210 bytes): 128 bytes of low nibbles, 64 bytes of high
//!   2-bit pairs, sixteen signed 8-bit scales, `d` (f16). Value `p` is
//!   `d·scale_{p/16}·(q_p − 32)`.
//! - **Q8_K** (292 bytes): `d` (f32), 256 signed bytes, sixteen i16 sums
//!   of 16 bytes each. Quantized as llama.cpp does (`quantize_row_q8_K`):
//!   the value of largest magnitude maps to −127, rounding to nearest with
//!   ties to even.
//!
//! Each dot product is an exact integer sum per super-block, turned to
//! f32 once: `acc += (d_x·d_y)·Σ − (dmin_x·d_y)·Σmins`. llama.cpp adds the
//! same integers in eight float lanes instead; our vectorised kernels
//! compute the same integers and add them in this order, so they equal
//! these references bit for bit.

use crate::q4_1::f16_at;

/// Values per super-block.
pub const QK_K: usize = 256;
/// Bytes per Q4_K super-block.
pub const Q4_K_BLOCK_BYTES: usize = 144;
/// Bytes per Q6_K super-block.
pub const Q6_K_BLOCK_BYTES: usize = 210;
/// Bytes per Q8_K super-block.
pub const Q8_K_BLOCK_BYTES: usize = 292;

/// Quantizes `x` (a whole number of 256-value super-blocks) into `out`.
///
/// # Panics
/// If `x` is not whole super-blocks or `out` is not exactly their size.
pub fn quantize_row_q8_k(x: &[f32], out: &mut [u8]) {
    assert!(x.len() % QK_K == 0 && out.len() == x.len() / QK_K * Q8_K_BLOCK_BYTES);
    for (values, block) in x.chunks(QK_K).zip(out.chunks_mut(Q8_K_BLOCK_BYTES)) {
        let (mut amax, mut max) = (0f32, 0f32);
        for v in values {
            if v.abs() > amax {
                amax = v.abs();
                max = *v;
            }
        }
        if amax == 0.0 {
            block.fill(0);
            continue;
        }
        let iscale = -127.0 / max;
        for (q, v) in block[4..4 + QK_K].iter_mut().zip(values) {
            // |iscale * v| <= 127 up to rounding; llama.cpp caps at 127.
            *q = ((iscale * v).round_ties_even() as i32).min(127) as i8 as u8;
        }
        for g in 0..QK_K / 16 {
            let sum: i16 = block[4 + 16 * g..4 + 16 * (g + 1)]
                .iter()
                .map(|q| i16::from(*q as i8))
                .sum();
            block[4 + QK_K + 2 * g..4 + QK_K + 2 * g + 2].copy_from_slice(&sum.to_le_bytes());
        }
        block[0..4].copy_from_slice(&(1.0 / iscale).to_le_bytes());
    }
}

/// A Q8_K super-block's `d`.
pub(crate) fn q8_k_d(block: &[u8]) -> f32 {
    f32::from_le_bytes([block[0], block[1], block[2], block[3]])
}

/// A Q8_K super-block's sum of values `16·g .. 16·g + 16`.
pub(crate) fn q8_k_bsum(block: &[u8], g: usize) -> i32 {
    i32::from(i16::from_le_bytes([
        block[4 + QK_K + 2 * g],
        block[4 + QK_K + 2 * g + 1],
    ]))
}

/// A Q4_K super-block's eight scales and eight minimums (6 bits each).
pub fn q4_k_scales_mins(block: &[u8]) -> ([u8; 8], [u8; 8]) {
    let q = &block[4..16];
    let mut scales = [0u8; 8];
    let mut mins = [0u8; 8];
    for j in 0..8 {
        if j < 4 {
            scales[j] = q[j] & 63;
            mins[j] = q[j + 4] & 63;
        } else {
            scales[j] = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
            mins[j] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }
    (scales, mins)
}

/// The 4-bit value `p` (0..256) of a Q4_K super-block.
fn q4_k_value(block: &[u8], p: usize) -> u8 {
    let byte = block[16 + 32 * (p / 64) + p % 32];
    if (p / 32) % 2 == 0 {
        byte & 0x0F
    } else {
        byte >> 4
    }
}

/// The 6-bit value `p` (0..256) of a Q6_K super-block, offset by −32.
fn q6_k_value(block: &[u8], p: usize) -> i32 {
    let (half, within) = (p / 128, p % 128);
    let (quarter, l) = (within / 32, within % 32);
    let low = block[64 * half + l + 32 * (quarter % 2)];
    let low = if quarter < 2 { low & 0x0F } else { low >> 4 };
    let high = (block[128 + 32 * half + l] >> (2 * quarter)) & 3;
    i32::from(low | (high << 4)) - 32
}

/// One Q4_K super-block's 256 values.
pub fn dequantize_q4_k(block: &[u8], out: &mut [f32]) {
    let (d, dmin) = (f16_at(block, 0), f16_at(block, 2));
    let (scales, mins) = q4_k_scales_mins(block);
    for (p, o) in out.iter_mut().enumerate().take(QK_K) {
        let j = p / 32;
        *o = d * f32::from(scales[j]) * f32::from(q4_k_value(block, p)) - dmin * f32::from(mins[j]);
    }
}

/// One Q6_K super-block's 256 values.
pub fn dequantize_q6_k(block: &[u8], out: &mut [f32]) {
    let d = f16_at(block, 208);
    for (p, o) in out.iter_mut().enumerate().take(QK_K) {
        let scale = f32::from(block[192 + p / 16] as i8);
        *o = d * scale * q6_k_value(block, p) as f32;
    }
}

/// The dot product of `blocks` Q4_K super-blocks (`x`) and Q8_K ones (`y`).
pub fn dot_q4_k_scalar(x: &[u8], y: &[u8], blocks: usize) -> f32 {
    let mut acc = 0f32;
    for b in 0..blocks {
        let xb = &x[b * Q4_K_BLOCK_BYTES..(b + 1) * Q4_K_BLOCK_BYTES];
        let yb = &y[b * Q8_K_BLOCK_BYTES..(b + 1) * Q8_K_BLOCK_BYTES];
        let (scales, mins) = q4_k_scales_mins(xb);
        let mut sum = 0i32;
        for (j, scale) in scales.iter().enumerate() {
            let sub: i32 = (32 * j..32 * (j + 1))
                .map(|p| i32::from(q4_k_value(xb, p)) * i32::from(yb[4 + p] as i8))
                .sum();
            sum += i32::from(*scale) * sub;
        }
        let min_sum: i32 = (0..QK_K / 16)
            .map(|g| q8_k_bsum(yb, g) * i32::from(mins[g / 2]))
            .sum();
        acc = super_block_sum(acc, f16_at(xb, 0), f16_at(xb, 2), q8_k_d(yb), sum, min_sum);
    }
    acc
}

/// The dot product of `blocks` Q6_K super-blocks (`x`) and Q8_K ones (`y`).
pub fn dot_q6_k_scalar(x: &[u8], y: &[u8], blocks: usize) -> f32 {
    let mut acc = 0f32;
    for b in 0..blocks {
        let xb = &x[b * Q6_K_BLOCK_BYTES..(b + 1) * Q6_K_BLOCK_BYTES];
        let yb = &y[b * Q8_K_BLOCK_BYTES..(b + 1) * Q8_K_BLOCK_BYTES];
        let sum: i32 = (0..QK_K)
            .map(|p| i32::from(xb[192 + p / 16] as i8) * q6_k_value(xb, p) * i32::from(yb[4 + p] as i8))
            .sum();
        acc = super_block_sum(acc, f16_at(xb, 208), 0.0, q8_k_d(yb), sum, 0);
    }
    acc
}

/// One super-block's contribution, in the order both kernels add it.
#[inline]
pub(crate) fn super_block_sum(acc: f32, d: f32, dmin: f32, dy: f32, sum: i32, min_sum: i32) -> f32 {
    acc + (d * dy) * sum as f32 - (dmin * dy) * min_sum as f32
}
