//! Every vectorised kernel against its scalar reference on random blocks
//! (edge sizes included), llama.cpp's activation rounding, and the matrix
//! product against its definition, for each weight format.
#![allow(clippy::unwrap_used, missing_docs)]

use blindfold_kernels::{
    k_quants, matmul_many, quantize_row_q8_k, QuantMatrix, QuantizedRows, ShapeError, WeightFormat, QK, QK_K,
};
use half::f16;
use proptest::prelude::*;

const FORMATS: [WeightFormat; 5] = [
    WeightFormat::Q4_0,
    WeightFormat::Q4_1,
    WeightFormat::Q8_0,
    WeightFormat::Q4K,
    WeightFormat::Q6K,
];

fn f16_bytes(v: f32) -> [u8; 2] {
    f16::from_f32(v).to_bits().to_le_bytes()
}

fn f16_at(b: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]])).to_f32()
}

/// Where each format keeps its f16 fields: random bytes there could be
/// infinities or NaN, so those get random finite scales instead.
fn f16_fields(format: WeightFormat) -> &'static [usize] {
    match format {
        WeightFormat::Q4_0 | WeightFormat::Q8_0 => &[0],
        WeightFormat::Q4_1 | WeightFormat::Q4K => &[0, 2],
        WeightFormat::Q6K => &[208],
        _ => unreachable!("a format this test does not know"),
    }
}

/// `blocks` random blocks of `format`: random quants and scale bytes,
/// finite random f16 scales.
fn random_blocks(format: WeightFormat, blocks: usize, bytes: &[u8], scales: &[f32]) -> Vec<u8> {
    let size = format.block_bytes();
    let mut out = bytes[..blocks * size].to_vec();
    for (b, block) in out.chunks_mut(size).enumerate() {
        for (i, at) in f16_fields(format).iter().enumerate() {
            block[*at..*at + 2].copy_from_slice(&f16_bytes(scales[2 * b + i]));
        }
    }
    out
}

fn quantized(format: WeightFormat, values: &[f32]) -> Vec<u8> {
    let mut out = vec![0u8; values.len() / format.block_values() * format.activation_block_bytes()];
    format.quantize_activations(values, &mut out);
    out
}

/// The sum of the magnitudes of the terms a 32-value format's dot product
/// adds: its float rounding error is bounded relative to this.
fn magnitude(format: WeightFormat, x: &[u8], y: &[u8], blocks: usize) -> f32 {
    let (xs, ys) = (format.block_bytes(), format.activation_block_bytes());
    (0..blocks)
        .map(|b| {
            let (xb, yb) = (&x[b * xs..(b + 1) * xs], &y[b * ys..(b + 1) * ys]);
            let y_at = ys - QK;
            let qy = |j: usize| f32::from((yb[y_at + j] as i8).unsigned_abs());
            let (qx, min_term): (Vec<f32>, f32) = match format {
                WeightFormat::Q4_0 => ((0..QK).map(|j| nib(&xb[2..], j) as f32 - 8.0).collect(), 0.0),
                WeightFormat::Q4_1 => (
                    (0..QK).map(|j| nib(&xb[4..], j) as f32).collect(),
                    (f16_at(xb, 2) * f16_at(yb, 2)).abs(),
                ),
                _ => ((0..QK).map(|j| f32::from(xb[2 + j] as i8)).collect(), 0.0),
            };
            let ints: f32 = qx.iter().enumerate().map(|(j, q)| q.abs() * qy(j)).sum();
            (f16_at(xb, 0) * f16_at(yb, 0)).abs() * ints + min_term
        })
        .sum()
}

fn nib(qs: &[u8], j: usize) -> u8 {
    if j < QK / 2 {
        qs[j] & 0x0F
    } else {
        qs[j - QK / 2] >> 4
    }
}

proptest! {
    /// 32-value formats: only the order of float additions differs from
    /// the reference, so the difference stays within 2·blocks·ε of the
    /// terms' magnitude.
    #[test]
    fn each_32_value_kernel_agrees_with_its_scalar_reference(
        blocks in 1usize..40,
        bytes in proptest::collection::vec(any::<u8>(), 40 * 36),
        scales in proptest::collection::vec(-0.2f32..0.2, 80),
        acts in proptest::collection::vec(-8.0f32..8.0, 40 * QK),
    ) {
        for format in [WeightFormat::Q4_0, WeightFormat::Q4_1, WeightFormat::Q8_0] {
            let x = random_blocks(format, blocks, &bytes, &scales);
            let y = quantized(format, &acts[..blocks * QK]);
            let fast = format.dot(&x, &y, blocks);
            let reference = format.dot_scalar(&x, &y, blocks);
            let bound = 2.0 * blocks as f32 * f32::EPSILON * magnitude(format, &x, &y, blocks) + f32::MIN_POSITIVE;
            prop_assert!((fast - reference).abs() <= bound, "{format:?}: {fast} vs {reference} (bound {bound})");
        }
    }

    /// A tile of weight rows × activation rows gives each pair's dot
    /// product bit for bit, whatever the tile's shape.
    #[test]
    fn tiles_equal_the_pairwise_dot_products(
        blocks in 1usize..12,
        bytes in proptest::collection::vec(any::<u8>(), 4 * 12 * 34),
        scales in proptest::collection::vec(-0.2f32..0.2, 4 * 24),
        acts in proptest::collection::vec(-8.0f32..8.0, 4 * 12 * QK),
    ) {
        for format in FORMATS {
            let n = blocks * QK / format.block_values();
            if n == 0 {
                continue;
            }
            let x = random_blocks(format, 4 * n, &bytes, &scales);
            let y = quantized(format, &acts[..4 * n * format.block_values()]);
            let xs: Vec<&[u8]> = x.chunks(n * format.block_bytes()).collect();
            let ys: Vec<&[u8]> = y.chunks(n * format.activation_block_bytes()).collect();
            let pair = |w: usize, a: usize| format.dot(xs[w], ys[a], n).to_bits();
            let t41 = format.dot_tile::<4, 1>([xs[0], xs[1], xs[2], xs[3]], [ys[2]]);
            let t14 = format.dot_tile::<1, 4>([xs[1]], [ys[0], ys[1], ys[2], ys[3]]);
            let t23 = format.dot_tile::<2, 3>([xs[3], xs[0]], [ys[1], ys[3], ys[0]]);
            let t24 = format.dot_tile::<2, 4>([xs[2], xs[1]], [ys[3], ys[2], ys[1], ys[0]]);
            for w in 0..4 {
                prop_assert_eq!(t41[w][0].to_bits(), pair(w, 2), "{:?}", format);
                prop_assert_eq!(t14[0][w].to_bits(), pair(1, w), "{:?}", format);
            }
            for (i, w) in [3, 0].into_iter().enumerate() {
                for (j, a) in [1, 3, 0].into_iter().enumerate() {
                    prop_assert_eq!(t23[i][j].to_bits(), pair(w, a), "{:?}", format);
                }
            }
            for (i, w) in [2, 1].into_iter().enumerate() {
                for (j, a) in [3, 2, 1, 0].into_iter().enumerate() {
                    prop_assert_eq!(t24[i][j].to_bits(), pair(w, a), "{:?}", format);
                }
            }
        }
    }

    /// K-quants: the same integers added in the same order, bit for bit.
    #[test]
    fn each_k_quant_kernel_equals_its_scalar_reference(
        blocks in 1usize..6,
        bytes in proptest::collection::vec(any::<u8>(), 6 * 210),
        scales in proptest::collection::vec(-0.2f32..0.2, 12),
        acts in proptest::collection::vec(-8.0f32..8.0, 6 * QK_K),
    ) {
        for format in [WeightFormat::Q4K, WeightFormat::Q6K] {
            let x = random_blocks(format, blocks, &bytes, &scales);
            let y = quantized(format, &acts[..blocks * QK_K]);
            prop_assert_eq!(
                format.dot(&x, &y, blocks).to_bits(),
                format.dot_scalar(&x, &y, blocks).to_bits(),
                "{:?}", format
            );
        }
    }

    /// Every reference is the dot product of the dequantized weights and
    /// the dequantized activations, up to float rounding.
    #[test]
    fn each_reference_is_the_dot_product_of_the_values(
        bytes in proptest::collection::vec(any::<u8>(), 16 * 36),
        scales in proptest::collection::vec(-0.2f32..0.2, 32),
        acts in proptest::collection::vec(-8.0f32..8.0, 2 * QK_K),
    ) {
        for format in FORMATS {
            let blocks = 2 * QK_K / format.block_values();
            let x = random_blocks(format, blocks, &bytes, &scales);
            let y = quantized(format, &acts);
            let mut w = vec![0f32; 2 * QK_K];
            for (block, out) in x.chunks(format.block_bytes()).zip(w.chunks_mut(format.block_values())) {
                format.dequantize_block(block, out);
            }
            let a = dequantized_activations(format, &y);
            let exact: f64 = w.iter().zip(&a).map(|(w, a)| f64::from(*w) * f64::from(*a)).sum();
            let scale: f64 = w.iter().zip(&a).map(|(w, a)| (f64::from(*w) * f64::from(*a)).abs()).sum();
            let got = f64::from(format.dot_scalar(&x, &y, blocks));
            // Q4_1's activation sums are stored as f16: a relative 2^-11
            // of the minimum's term.
            prop_assert!((got - exact).abs() <= 2e-3 * scale + 1e-3, "{format:?}: {got} vs {exact} (scale {scale})");
        }
    }

    /// Each quantized activation is within half a step of its input.
    #[test]
    fn activations_are_within_half_a_step(values in proptest::collection::vec(-100.0f32..100.0, QK_K)) {
        for format in FORMATS {
            let q = quantized(format, &values);
            let back = dequantized_activations(format, &q);
            let step = |p: usize| {
                let n = format.block_values();
                values[p / n * n..(p / n + 1) * n].iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0
            };
            for (p, (b, x)) in back.iter().zip(&values).enumerate() {
                // f16 scales (Q8_0, Q8_1) round the step by up to 2^-11.
                prop_assert!((b - x).abs() <= step(p) * 0.5 + 130.0 * step(p) / 2048.0 + 1e-5, "{format:?} {p}: {b} vs {x}");
            }
        }
    }
}

/// Activation blocks back to f32 (`d * q`).
fn dequantized_activations(format: WeightFormat, y: &[u8]) -> Vec<f32> {
    let size = format.activation_block_bytes();
    let (d_of, at): (fn(&[u8]) -> f32, usize) = match size {
        34 => (|b| f16_at(b, 0), 2),
        36 => (|b| f16_at(b, 0), 4),
        _ => (|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]), 4),
    };
    let n = size - at - if size == k_quants::Q8_K_BLOCK_BYTES { 32 } else { 0 };
    y.chunks(size)
        .flat_map(|b| b[at..at + n].iter().map(move |q| d_of(b) * f32::from(*q as i8)))
        .collect()
}

#[test]
fn ties_round_to_even_as_llama_cpp_does() {
    // max 127 makes the multiplier exactly 1: the halves are ties.
    let mut values = vec![0f32; QK];
    values[..6].copy_from_slice(&[127.0, 0.5, 1.5, 2.5, -0.5, -3.5]);
    for format in [WeightFormat::Q4_1, WeightFormat::Q8_0] {
        let q = quantized(format, &values);
        let at = format.activation_block_bytes() - QK;
        let got: Vec<i8> = q[at..at + 6].iter().map(|b| *b as i8).collect();
        assert_eq!(got, [127, 0, 2, 2, 0, -4], "{format:?}");
    }
}

#[test]
fn q8_k_maps_the_largest_magnitude_to_minus_127_and_stores_group_sums() {
    // llama.cpp's multiplier is -127/max (max: the value of largest
    // magnitude, with its sign), so that value maps to -127 whatever its
    // sign and d carries the sign.
    let mut values: Vec<f32> = (0..QK_K).map(|i| ((i * 37 % 101) as f32 - 50.0) / 10.0).collect();
    values[7] = 12.7;
    let mut q = vec![0u8; k_quants::Q8_K_BLOCK_BYTES];
    quantize_row_q8_k(&values, &mut q);
    let d = f32::from_le_bytes([q[0], q[1], q[2], q[3]]);
    assert_eq!(q[4 + 7] as i8, -127);
    assert_eq!(d, 1.0 / (-127.0 / 12.7));
    for g in 0..QK_K / 16 {
        let sum: i16 = q[4 + 16 * g..4 + 16 * (g + 1)]
            .iter()
            .map(|b| i16::from(*b as i8))
            .sum();
        assert_eq!(
            i16::from_le_bytes([q[4 + QK_K + 2 * g], q[5 + QK_K + 2 * g]]),
            sum
        );
    }
    values[7] = -12.7;
    quantize_row_q8_k(&values, &mut q);
    assert_eq!(q[4 + 7] as i8, -127);
    assert!(f32::from_le_bytes([q[0], q[1], q[2], q[3]]) > 0.0);
    // An all-zero super-block is all zero bytes.
    quantize_row_q8_k(&[0f32; QK_K], &mut q);
    assert!(q.iter().all(|b| *b == 0));
}

#[test]
fn an_all_zero_block_quantizes_to_zero() {
    for format in FORMATS {
        assert!(
            quantized(format, &vec![0f32; QK_K]).iter().all(|b| *b == 0),
            "{format:?}"
        );
    }
}

#[test]
fn the_matrix_product_is_each_row_against_each_weight_row() {
    for format in FORMATS {
        // Small enough to run on the calling thread...
        each_row_against_each_weight_row(format, 7, 2 * QK_K, 4);
        // ...and large enough to be split between threads.
        each_row_against_each_weight_row(format, 300, 2 * QK_K, 3);
    }
}

fn each_row_against_each_weight_row(format: WeightFormat, n_out: usize, k: usize, rows: usize) {
    let blocks = n_out * k / format.block_values();
    let bytes: Vec<u8> = (0..blocks * format.block_bytes())
        .map(|i| ((i * 7 + i / 13) % 256) as u8)
        .collect();
    let scales: Vec<f32> = (0..2 * blocks).map(|i| 0.002 * (i % 5 + 1) as f32).collect();
    let bytes = random_blocks(format, blocks, &bytes, &scales);
    let acts: Vec<f32> = (0..rows * k)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0)
        .collect();
    let m = QuantMatrix::new(format, bytes.clone(), n_out, k).unwrap();
    let out = m.matmul(&acts, rows).unwrap();
    let dense = m.dequantize();
    let row_w = k / format.block_values() * format.block_bytes();
    for r in 0..rows {
        let y = quantized(format, &acts[r * k..(r + 1) * k]);
        // One row alone gives the same results as in the batch.
        let alone = m.matmul(&acts[r * k..(r + 1) * k], 1).unwrap();
        for o in 0..n_out {
            let got = out[r * n_out + o];
            assert_eq!(got, alone[o]);
            // Exactly the kernel on that pair of rows...
            assert_eq!(
                got,
                format.dot(&bytes[o * row_w..(o + 1) * row_w], &y, k / format.block_values())
            );
            // ...and close to the f32 product (activation rounding only).
            let exact: f32 = (0..k).map(|j| dense[o * k + j] * acts[r * k + j]).sum();
            let scale: f32 = (0..k).map(|j| (dense[o * k + j] * acts[r * k + j]).abs()).sum();
            assert!(
                (got - exact).abs() <= 0.02 * scale + 1e-4,
                "{format:?}: {got} vs {exact}"
            );
        }
    }
}

#[test]
fn shapes_that_do_not_fit_are_refused() {
    assert_eq!(
        QuantMatrix::new(WeightFormat::Q4_1, vec![0; 20], 1, 31).unwrap_err(),
        ShapeError::NotWholeBlocks { k: 31, block: 32 }
    );
    assert_eq!(
        QuantMatrix::new(WeightFormat::Q4K, vec![0; 144], 1, 32).unwrap_err(),
        ShapeError::NotWholeBlocks { k: 32, block: 256 }
    );
    assert!(matches!(
        QuantMatrix::new(WeightFormat::Q4_1, vec![0; 19], 1, 32),
        Err(ShapeError::Length {
            got: 19,
            want: 20,
            ..
        })
    ));
    let m = QuantMatrix::new(WeightFormat::Q8_0, vec![0; 34], 1, 32).unwrap();
    assert!(matches!(
        m.matmul(&[0.0; 31], 1),
        Err(ShapeError::Length {
            got: 31,
            want: 32,
            ..
        })
    ));
    // Several matrices over one quantization: each must match the
    // activations' format and width.
    let q4_1 = QuantMatrix::new(WeightFormat::Q4_1, vec![0; 20], 1, 32).unwrap();
    let rows = QuantizedRows::new(WeightFormat::Q8_0, 32, &[0.5; 32], 1).unwrap();
    assert_eq!(
        matmul_many(&[&m, &q4_1], &rows).unwrap_err(),
        ShapeError::Format {
            weights: WeightFormat::Q4_1,
            activations: WeightFormat::Q8_0
        }
    );
    let wide = QuantMatrix::new(WeightFormat::Q8_0, vec![0; 68], 1, 64).unwrap();
    assert!(matches!(
        matmul_many(&[&m, &wide], &rows),
        Err(ShapeError::Length {
            got: 32,
            want: 64,
            ..
        })
    ));
}

/// Matrices of one format and width over one quantization of the rows
/// give what each gives alone, in the order given, for one row and many.
#[test]
fn several_matrices_over_one_quantization_equal_each_alone() {
    for format in FORMATS {
        let k = 2 * QK_K;
        let matrices: Vec<QuantMatrix> = [40usize, 7, 70]
            .iter()
            .enumerate()
            .map(|(i, &n_out)| {
                let blocks = n_out * k / format.block_values();
                let bytes: Vec<u8> = (0..blocks * format.block_bytes())
                    .map(|j| ((j * (7 + i) + j / 13) % 256) as u8)
                    .collect();
                let scales: Vec<f32> = (0..2 * blocks).map(|j| 0.002 * (j % 5 + 1) as f32).collect();
                QuantMatrix::new(format, random_blocks(format, blocks, &bytes, &scales), n_out, k).unwrap()
            })
            .collect();
        for rows in [1, 6] {
            let acts: Vec<f32> = (0..rows * k)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0)
                .collect();
            let quantized = QuantizedRows::new(format, k, &acts, rows).unwrap();
            let refs: Vec<&QuantMatrix> = matrices.iter().collect();
            let together = matmul_many(&refs, &quantized).unwrap();
            assert_eq!(together.len(), 3);
            for (m, got) in matrices.iter().zip(&together) {
                assert_eq!(got, &m.matmul(&acts, rows).unwrap(), "{format:?}, {rows} rows");
            }
        }
    }
}
