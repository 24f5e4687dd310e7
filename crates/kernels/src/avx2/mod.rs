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

/// Asks for every cache line of `bytes` to be brought into the caches
/// (L2 and up): a hint that reads nothing the program can observe.
#[inline]
pub(crate) fn prefetch(bytes: &[u8]) {
    for line in bytes.chunks(64) {
        // SAFETY: a prefetch never faults and has no architectural effect
        // (it only moves a cache line); the pointer is into `line`, a live
        // slice, in any case.
        unsafe { _mm_prefetch::<_MM_HINT_T1>(line.as_ptr().cast::<i8>()) }
    }
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
/// 8-bit after llama.cpp's sign trick for two signed rows: |x| times y
/// with x's sign).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn mul_sum_us8_pairs_float(unsigned: __m256i, signed: __m256i) -> __m256 {
    let pairs = _mm256_maddubs_epi16(unsigned, signed);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_set1_epi16(1), pairs))
}

/// Checks that every row is `blocks` blocks of `size` bytes, once, so the
/// loops below can index blocks without further checks.
#[inline]
fn assert_whole_rows<const N: usize>(rows: &[&[u8]; N], size: usize, blocks: usize) {
    for row in rows {
        assert_eq!(row.len(), blocks * size);
    }
}

/// The f16 fields at bytes 0 and 2 of block `$b` of each activation row
/// in `$ys` (`$size`-byte blocks) as f32, row `a` in lane `a` of each: for
/// Q8_1 `(d, s)`, for Q8_0 `d` and whatever follows it (unused). One
/// conversion for up to four rows, instead of one per row. A macro, not a
/// function: inlined into the tile loops whatever the compiler's
/// heuristics say (a call per block cost a quarter of the time).
macro_rules! row_scales {
    ($ys:expr, $b:expr, $size:expr) => {{
        let mut bits = [0u64; 2];
        for (a, y) in $ys.iter().enumerate() {
            let at = $b * $size;
            let field: [u8; 4] = y[at..at + 4].try_into().unwrap_or_default();
            bits[a / 2] |= u64::from(u32::from_le_bytes(field)) << (32 * (a % 2));
        }
        // Eight f16 as [d0 s0 d1 s1 d2 s2 d3 s3], the d's to the low half.
        let all = _mm256_cvtph_ps(_mm_set_epi64x(bits[1] as i64, bits[0] as i64));
        let split = _mm256_permutevar8x32_ps(all, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
        (_mm256_castps256_ps128(split), _mm256_extractf128_ps::<1>(split))
    }};
}

/// Lane `a` of `x` in all eight lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn lane_to_all(x: __m128, a: usize) -> __m256 {
    _mm256_permutevar8x32_ps(_mm256_castps128_ps256(x), _mm256_set1_epi32(a as i32))
}

/// Lane `a` of `x`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn lane(x: __m128, a: usize) -> f32 {
    _mm_cvtss_f32(_mm_permutevar_ps(x, _mm_set1_epi32(a as i32)))
}

/// `W` weight rows of Q4_1 times `A` (at most four) activation rows of
/// Q8_1, all of the same number of blocks: `out[w][a]` is the dot product
/// of weight row `w` and activation row `a`, each accumulated exactly as
/// a lone pair is (so a result does not depend on the tile it was computed
/// in). Each weight block is unpacked once for all `A` activation rows,
/// its scales are multiplied with all `A` rows' in one instruction (each
/// lane the same single rounding as alone), and the `W·A` sums are
/// independent chains the CPU overlaps.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q4_1_q8_1<const W: usize, const A: usize>(xs: [&[u8]; W], ys: [&[u8]; A]) -> [[f32; A]; W] {
    const { assert!(A <= 4, "activation tiles are at most four rows") };
    let blocks = xs[0].len() / Q4_1_BLOCK_BYTES;
    assert_whole_rows(&xs, Q4_1_BLOCK_BYTES, blocks);
    assert_whole_rows(&ys, Q8_1_BLOCK_BYTES, blocks);
    let mut acc = [[_mm256_setzero_ps(); A]; W];
    // Lane `a` sums `m_x·s_y` of row `a` block by block, as llama.cpp's
    // `summs`.
    let mut summs = [_mm_setzero_ps(); W];
    for b in 0..blocks {
        let mut yq = [_mm256_setzero_si256(); A];
        for a in 0..A {
            yq[a] = load32(ys[a], b * Q8_1_BLOCK_BYTES + 4);
        }
        let (yd, ys_sums) = row_scales!(ys, b, Q8_1_BLOCK_BYTES);
        for w in 0..W {
            let xb = &xs[w][b * Q4_1_BLOCK_BYTES..(b + 1) * Q4_1_BLOCK_BYTES];
            let (q, xdm) = (nibbles(xb, 4), f16_pair(xb, 0));
            // d_x·d_y per row; m_x·s_y added to the sum with one rounding,
            // as llama.cpp's build adds it (GCC contracts its
            // `summs += m * s` to an FMA).
            let scales = _mm_mul_ps(_mm_permute_ps::<0x00>(xdm), yd);
            summs[w] = _mm_fmadd_ps(_mm_permute_ps::<0x55>(xdm), ys_sums, summs[w]);
            for a in 0..A {
                let lanes = mul_sum_us8_pairs_float(q, yq[a]);
                acc[w][a] = _mm256_fmadd_ps(lane_to_all(scales, a), lanes, acc[w][a]);
            }
        }
    }
    let mut out = [[0f32; A]; W];
    for w in 0..W {
        for a in 0..A {
            out[w][a] = hsum(acc[w][a]) + lane(summs[w], a);
        }
    }
    out
}

/// `W` weight rows of Q4_0 (`NIBBLES`: 4-bit values offset by 8) or Q8_0
/// times `A` (at most four) activation rows of Q8_0, tiled as
/// [`dot_q4_1_q8_1`] is.
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
    const { assert!(A <= 4, "activation tiles are at most four rows") };
    let blocks = xs[0].len() / size;
    assert_whole_rows(&xs, size, blocks);
    assert_whole_rows(&ys, Q8_0_BLOCK_BYTES, blocks);
    let mut acc = [[_mm256_setzero_ps(); A]; W];
    for b in 0..blocks {
        let mut yq = [_mm256_setzero_si256(); A];
        for a in 0..A {
            yq[a] = load32(ys[a], b * Q8_0_BLOCK_BYTES + 2);
        }
        let (yd, _) = row_scales!(ys, b, Q8_0_BLOCK_BYTES);
        for w in 0..W {
            let xb = &xs[w][b * size..(b + 1) * size];
            let q = if NIBBLES {
                _mm256_sub_epi8(nibbles(xb, 2), _mm256_set1_epi8(8))
            } else {
                load32(xb, 2)
            };
            let scales = _mm_mul_ps(_mm_permute_ps::<0x00>(f16_one(xb, 0)), yd);
            // |x| once per weight block; y takes x's signs per row.
            let magnitude = _mm256_sign_epi8(q, q);
            for a in 0..A {
                let lanes = mul_sum_us8_pairs_float(magnitude, _mm256_sign_epi8(yq[a], q));
                acc[w][a] = _mm256_fmadd_ps(lane_to_all(scales, a), lanes, acc[w][a]);
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
