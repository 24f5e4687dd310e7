//! Attention of one sequence against its own KV cache, on plain `f32`
//! slices.
//!
//! Why not tensor operations: in a decoding step each sequence brings one
//! row, so attention is a few small dot products per head; as tensor
//! operations that is some twenty operations per sequence per layer whose
//! fixed cost dwarfs the arithmetic and grows with the batch. Here it is a
//! loop. Keys and values are rounded to f16 precision as llama.cpp's cache
//! keeps them, so greedy decoding picks the same tokens as llama.cpp.

use half::f16;
use rayon::prelude::*;

use crate::model::RopeStyle;

/// One layer's keys and values of one sequence: `[position][kv head][dim]`.
#[derive(Default, Clone)]
pub struct LayerCache {
    pub(crate) keys: Vec<f32>,
    pub(crate) values: Vec<f32>,
}

/// The fixed shape of attention in a model.
pub(crate) struct AttentionShape {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub rope_style: RopeStyle,
}

fn round_f16(x: &mut [f32]) {
    for v in x {
        *v = f16::from_f32(*v).to_f32();
    }
}

/// Rotates one head's vector for position `cos`/`sin` (half a head each).
fn rope(x: &mut [f32], cos: &[f32], sin: &[f32], style: RopeStyle) {
    let half = x.len() / 2;
    match style {
        RopeStyle::Interleaved => {
            for i in 0..half {
                let (a, b) = (x[2 * i], x[2 * i + 1]);
                x[2 * i] = a * cos[i] - b * sin[i];
                x[2 * i + 1] = a * sin[i] + b * cos[i];
            }
        }
        RopeStyle::HalfSplit => {
            for i in 0..half {
                let (a, b) = (x[i], x[i + half]);
                x[i] = a * cos[i] - b * sin[i];
                x[i + half] = a * sin[i] + b * cos[i];
            }
        }
    }
}

/// Dot product with eight accumulators (vectorises without reassociation).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

/// `out += w * v`.
fn axpy(out: &mut [f32], w: f32, v: &[f32]) {
    for (o, x) in out.iter_mut().zip(v) {
        *o += w * x;
    }
}

/// Attention for `n` new rows of one sequence whose cache holds `pos`
/// positions. `q` is `n × heads × head_dim`, `k`/`v` are
/// `n × kv_heads × head_dim`; RoPE is applied here, the new keys and
/// values are appended to `cache`, and the result (`n × heads ×
/// head_dim`) is written to `out`. `cos`/`sin` are the RoPE tables,
/// `context × head_dim/2`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attend(
    shape: &AttentionShape,
    q: &mut [f32],
    k: &mut [f32],
    v: &mut [f32],
    pos: usize,
    cache: &mut LayerCache,
    cos: &[f32],
    sin: &[f32],
    out: &mut [f32],
) {
    let hd = shape.head_dim;
    let half = hd / 2;
    let n = q.len() / (shape.heads * hd);
    let group = shape.heads / shape.kv_heads;
    for t in 0..n {
        let p = pos + t;
        let (c, s) = (&cos[p * half..(p + 1) * half], &sin[p * half..(p + 1) * half]);
        for h in 0..shape.heads {
            let row = &mut q[(t * shape.heads + h) * hd..][..hd];
            rope(row, c, s, shape.rope_style);
        }
        for h in 0..shape.kv_heads {
            let row = &mut k[(t * shape.kv_heads + h) * hd..][..hd];
            rope(row, c, s, shape.rope_style);
        }
    }
    round_f16(k);
    round_f16(v);
    cache.keys.extend_from_slice(k);
    cache.values.extend_from_slice(v);
    let scale = 1.0 / (hd as f32).sqrt();
    let kv_row = shape.kv_heads * hd;
    let keys = &cache.keys;
    let values = &cache.values;
    let q = &*q;
    // Each (row, head) is independent: spread them over the threads.
    out.par_chunks_mut(hd).enumerate().for_each(|(i, o)| {
        let (t, h) = (i / shape.heads, i % shape.heads);
        let visible = pos + t + 1;
        let kvh = h / group;
        let qh = &q[i * hd..][..hd];
        let mut scores = Vec::with_capacity(visible);
        let mut max = f32::NEG_INFINITY;
        for j in 0..visible {
            let s = dot(qh, &keys[j * kv_row + kvh * hd..][..hd]) * scale;
            max = max.max(s);
            scores.push(s);
        }
        let mut total = 0f32;
        for s in scores.iter_mut() {
            *s = (*s - max).exp();
            total += *s;
        }
        o.iter_mut().for_each(|x| *x = 0.0);
        for (j, s) in scores.iter().enumerate() {
            axpy(o, s / total, &values[j * kv_row + kvh * hd..][..hd]);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_the_plain_sum() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.1).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-4);
    }

    #[test]
    fn one_position_attends_to_itself() {
        let shape = AttentionShape {
            heads: 2,
            kv_heads: 1,
            head_dim: 4,
            rope_style: RopeStyle::Interleaved,
        };
        let mut cache = LayerCache::default();
        let (cos, sin) = (vec![1.0; 2], vec![0.0; 2]);
        let mut q = vec![0.5; 8];
        let mut k = vec![0.25; 4];
        let mut v = vec![1.0, 2.0, 3.0, 4.0];
        let mut out = vec![0.0; 8];
        attend(
            &shape, &mut q, &mut k, &mut v, 0, &mut cache, &cos, &sin, &mut out,
        );
        assert_eq!(out, vec![1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(cache.keys.len(), 4);
    }
}
