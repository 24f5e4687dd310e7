//! The vectorised kernel against the scalar reference on random blocks
//! (edge sizes included), llama.cpp's Q8_1 rounding, and the matrix
//! product against its definition.
#![allow(clippy::unwrap_used, missing_docs)]

use blindfold_kernels::{
    dot_q4_1_q8_1, q4_1, quantize_row_q8_1, Q4_1Matrix, ShapeError, Q4_1_BLOCK_BYTES, Q8_1_BLOCK_BYTES, QK,
};
use half::f16;
use proptest::prelude::*;

/// `blocks` Q4_1 blocks from random scales, minimums and nibbles.
fn q4_1_blocks() -> impl Strategy<Value = (Vec<u8>, usize)> {
    (1usize..40).prop_flat_map(|blocks| {
        (
            proptest::collection::vec(
                (
                    -2.0f32..2.0,
                    -2.0f32..2.0,
                    proptest::collection::vec(any::<u8>(), 16),
                ),
                blocks,
            ),
            Just(blocks),
        )
            .prop_map(|(parts, blocks)| {
                let mut bytes = Vec::with_capacity(blocks * Q4_1_BLOCK_BYTES);
                for (d, m, qs) in parts {
                    bytes.extend_from_slice(&f16::from_f32(d / 16.0).to_bits().to_le_bytes());
                    bytes.extend_from_slice(&f16::from_f32(m).to_bits().to_le_bytes());
                    bytes.extend_from_slice(&qs);
                }
                (bytes, blocks)
            })
    })
}

fn q8_1_of(values: &[f32]) -> Vec<u8> {
    let mut out = vec![0u8; values.len() / QK * Q8_1_BLOCK_BYTES];
    quantize_row_q8_1(values, &mut out);
    out
}

/// The sum of the magnitudes the dot product adds: float rounding error
/// is bounded relative to it.
fn magnitude(x: &[u8], y: &[u8], blocks: usize) -> f32 {
    let f = |b: &[u8], at: usize| f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]])).to_f32();
    (0..blocks)
        .map(|b| {
            let (xb, yb) = (&x[b * Q4_1_BLOCK_BYTES..], &y[b * Q8_1_BLOCK_BYTES..]);
            let ints: i32 = (0..16)
                .map(|j| {
                    i32::from(xb[4 + j] & 15) * i32::from(yb[4 + j] as i8).abs()
                        + i32::from(xb[4 + j] >> 4) * i32::from(yb[20 + j] as i8).abs()
                })
                .sum();
            (f(xb, 0) * f(yb, 0)).abs() * ints as f32 + (f(xb, 2) * f(yb, 2)).abs()
        })
        .sum()
}

proptest! {
    /// Only the order of float additions differs from the reference: the
    /// difference stays within 2·blocks·ε of the terms' magnitude.
    #[test]
    fn the_kernel_agrees_with_the_scalar_reference(
        (x, blocks) in q4_1_blocks(),
        seed in proptest::collection::vec(-8.0f32..8.0, 40 * QK),
    ) {
        let y = q8_1_of(&seed[..blocks * QK]);
        let fast = dot_q4_1_q8_1(&x, &y, blocks);
        let reference = q4_1::dot_scalar(&x, &y, blocks);
        let bound = 2.0 * blocks as f32 * f32::EPSILON * magnitude(&x, &y, blocks) + f32::MIN_POSITIVE;
        prop_assert!((fast - reference).abs() <= bound, "{fast} vs {reference} (bound {bound})");
    }

    /// Each quantized value is within half a step of the input, and `s`
    /// is `d` times the sum of the quantized values.
    #[test]
    fn q8_1_quantization_is_within_half_a_step(values in proptest::collection::vec(-100.0f32..100.0, QK * 3)) {
        let q = q8_1_of(&values);
        for (block, xs) in q.chunks(Q8_1_BLOCK_BYTES).zip(values.chunks(QK)) {
            let max = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = max / 127.0;
            let sum: i32 = block[4..].iter().map(|b| i32::from(*b as i8)).sum();
            for (b, x) in block[4..].iter().zip(xs) {
                prop_assert!((f32::from(*b as i8) * d - x).abs() <= d * 0.5001 + 1e-6);
            }
            let stored_d = f16::from_bits(u16::from_le_bytes([block[0], block[1]])).to_f32();
            let stored_s = f16::from_bits(u16::from_le_bytes([block[2], block[3]])).to_f32();
            prop_assert_eq!(stored_d, f16::from_f32(d).to_f32());
            prop_assert_eq!(stored_s, f16::from_f32(d * sum as f32).to_f32());
        }
    }
}

#[test]
fn ties_round_to_even_as_llama_cpp_does() {
    // max 127 makes the multiplier exactly 1: the halves are ties.
    let mut values = vec![0f32; QK];
    values[..6].copy_from_slice(&[127.0, 0.5, 1.5, 2.5, -0.5, -3.5]);
    let q = q8_1_of(&values);
    let got: Vec<i8> = q[4..10].iter().map(|b| *b as i8).collect();
    assert_eq!(got, [127, 0, 2, 2, 0, -4]);
}

#[test]
fn an_all_zero_block_quantizes_to_zero() {
    let q = q8_1_of(&[0f32; QK]);
    assert!(q.iter().all(|b| *b == 0));
}

#[test]
fn the_matrix_product_is_each_row_against_each_weight_row() {
    // Small enough to run on the calling thread...
    each_row_against_each_weight_row(7, 3 * QK, 4);
    // ...and large enough to be split between threads.
    each_row_against_each_weight_row(1024, 16 * QK, 3);
}

fn each_row_against_each_weight_row(n_out: usize, k: usize, rows: usize) {
    let mut bytes = Vec::new();
    for i in 0..n_out * k / QK {
        bytes.extend_from_slice(&f16::from_f32(0.01 * (i % 5 + 1) as f32).to_bits().to_le_bytes());
        bytes.extend_from_slice(&f16::from_f32(-0.05 * (i % 3) as f32).to_bits().to_le_bytes());
        bytes.extend((0..16).map(|j| ((i * 7 + j * 13) % 256) as u8));
    }
    let acts: Vec<f32> = (0..rows * k)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0)
        .collect();
    let m = Q4_1Matrix::new(bytes.clone(), n_out, k).unwrap();
    let out = m.matmul(&acts, rows).unwrap();
    let dense = m.dequantize();
    let row_w = k / QK * Q4_1_BLOCK_BYTES;
    for r in 0..rows {
        let y = q8_1_of(&acts[r * k..(r + 1) * k]);
        for o in 0..n_out {
            let got = out[r * n_out + o];
            // Exactly the kernel on that pair of rows...
            assert_eq!(got, dot_q4_1_q8_1(&bytes[o * row_w..(o + 1) * row_w], &y, k / QK));
            // ...and close to the f32 product (activation rounding only).
            let exact: f32 = (0..k).map(|j| dense[o * k + j] * acts[r * k + j]).sum();
            let scale: f32 = (0..k).map(|j| (dense[o * k + j] * acts[r * k + j]).abs()).sum();
            assert!((got - exact).abs() <= 0.02 * scale + 1e-4, "{got} vs {exact}");
        }
    }
}

#[test]
fn shapes_that_do_not_fit_are_refused() {
    assert_eq!(
        Q4_1Matrix::new(vec![0; 20], 1, 31).unwrap_err(),
        ShapeError::NotWholeBlocks { k: 31 }
    );
    assert!(matches!(
        Q4_1Matrix::new(vec![0; 19], 1, 32),
        Err(ShapeError::Length {
            got: 19,
            want: 20,
            ..
        })
    ));
    let m = Q4_1Matrix::new(vec![0; 20], 1, 32).unwrap();
    assert!(matches!(
        m.matmul(&[0.0; 31], 1),
        Err(ShapeError::Length {
            got: 31,
            want: 32,
            ..
        })
    ));
}
