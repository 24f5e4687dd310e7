//! Q4_K × Q8_K and Q6_K × Q8_K with AVX2: each super-block's integer sum
//! in eight i32 lanes (exact), added across lanes, then turned to f32 in
//! the same order as the scalar references in `crate::k_quants`, so the
//! two agree bit for bit.
#![allow(unsafe_code)]

use core::arch::x86_64::*;

use super::{assert_whole_rows, load32};
use crate::k_quants::{
    q4_k_scales_mins, q8_k_bsum, q8_k_d, super_block_sum, Q4_K_BLOCK_BYTES, Q6_K_BLOCK_BYTES,
    Q8_K_BLOCK_BYTES, QK_K,
};
use crate::q4_1::f16_at;

/// Eight i32 lanes added (exact: the callers' sums fit an i32).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_i32(x: __m256i) -> i32 {
    let r = _mm_add_epi32(_mm256_extracti128_si256::<1>(x), _mm256_castsi256_si128(x));
    let r = _mm_add_epi32(r, _mm_unpackhi_epi64(r, r));
    let r = _mm_add_epi32(r, _mm_shuffle_epi32::<0b01>(r));
    _mm_cvtsi128_si32(r)
}

/// Q4_K × Q8_K; `x` and `y` hold the same number of super-blocks.
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q4_k_q8_k(x: &[u8], y: &[u8]) -> f32 {
    let mask = _mm256_set1_epi8(0x0F);
    let mut acc = 0f32;
    for (xb, yb) in x
        .chunks_exact(Q4_K_BLOCK_BYTES)
        .zip(y.chunks_exact(Q8_K_BLOCK_BYTES))
    {
        let (scales, mins) = q4_k_scales_mins(xb);
        let mut lanes = _mm256_setzero_si256();
        for chunk in 0..QK_K / 64 {
            let packed = load32(xb, 16 + 32 * chunk);
            let low = _mm256_and_si256(packed, mask);
            let high = _mm256_and_si256(_mm256_srli_epi16::<4>(packed), mask);
            // Nibbles (0..16) times signed bytes: pairs fit an i16; the
            // scale (0..64) then multiplies them into i32 pairs.
            let p_low = _mm256_maddubs_epi16(low, load32(yb, 4 + 64 * chunk));
            let p_high = _mm256_maddubs_epi16(high, load32(yb, 4 + 64 * chunk + 32));
            let s_low = _mm256_set1_epi16(i16::from(scales[2 * chunk]));
            let s_high = _mm256_set1_epi16(i16::from(scales[2 * chunk + 1]));
            lanes = _mm256_add_epi32(lanes, _mm256_madd_epi16(p_low, s_low));
            lanes = _mm256_add_epi32(lanes, _mm256_madd_epi16(p_high, s_high));
        }
        let min_sum: i32 = (0..QK_K / 16)
            .map(|g| q8_k_bsum(yb, g) * i32::from(mins[g / 2]))
            .sum();
        acc = super_block_sum(
            acc,
            f16_at(xb, 0),
            f16_at(xb, 2),
            q8_k_d(yb),
            hsum_i32(lanes),
            min_sum,
        );
    }
    acc
}

/// Q6_K × Q8_K; `x` and `y` hold the same number of super-blocks.
///
/// The 6-bit values are multiplied unsigned (0..64) and the offset of 32
/// taken off afterwards, per group of 16 with the activations' stored
/// sums: `Σ s·(q − 32)·y = Σ s·q·y − 32·Σ_g s_g·bsum_g`.
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q6_k_q8_k(x: &[u8], y: &[u8]) -> f32 {
    let low_mask = _mm256_set1_epi8(0x0F);
    let high_mask = _mm256_set1_epi8(0x30);
    let mut acc = 0f32;
    for (xb, yb) in x
        .chunks_exact(Q6_K_BLOCK_BYTES)
        .zip(y.chunks_exact(Q8_K_BLOCK_BYTES))
    {
        let mut lanes = _mm256_setzero_si256();
        for half in 0..2 {
            let ql0 = load32(xb, 64 * half);
            let ql1 = load32(xb, 64 * half + 32);
            let qh = load32(xb, 128 + 32 * half);
            let values = [
                _mm256_or_si256(
                    _mm256_and_si256(ql0, low_mask),
                    _mm256_and_si256(_mm256_slli_epi16::<4>(qh), high_mask),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(ql1, low_mask),
                    _mm256_and_si256(_mm256_slli_epi16::<2>(qh), high_mask),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql0), low_mask),
                    _mm256_and_si256(qh, high_mask),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), low_mask),
                    _mm256_and_si256(_mm256_srli_epi16::<2>(qh), high_mask),
                ),
            ];
            for (quarter, q) in values.into_iter().enumerate() {
                let at = 128 * half + 32 * quarter;
                let pairs = _mm256_maddubs_epi16(q, load32(yb, 4 + at));
                // Each 16-value group's scale on the eight i16 lanes that
                // hold its pairs.
                let g = at / 16;
                let s = _mm256_setr_m128i(
                    _mm_set1_epi16(i16::from(xb[192 + g] as i8)),
                    _mm_set1_epi16(i16::from(xb[192 + g + 1] as i8)),
                );
                lanes = _mm256_add_epi32(lanes, _mm256_madd_epi16(pairs, s));
            }
        }
        let offset: i32 = (0..QK_K / 16)
            .map(|g| i32::from(xb[192 + g] as i8) * q8_k_bsum(yb, g))
            .sum();
        acc = super_block_sum(
            acc,
            f16_at(xb, 208),
            0.0,
            q8_k_d(yb),
            hsum_i32(lanes) - 32 * offset,
            0,
        );
    }
    acc
}

/// `W` weight rows of Q4_K (`Q6`: false) or Q6_K (`Q6`: true) × `A` Q8_K
/// activation rows, pair by pair (the super-blocks are large enough that
/// tiling gains little).
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_k_tile<const Q6: bool, const W: usize, const A: usize>(
    xs: [&[u8]; W],
    ys: [&[u8]; A],
) -> [[f32; A]; W] {
    let size = if Q6 { Q6_K_BLOCK_BYTES } else { Q4_K_BLOCK_BYTES };
    let blocks = xs[0].len() / size;
    assert_whole_rows(&xs, size, blocks);
    assert_whole_rows(&ys, Q8_K_BLOCK_BYTES, blocks);
    let mut out = [[0f32; A]; W];
    for (w, x) in xs.iter().enumerate() {
        for (a, y) in ys.iter().enumerate() {
            out[w][a] = if Q6 {
                dot_q6_k_q8_k(x, y)
            } else {
                dot_q4_k_q8_k(x, y)
            };
        }
    }
    out
}
