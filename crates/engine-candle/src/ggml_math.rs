//! The element-wise steps of a transformer layer computed as llama.cpp's
//! CPU backend computes them (its x86-64-v3 build), to the bit: RMS norm
//! (squares summed in f64, then `x · (1/√(mean + ε)) · w`), SiLU through
//! its vectorised `exp` (`ggml_v_expf`, a polynomial accurate to 1.5 ulp,
//! not libm's), softmax's exponentials and sum, and the order in which its
//! f16 dot products add their products ([`DotOrder`]).
//!
//! Why to the bit: every matrix product quantizes its input to 8 bits, so
//! a last-bit difference here can move a value across a rounding boundary
//! and change a whole quantization step; over 30 layers that moved a
//! one-token prompt's top probability by 0.016 (0.442 vs 0.458) and made
//! greedy choices differ from llama.cpp's away from any near tie.

use rayon::prelude::*;

/// How llama.cpp adds the products of an f16 dot product: in a decoding
/// step (one query row) `ggml_vec_dot_f16`, 32 lanes; for a prompt (several
/// rows) llamafile's tinyBLAS, 8 lanes. Either way a position's product
/// goes to lane `position mod lanes`, each lane adds its products in order
/// with fused multiply-adds, and the lanes are then reduced in a fixed
/// tree.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum DotOrder {
    VecDot,
    TinyBlas,
}

impl DotOrder {
    pub(crate) fn lanes(self) -> usize {
        match self {
            DotOrder::VecDot => 32,
            DotOrder::TinyBlas => 8,
        }
    }

    /// The lanes reduced to one sum: [`DotOrder::tree`] on single values
    /// (every attention score takes one; adding rows of width one through
    /// [`DotOrder::reduce_rows`] made a 16-sequence step 15% slower).
    pub(crate) fn reduce(self, mut lanes: [f32; 32]) -> f32 {
        self.tree(|dst, src| lanes[dst] += lanes[src]);
        lanes[0]
    }

    /// The lanes of `width` dimensions at once reduced: `acc` holds lane
    /// `l` of every dimension at `l·width..`, and [`DotOrder::tree`] is
    /// added row by row in place; the sums end in row 0.
    pub(crate) fn reduce_rows(self, acc: &mut [f32], width: usize) {
        self.tree(|dst, src| {
            let (to, from) = acc.split_at_mut(src * width);
            for (t, f) in to[dst * width..][..width].iter_mut().zip(&from[..width]) {
                *t += *f;
            }
        });
    }

    /// The order lanes are added in, as `add(dst, src)` steps (always a
    /// later lane into an earlier one; the sum ends in lane 0). `VecDot`:
    /// vector 2 into 0 and 3 into 1, then 1 into 0, then the eight lanes'
    /// halves, pairs of those (`hadd`) and the two sums. `TinyBlas` (its
    /// `hsum`): halves added, the upper pair onto the lower, then the two.
    #[inline]
    fn tree(self, mut add: impl FnMut(usize, usize)) {
        match self {
            DotOrder::VecDot => {
                for i in 0..8 {
                    add(i, 16 + i);
                    add(8 + i, 24 + i);
                    add(i, 8 + i);
                }
                for k in 0..4 {
                    add(k, k + 4);
                }
                add(0, 1);
                add(2, 3);
                add(0, 2);
            }
            DotOrder::TinyBlas => {
                for k in 0..4 {
                    add(k, k + 4);
                }
                add(0, 2);
                add(1, 3);
                add(0, 1);
            }
        }
    }

    /// The dot product of two rows of f16 values (held as f32); `a.len()`
    /// is a whole number of lanes (a head's width: 64).
    #[inline]
    pub(crate) fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            DotOrder::VecDot => self.reduce(lane_sums::<32>(a, b)),
            DotOrder::TinyBlas => self.reduce(lane_sums::<8>(a, b)),
        }
    }
}

/// Product `i` of `a·b` added into lane `i mod N`, each lane in order with
/// fused multiply-adds and padded to 32 lanes. `N` a constant, so the
/// lanes stay in registers (a run-time width kept them in memory, and an
/// attention score cost a store and a reload per multiply-add).
#[inline]
fn lane_sums<const N: usize>(a: &[f32], b: &[f32]) -> [f32; 32] {
    let mut lanes = [0f32; 32];
    let mut acc = [0f32; N];
    for (x, y) in a.chunks_exact(N).zip(b.chunks_exact(N)) {
        for i in 0..N {
            acc[i] = x[i].mul_add(y[i], acc[i]);
        }
    }
    lanes[..N].copy_from_slice(&acc);
    lanes
}

/// `f32::from_bits` of the constants `ggml_v_expf` writes as hex floats.
mod c {
    pub const ROUND: u32 = 0x4b40_0000; // 0x1.8p23
    pub const LOG2E: u32 = 0x3fb8_aa3b; // 0x1.715476p+0
    pub const LN2_LO: u32 = 0x35bf_be8e; // 0x1.7f7d1cp-20
    pub const LN2_HI: u32 = 0x3f31_7200; // 0x1.62e4p-1
    pub const P0: u32 = 0x3c07_2010; // 0x1.0e4020p-7
    pub const P1: u32 = 0x3d2b_9f17; // 0x1.573e2ep-5
    pub const P2: u32 = 0x3e2a_af33; // 0x1.555e66p-3
    pub const P3: u32 = 0x3eff_fedb; // 0x1.fffdb6p-2
    pub const P4: u32 = 0x3f7f_fff6; // 0x1.ffffecp-1
}

fn k(bits: u32) -> f32 {
    f32::from_bits(bits)
}

/// `ggml_v_expf`, one lane: `e^x` from `2^n · (1 + p(b))`, each step the
/// same float operation (fused where it fuses) as the vector code.
pub(crate) fn expf(x: f32) -> f32 {
    let r = k(c::ROUND);
    let z = x.mul_add(k(c::LOG2E), r);
    let n = z - r;
    let b = (-n).mul_add(k(c::LN2_LO), (-n).mul_add(k(c::LN2_HI), x));
    let e = z.to_bits() << 23;
    let scale = f32::from_bits(e.wrapping_add(1f32.to_bits()));
    let u = b * b;
    let j = k(c::P0)
        .mul_add(b, k(c::P1))
        .mul_add(u, k(c::P2).mul_add(b, k(c::P3)))
        .mul_add(u, k(c::P4) * b);
    // Out of the normal range: scaled in two steps, or flushed. Both
    // results are computed and one is selected, as the vector code does
    // (and so that loops over `expf` vectorise).
    let g: u32 = if n <= 0.0 { 0x8200_0000 } else { 0 };
    let s1 = f32::from_bits(g.wrapping_add(0x7f00_0000));
    let s2 = f32::from_bits(e.wrapping_sub(g));
    let outside = if n.abs() > 192.0 {
        s1 * s1
    } else {
        s2.mul_add(j, s2) * s1
    };
    if n.abs() <= 126.0 {
        j.mul_add(scale, scale)
    } else {
        outside
    }
}

/// `x / (1 + e^(0 − x))` with [`expf`], as `ggml_v_silu`.
pub(crate) fn silu(x: f32) -> f32 {
    x / (1.0 + expf(0.0 - x))
}

/// From this many values on, the element-wise steps are split between
/// threads (a batch's rows; one decoding row is cheaper done here).
const PARALLEL_FROM: usize = 4096;

/// `silu(gate) · up`, element by element (`ggml_vec_swiglu_f32`).
pub(crate) fn swiglu(gate: &[f32], up: &[f32]) -> Vec<f32> {
    // Plain indexed loops over equal-length pieces, which the compiler
    // turns into eight lanes at a time ([`expf`] has no branches).
    fn piece(out: &mut [f32], gate: &[f32], up: &[f32]) {
        let n = out.len().min(gate.len()).min(up.len());
        let (out, gate, up) = (&mut out[..n], &gate[..n], &up[..n]);
        for i in 0..n {
            out[i] = silu(gate[i]) * up[i];
        }
    }
    let mut out = vec![0f32; gate.len()];
    if gate.len() < PARALLEL_FROM {
        piece(&mut out, gate, up);
    } else {
        out.par_chunks_mut(1024)
            .zip(gate.par_chunks(1024).zip(up.par_chunks(1024)))
            .for_each(|(o, (g, u))| piece(o, g, u));
    }
    out
}

/// RMS norm of each row of `x` (`w.len()` wide) times `w`
/// (`ggml_compute_forward_rms_norm_f32` with the weight's multiply).
pub(crate) fn rms_norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    let norm_row = |(out, row): (&mut [f32], &[f32])| {
        let sum: f64 = row.iter().map(|v| f64::from(v * v)).sum();
        let mean = (sum / row.len() as f64) as f32;
        let scale = 1.0f32 / (mean + eps).sqrt();
        for ((o, v), w) in out.iter_mut().zip(row).zip(w) {
            *o = v * scale * w;
        }
    };
    if x.len() < PARALLEL_FROM {
        out.chunks_mut(w.len()).zip(x.chunks(w.len())).for_each(norm_row);
    } else {
        out.par_chunks_mut(w.len())
            .zip(x.par_chunks(w.len()))
            .for_each(norm_row);
    }
    out
}

/// Softmax of `scores` in place (`ggml_vec_soft_max_f32` over a row whose
/// masked tail is zero): exponentials by [`expf`], summed eight at a time
/// (each eight added in the tree tinyBLAS's `hsum` also uses, then into an
/// f64),
/// then each multiplied by the f32 of `1/Σ`.
pub(crate) fn softmax(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for s in scores.iter_mut() {
        *s = expf(*s - max);
    }
    let mut total = 0f64;
    for chunk in scores.chunks(8) {
        let mut l = [0f32; 32];
        l[..chunk.len()].copy_from_slice(chunk);
        total += f64::from(DotOrder::TinyBlas.reduce(l));
    }
    let inverse = (1.0 / total) as f32;
    for s in scores.iter_mut() {
        *s *= inverse;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expf_is_within_two_ulp_of_libm_and_flushes_like_llama_cpp() {
        for i in -2000..2000 {
            let x = i as f32 * 0.043;
            let (ours, libm) = (expf(x), x.exp());
            let ulps = (ours.to_bits() as i64 - libm.to_bits() as i64).abs();
            assert!(ulps <= 2, "{x}: {ours} vs {libm} ({ulps} ulp)");
        }
        assert_eq!(expf(f32::NEG_INFINITY), 0.0);
        assert_eq!(expf(-200.0), 0.0);
        assert_eq!(expf(0.0), 1.0);
        assert!(expf(100.0).is_infinite());
    }

    #[test]
    fn rms_norm_and_softmax_are_what_they_say() {
        let x = [3.0f32, 4.0, 0.0, 0.0];
        let y = rms_norm(&x, &[1.0, 2.0, 1.0, 1.0], 0.0);
        assert_eq!(y, vec![1.2, 3.2, 0.0, 0.0]);
        let mut s = vec![0.0f32, 0.0, f32::NEG_INFINITY];
        softmax(&mut s);
        assert_eq!(s, vec![0.5, 0.5, 0.0]);
        assert!((silu(1.0) - 1.0 / (1.0 + (-1f32).exp())).abs() < 1e-6);
    }
}
