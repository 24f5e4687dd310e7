//! The Q4_1 × Q8_1 dot product with AVX2 and FMA, as llama.cpp's x86 code
//! computes it: per block, the 32 nibbles unpacked to bytes, multiplied
//! with the 32 signed activation bytes and summed in pairs to eight i32
//! lanes, turned to f32 and accumulated as `d_x·d_y·Σ` with one FMA; the
//! `m_x·s_y` terms summed apart; the eight lanes added at the end.
//!
//! Compiled only where the build enables AVX2 and FMA (the workspace's
//! x86-64-v3 level), so the intrinsics' requirements hold everywhere this
//! code runs. The `unsafe` here is loading from block bytes; the caller's
//! one `unsafe` is entering these `target_feature` functions.
#![allow(unsafe_code)]

use core::arch::x86_64::*;

use crate::q4_1::{f16_at, Q4_1_BLOCK_BYTES, QK};
use crate::q8_1::Q8_1_BLOCK_BYTES;

/// The 16 bytes at `bytes[4..20]` of a Q4_1 block as 32 bytes, low
/// nibbles first.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn nibbles(block: &[u8; Q4_1_BLOCK_BYTES]) -> __m256i {
    // SAFETY: `block` is 20 bytes, so the 16 bytes from offset 4 are in
    // bounds; `_mm_loadu_si128` has no alignment requirement.
    let packed = unsafe { _mm_loadu_si128(block.as_ptr().add(4).cast::<__m128i>()) };
    let both = _mm256_insertf128_si256::<1>(_mm256_castsi128_si256(packed), _mm_srli_epi16::<4>(packed));
    _mm256_and_si256(both, _mm256_set1_epi8(0x0F))
}

/// The 32 signed bytes of a Q8_1 block.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn activations(block: &[u8; Q8_1_BLOCK_BYTES]) -> __m256i {
    // SAFETY: `block` is 36 bytes, so the 32 bytes from offset 4 are in
    // bounds; `_mm256_loadu_si256` has no alignment requirement.
    unsafe { _mm256_loadu_si256(block.as_ptr().add(4).cast::<__m256i>()) }
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum(x: __m256) -> f32 {
    let r = _mm_add_ps(_mm256_extractf128_ps::<1>(x), _mm256_castps256_ps128(x));
    let r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    let r = _mm_add_ss(r, _mm_movehdup_ps(r));
    _mm_cvtss_f32(r)
}

/// `x` and `y` hold the same number of blocks (checked by the caller).
#[target_feature(enable = "avx2,fma")]
pub(crate) fn dot_q4_1_q8_1(x: &[u8], y: &[u8]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0f32;
    for (xb, yb) in x
        .chunks_exact(Q4_1_BLOCK_BYTES)
        .zip(y.chunks_exact(Q8_1_BLOCK_BYTES))
    {
        let (Ok(xb), Ok(yb)) = (
            <&[u8; Q4_1_BLOCK_BYTES]>::try_from(xb),
            <&[u8; Q8_1_BLOCK_BYTES]>::try_from(yb),
        ) else {
            continue;
        };
        let (dx, mx) = (f16_at(xb, 0), f16_at(xb, 2));
        let (dy, sy) = (f16_at(yb, 0), f16_at(yb, 2));
        summs += mx * sy;
        let scale = _mm256_mul_ps(_mm256_set1_ps(dx), _mm256_set1_ps(dy));
        // Unsigned nibbles times signed bytes, pairs summed to i16, then
        // pairs of those to i32: exact for 4-bit × 8-bit values.
        let pairs = _mm256_maddubs_epi16(nibbles(xb), activations(yb));
        let lanes = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_set1_epi16(1), pairs));
        acc = _mm256_fmadd_ps(scale, lanes, acc);
    }
    debug_assert_eq!(x.len() / Q4_1_BLOCK_BYTES * QK, y.len() / Q8_1_BLOCK_BYTES * QK);
    hsum(acc) + summs
}
