//! Activations as Q8_1 blocks, quantized as llama.cpp's AVX2 code does
//! (`quantize_row_q8_1`): per 32 values, `d = max|v| / 127`, each value
//! `round(v * 127 / max|v|)` to nearest with ties to even, and
//! `s = d * Σq` (with the unrounded `d`), both stored as f16.
//!
//! A Q8_1 block: `d` (f16), `s` (f16), then 32 signed bytes.

use half::f16;

use crate::q4_1::QK;

/// Bytes per Q8_1 block.
pub const Q8_1_BLOCK_BYTES: usize = 36;

/// Quantizes `x` (a whole number of 32-value blocks) into `out`
/// (`x.len() / 32` blocks).
///
/// # Panics
/// If `x` is not whole blocks or `out` is not exactly their size.
pub fn quantize_row_q8_1(x: &[f32], out: &mut [u8]) {
    assert!(x.len() % QK == 0 && out.len() == x.len() / QK * Q8_1_BLOCK_BYTES);
    for (values, block) in x.chunks(QK).zip(out.chunks_mut(Q8_1_BLOCK_BYTES)) {
        let d = quantize_block(values, &mut block[4..]);
        let sum: i32 = block[4..].iter().map(|q| i32::from(*q as i8)).sum();
        block[0..2].copy_from_slice(&f16::from_f32(d).to_bits().to_le_bytes());
        block[2..4].copy_from_slice(&f16::from_f32(d * sum as f32).to_bits().to_le_bytes());
    }
}

/// 32 values to 32 signed bytes in `out`, as Q8_0 and Q8_1 both round
/// them; returns the unrounded scale `d`.
pub(crate) fn quantize_block(values: &[f32], out: &mut [u8]) -> f32 {
    let max = values.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = max / 127.0;
    let id = if max != 0.0 { 127.0 / max } else { 0.0 };
    for (q, v) in out.iter_mut().zip(values) {
        // |v * id| <= 127, so the cast keeps the value.
        *q = (v * id).round_ties_even() as i32 as i8 as u8;
    }
    d
}
