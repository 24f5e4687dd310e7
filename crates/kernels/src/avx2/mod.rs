//! The dot products with AVX2 and FMA. For the 32-value formats (Q4_0,
//! Q4_1, Q8_0) they are llama.cpp's x86 code: per block, the weights
//! unpacked to 32 bytes, multiplied with the 32 activation bytes and
//! summed in pairs to eight i32 lanes, turned to f32 and accumulated as
//! `d_x·d_y·Σ` with one FMA, the eight lanes added at the end. The
//! K-quants are in [`k_quants`].
//!
//! Compiled only where the build enables AVX2, FMA and F16C (the workspace's
//! x86-64-v3 level), so the intrinsics' requirements hold everywhere this
//! code runs. The `unsafe` here is loading from block bytes (each load
//! states why it is in bounds); the caller's one `unsafe` is entering
//! these `target_feature` functions.
#![allow(unsafe_code)]

pub(crate) mod k_quants;

use core::arch::x86_64::*;

use crate::q4_0::Q4_0_BLOCK_BYTES;
use crate::q4_1::Q4_1_BLOCK_BYTES;
use crate::q8_0::Q8_0_BLOCK_BYTES;
use crate::q8_1::Q8_1_BLOCK_BYTES;

/// 16 bytes at `bytes[at..at + 16]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn load16(bytes: &[u8], at: usize) -> __m128i {
    let window = &bytes[at..at + 16];
    // SAFETY: `window` is 16 bytes (the slice above is bounds-checked);
    // `_mm_loadu_si128` reads 16 bytes and has no alignment requirement.
    unsafe { _mm_loadu_si128(window.as_ptr().cast::<__m128i>()) }
}

/// 32 bytes at `bytes[at..at + 32]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn load32(bytes: &[u8], at: usize) -> __m256i {
    let window = &bytes[at..at + 32];
    // SAFETY: `window` is 32 bytes (the slice above is bounds-checked);
    // `_mm256_loadu_si256` reads 32 bytes and has no alignment
    // requirement.
    unsafe { _mm256_loadu_si256(window.as_ptr().cast::<__m256i>()) }
}

/// The 16 bytes at `block[at..at + 16]` as 32 nibbles, low nibbles first.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn nibbles(block: &[u8], at: usize) -> __m256i {
    let packed = load16(block, at);
    let both = _mm256_insertf128_si256::<1>(_mm256_castsi128_si256(packed), _mm_srli_epi16::<4>(packed));
    _mm256_and_si256(both, _mm256_set1_epi8(0x0F))
}

/// The two f16 at `bytes[at..at + 4]` as the low two f32 lanes.
///
/// Converted in a vector register loaded from a plain integer (`vmovd`),
/// not inserted into one (`vpinsrw` would merge into whatever register the
/// compiler picks, here the running sum's, and chain every block on it).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16_pair(bytes: &[u8], at: usize) -> __m128 {
    let bits = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    _mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32))
}

/// The f16 at `bytes[at..at + 2]` as the low f32 lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16_one(bytes: &[u8], at: usize) -> __m128 {
    let bits = u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    _mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits)))
}

/// Eight f32 lanes added as llama.cpp's `hsum_float_8` adds them.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn hsum(x: __m256) -> f32 {
    let r = _mm_add_ps(_mm256_extractf128_ps::<1>(x), _mm256_castps256_ps128(x));
    let r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    let r = _mm_add_ss(r, _mm_movehdup_ps(r));
    _mm_cvtss_f32(r)
}

/// Unsigned bytes times signed bytes, summed to eight i32 lanes as f32:
/// exact while each product pair fits an i16 (4-bit × 8-bit, or 7-bit ×
/// 8-bit after the sign trick below).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn mul_sum_us8_pairs_float(unsigned: __m256i, signed: __m256i) -> __m256 {
    let pairs = _mm256_maddubs_epi16(unsigned, signed);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_set1_epi16(1), pairs))
}

/// Signed bytes times signed bytes, as llama.cpp's `mul_sum_i8_pairs_float`:
/// |x| times y with x's sign.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn mul_sum_i8_pairs_float(x: __m256i, y: __m256i) -> __m256 {
    mul_sum_us8_pairs_float(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
}

/// Checks that every row is `blocks` blocks of `size` bytes, once, so the
/// loops below can index blocks without further checks.
#[inline]
fn assert_whole_rows<const N: usize>(rows: &[&[u8]; N], size: usize, blocks: usize) {
    for row in rows {
        assert_eq!(row.len(), blocks * size);
    }
}

/// `W` weight rows of Q4_1 times `A` activation rows of Q8_1, all of the
/// same number of blocks: `out[w][a]` is the dot product of weight row
/// `w` and activation row `a`, each accumulated exactly as a lone pair is
/// (so a result does not depend on the tile it was computed in). Each
/// weight block is unpacked once for all `A` activation rows, and the
/// `W·A` sums are independent chains the CPU overlaps.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q4_1_q8_1<const W: usize, const A: usize>(xs: [&[u8]; W], ys: [&[u8]; A]) -> [[f32; A]; W] {
    let blocks = xs[0].len() / Q4_1_BLOCK_BYTES;
    assert_whole_rows(&xs, Q4_1_BLOCK_BYTES, blocks);
    assert_whole_rows(&ys, Q8_1_BLOCK_BYTES, blocks);
    let mut acc = [[_mm256_setzero_ps(); A]; W];
    // Lane 1 sums `m_x·s_y` block by block, as llama.cpp's `summs`.
    let mut summs = [[_mm_setzero_ps(); A]; W];
    for b in 0..blocks {
        let mut yq = [_mm256_setzero_si256(); A];
        let mut yds = [_mm_setzero_ps(); A];
        for a in 0..A {
            let yb = &ys[a][b * Q8_1_BLOCK_BYTES..(b + 1) * Q8_1_BLOCK_BYTES];
            yq[a] = load32(yb, 4);
            yds[a] = f16_pair(yb, 0);
        }
        for w in 0..W {
            let xb = &xs[w][b * Q4_1_BLOCK_BYTES..(b + 1) * Q4_1_BLOCK_BYTES];
            let (q, xdm) = (nibbles(xb, 4), f16_pair(xb, 0));
            for a in 0..A {
                // Lane 0: d_x·d_y. Lane 1: m_x·s_y added to the sum with
                // one rounding, as llama.cpp's build adds it (GCC contracts
                // its `summs += m * s` to an FMA).
                let scale = _mm_mul_ps(xdm, yds[a]);
                summs[w][a] = _mm_fmadd_ps(xdm, yds[a], summs[w][a]);
                let lanes = mul_sum_us8_pairs_float(q, yq[a]);
                acc[w][a] = _mm256_fmadd_ps(_mm256_broadcastss_ps(scale), lanes, acc[w][a]);
            }
        }
    }
    let mut out = [[0f32; A]; W];
    for w in 0..W {
        for a in 0..A {
            out[w][a] = hsum(acc[w][a]) + _mm_cvtss_f32(_mm_movehdup_ps(summs[w][a]));
        }
    }
    out
}

/// `W` weight rows of Q4_0 (`NIBBLES`: 4-bit values offset by 8) or Q8_0
/// times `A` activation rows of Q8_0, tiled as [`dot_q4_1_q8_1`] is.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_x_q8_0<const NIBBLES: bool, const W: usize, const A: usize>(
    xs: [&[u8]; W],
    ys: [&[u8]; A],
) -> [[f32; A]; W] {
    let size = if NIBBLES {
        Q4_0_BLOCK_BYTES
    } else {
        Q8_0_BLOCK_BYTES
    };
    let blocks = xs[0].len() / size;
    assert_whole_rows(&xs, size, blocks);
    assert_whole_rows(&ys, Q8_0_BLOCK_BYTES, blocks);
    let mut acc = [[_mm256_setzero_ps(); A]; W];
    for b in 0..blocks {
        let mut yq = [_mm256_setzero_si256(); A];
        let mut yd = [_mm_setzero_ps(); A];
        for a in 0..A {
            let yb = &ys[a][b * Q8_0_BLOCK_BYTES..(b + 1) * Q8_0_BLOCK_BYTES];
            yq[a] = load32(yb, 2);
            yd[a] = f16_one(yb, 0);
        }
        for w in 0..W {
            let xb = &xs[w][b * size..(b + 1) * size];
            let q = if NIBBLES {
                _mm256_sub_epi8(nibbles(xb, 2), _mm256_set1_epi8(8))
            } else {
                load32(xb, 2)
            };
            let xd = f16_one(xb, 0);
            for a in 0..A {
                let scale = _mm256_broadcastss_ps(_mm_mul_ss(xd, yd[a]));
                acc[w][a] = _mm256_fmadd_ps(scale, mul_sum_i8_pairs_float(q, yq[a]), acc[w][a]);
            }
        }
    }
    let mut out = [[0f32; A]; W];
    for w in 0..W {
        for a in 0..A {
            out[w][a] = hsum(acc[w][a]);
        }
    }
    out
}
