//! Attention of one sequence against its own KV cache, on plain `f32`
//! slices.
//!
//! Why not tensor operations: in a decoding step each sequence brings one
//! row, so attention is a few small dot products per head; as tensor
//! operations that is some twenty operations per sequence per layer whose
//! fixed cost dwarfs the arithmetic and grows with the batch. Here it is a
//! loop.
//!
//! It rounds where llama.cpp's CPU attention (without flash attention, its
//! x86-64-v3 build) rounds, so that greedy decoding picks llama.cpp's
//! tokens: keys and values are kept at f16 precision as its cache keeps
//! them; the query is rounded to f16 before its dot products with the keys
//! (llama.cpp multiplies f16 by f16); those and the probability-weighted
//! sums of values add their products in `ggml_vec_dot_f16`'s order (32
//! lanes, fused multiply-adds, the lanes reduced pairwise); the
//! probabilities are `exp(s − max) · (1/Σ)` (llama.cpp's `exp` and sum,
//! `ggml_math`) rounded to f16 before they weight the values; RoPE rotates with llama.cpp's fused multiply-adds.
//! Without this, a chat prompt's greedy answer parted from llama.cpp's
//! where its two best tokens were 0.09 apart in probability.

use half::f16;
use rayon::prelude::*;

use crate::ggml_math::{self, DotOrder};
use crate::model::RopeStyle;

/// One layer's keys and values of one sequence, per key/value head:
/// `[kv head][position][dim]`, so that a head's attention reads its keys
/// and values as one contiguous run (with positions interleaved across
/// heads, each step's attention waited on memory).
#[derive(Clone)]
pub struct LayerCache {
    pub(crate) keys: Vec<Vec<f32>>,
    pub(crate) values: Vec<Vec<f32>>,
}

impl LayerCache {
    /// An empty cache for `kv_heads` heads with room for `floats` values
    /// per head.
    pub(crate) fn new(kv_heads: usize, floats: usize) -> LayerCache {
        LayerCache {
            keys: (0..kv_heads).map(|_| Vec::with_capacity(floats)).collect(),
            values: (0..kv_heads).map(|_| Vec::with_capacity(floats)).collect(),
        }
    }
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

/// Rotates one head's vector for position `cos`/`sin` (half a head each),
/// with the fused multiply-adds llama.cpp's build uses:
/// `x0·c − x1·s` as `fma(x0, c, −(x1·s))`, `x0·s + x1·c` as
/// `fma(x0, s, x1·c)`.
fn rope(x: &mut [f32], cos: &[f32], sin: &[f32], style: RopeStyle) {
    let half = x.len() / 2;
    let rotate = |a: f32, b: f32, c: f32, s: f32| (a.mul_add(c, -(b * s)), a.mul_add(s, b * c));
    match style {
        RopeStyle::Interleaved => {
            for i in 0..half {
                (x[2 * i], x[2 * i + 1]) = rotate(x[2 * i], x[2 * i + 1], cos[i], sin[i]);
            }
        }
        RopeStyle::HalfSplit => {
            for i in 0..half {
                (x[i], x[i + half]) = rotate(x[i], x[i + half], cos[i], sin[i]);
            }
        }
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
    // Invariant: the cache was made for this model's shape (`new_cache`).
    assert_eq!(
        cache.keys.len(),
        shape.kv_heads,
        "a cache for another model's shape"
    );
    for (h, (keys, values)) in cache.keys.iter_mut().zip(cache.values.iter_mut()).enumerate() {
        for t in 0..n {
            keys.extend_from_slice(&k[(t * shape.kv_heads + h) * hd..][..hd]);
            values.extend_from_slice(&v[(t * shape.kv_heads + h) * hd..][..hd]);
        }
    }
    let scale = 1.0 / (hd as f32).sqrt();
    let keys = &cache.keys;
    let values = &cache.values;
    let q = &*q;
    let order = if n > 1 {
        DotOrder::TinyBlas
    } else {
        DotOrder::VecDot
    };
    let lanes_n = order.lanes();
    // Each (row, head) is independent: spread them over the threads, each
    // with its own scratch (the query in f16, the scores, the lanes).
    let scratch = || (vec![0f32; hd], Vec::<f32>::new(), vec![0f32; lanes_n * hd]);
    out.par_chunks_mut(hd)
        .enumerate()
        .for_each_init(scratch, |(qh, scores, acc), (i, o)| {
            let (t, h) = (i / shape.heads, i % shape.heads);
            let visible = pos + t + 1;
            let kvh = h / group;
            qh.copy_from_slice(&q[i * hd..][..hd]);
            round_f16(qh);
            scores.clear();
            let (keys, values) = (&keys[kvh][..visible * hd], &values[kvh][..visible * hd]);
            scores.extend(keys.chunks_exact(hd).map(|key| order.dot(qh, key) * scale));
            ggml_math::softmax(scores);
            round_f16(scores);
            // Σ_j p_j·v_j per dimension, position j in lane j mod lanes, as
            // llama.cpp's product over positions places it; `acc` holds
            // lane `l` of every dimension at `l·hd..`, so each position is
            // one contiguous multiply-add.
            acc.fill(0.0);
            for (j, (p, v)) in scores.iter().zip(values.chunks_exact(hd)).enumerate() {
                let lane = &mut acc[(j % lanes_n) * hd..][..hd];
                for (a, x) in lane.iter_mut().zip(v) {
                    *a = p.mul_add(*x, *a);
                }
            }
            order.reduce_rows(acc, hd);
            o.copy_from_slice(&acc[..hd]);
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_products_add_in_llama_cpps_lanes() {
        let a: Vec<f32> = (0..64).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..64).map(|i| 1.0 - i as f32 * 0.1).collect();
        let plain: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
        for order in [DotOrder::VecDot, DotOrder::TinyBlas] {
            assert!((f64::from(order.dot(&a, &b)) - plain).abs() < 1e-3);
        }
        // One value per lane shows each reduction tree: ggml_vec_dot_f16
        // adds lanes 0 and 16 first ((1e8 + 1) - 1e8 = 0 in f32)...
        let ones = vec![1f32; 32];
        let mut x = vec![0f32; 32];
        (x[0], x[16], x[8]) = (1e8, 1.0, -1e8);
        assert_eq!(DotOrder::VecDot.dot(&x, &ones), 0.0);
        // ...tinyBLAS adds lanes 0 and 4, then 0 and 2 ((1e8 - 1e8) + 1).
        let mut x = vec![0f32; 8];
        (x[0], x[4], x[1]) = (1e8, -1e8, 1.0);
        assert_eq!(DotOrder::TinyBlas.dot(&x, &ones[..8]), 1.0);
        assert_eq!(DotOrder::VecDot.reduce([1.0; 32]), 32.0);
        // Row by row, the same trees as one column at a time.
        for order in [DotOrder::VecDot, DotOrder::TinyBlas] {
            let n = order.lanes();
            let mut acc: Vec<f32> = (0..n * 3)
                .map(|i| ((i * 7919) % 101) as f32 * 1e6 - 5e7 + i as f32)
                .collect();
            let columns: Vec<f32> = (0..3)
                .map(|d| {
                    let mut column = [0f32; 32];
                    for (l, c) in column.iter_mut().take(n).enumerate() {
                        *c = acc[l * 3 + d];
                    }
                    order.reduce(column)
                })
                .collect();
            order.reduce_rows(&mut acc, 3);
            assert_eq!(&acc[..3], &columns[..], "{order:?}");
        }
    }

    #[test]
    fn one_position_attends_to_itself() {
        let shape = AttentionShape {
            heads: 2,
            kv_heads: 1,
            head_dim: 4,
            rope_style: RopeStyle::Interleaved,
        };
        let mut cache = LayerCache::new(1, 0);
        let (cos, sin) = (vec![1.0; 2], vec![0.0; 2]);
        let mut q = vec![0.5; 8];
        let mut k = vec![0.25; 4];
        let mut v = vec![1.0, 2.0, 3.0, 4.0];
        let mut out = vec![0.0; 8];
        attend(
            &shape, &mut q, &mut k, &mut v, 0, &mut cache, &cos, &sin, &mut out,
        );
        assert_eq!(out, vec![1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(cache.keys.len(), 1);
        assert_eq!(cache.keys[0].len(), 4);
    }
}
