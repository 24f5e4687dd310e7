//! A quantized weight matrix and its product with f32 activation rows.

use rayon::prelude::*;

use crate::{ShapeError, WeightFormat};

/// Output rows one thread takes at a time: enough that handing work to a
/// thread costs little beside it, few enough that two threads share even a
/// small projection (SmolLM2's 192-row key matrix).
const OUTPUTS_PER_TASK: usize = 32;

/// How far ahead of the tile being computed its weights are asked for.
const PREFETCH_BYTES: usize = 4096;

/// A weight matrix of `n_out` rows of `k` values in one block format.
#[derive(Debug, Clone)]
pub struct QuantMatrix {
    format: WeightFormat,
    bytes: Vec<u8>,
    n_out: usize,
    k: usize,
}

impl QuantMatrix {
    /// Wraps GGUF data in `format`: `n_out` rows of `k` values, row-major.
    pub fn new(
        format: WeightFormat,
        bytes: Vec<u8>,
        n_out: usize,
        k: usize,
    ) -> Result<QuantMatrix, ShapeError> {
        let block = format.block_values();
        if k % block != 0 {
            return Err(ShapeError::NotWholeBlocks { k, block });
        }
        let want = n_out * (k / block) * format.block_bytes();
        if bytes.len() != want {
            return Err(ShapeError::Length {
                what: "the weights (bytes)",
                got: bytes.len(),
                want,
            });
        }
        Ok(QuantMatrix {
            format,
            bytes,
            n_out,
            k,
        })
    }

    /// The block format.
    pub fn format(&self) -> WeightFormat {
        self.format
    }

    /// Output features (rows).
    pub fn n_out(&self) -> usize {
        self.n_out
    }

    /// Input features (columns).
    pub fn k(&self) -> usize {
        self.k
    }

    /// The weights' bytes, row-major.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The matrix as f32, row-major (the dense copy large batches use).
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.n_out * self.k];
        let format = self.format;
        out.par_chunks_mut(format.block_values())
            .zip(self.bytes.par_chunks(format.block_bytes()))
            .for_each(|(dst, block)| format.dequantize_block(block, dst));
        out
    }

    /// `acts · Wᵀ`: `acts` is `rows` rows of `k` values; the result is
    /// `rows` rows of `n_out` values. Each activation row is quantized
    /// once; each weight row is then dotted with every activation row, so
    /// a row's result does not depend on the rows beside it.
    pub fn matmul(&self, acts: &[f32], rows: usize) -> Result<Vec<f32>, ShapeError> {
        let quantized = QuantizedRows::new(self.format, self.k, acts, rows)?;
        let mut out = matmul_many(&[self], &quantized)?;
        Ok(out.pop().unwrap_or_default())
    }
}

/// Activation rows quantized once to the 8-bit format one weight format
/// pairs with, for every matrix of that format and width they multiply
/// (a layer's query, key and value projections read the same rows).
#[derive(Debug, Clone)]
pub struct QuantizedRows {
    format: WeightFormat,
    k: usize,
    rows: usize,
    bytes: Vec<u8>,
}

impl QuantizedRows {
    /// Quantizes `rows` rows of `k` values for weights in `format`.
    pub fn new(
        format: WeightFormat,
        k: usize,
        acts: &[f32],
        rows: usize,
    ) -> Result<QuantizedRows, ShapeError> {
        let block = format.block_values();
        if k % block != 0 {
            return Err(ShapeError::NotWholeBlocks { k, block });
        }
        if acts.len() != rows * k {
            return Err(ShapeError::Length {
                what: "the activations",
                got: acts.len(),
                want: rows * k,
            });
        }
        let row_q = k / block * format.activation_block_bytes();
        let mut bytes = vec![0u8; rows * row_q];
        if rows == 1 {
            format.quantize_activations(acts, &mut bytes);
        } else {
            bytes
                .par_chunks_mut(row_q)
                .zip(acts.par_chunks(k))
                .for_each(|(q, a)| format.quantize_activations(a, q));
        }
        Ok(QuantizedRows {
            format,
            k,
            rows,
            bytes,
        })
    }

    /// Activation rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

/// Each matrix times the same quantized rows (`rows` rows of each
/// matrix's `n_out` values, row-major), all in one pass over the threads:
/// the matrices must share the rows' format and width. One dispatch for a
/// layer's three attention projections costs less than three, and lets a
/// thread that finishes one matrix's rows start on the next's.
pub fn matmul_many(matrices: &[&QuantMatrix], acts: &QuantizedRows) -> Result<Vec<Vec<f32>>, ShapeError> {
    for m in matrices {
        if m.format != acts.format {
            return Err(ShapeError::Format {
                weights: m.format,
                activations: acts.format,
            });
        }
        if m.k != acts.k {
            return Err(ShapeError::Length {
                what: "an activation row",
                got: acts.k,
                want: m.k,
            });
        }
    }
    let rows = acts.rows;
    let format = acts.format;
    let blocks = acts.k / format.block_values();
    let row_w = blocks * format.block_bytes();
    let row_q = blocks * format.activation_block_bytes();
    let act_rows: Vec<&[u8]> = acts.bytes.chunks(row_q.max(1)).collect();
    // Output-major first (each weight row's results together), so tasks
    // own disjoint slices; then transposed to row-major.
    let mut by_output: Vec<Vec<f32>> = matrices.iter().map(|m| vec![0f32; m.n_out * rows]).collect();
    if rows > 0 {
        let tasks: Vec<(&[u8], &mut [f32])> = matrices
            .iter()
            .zip(by_output.iter_mut())
            .flat_map(|(m, out)| {
                m.bytes
                    .chunks(row_w * OUTPUTS_PER_TASK)
                    .zip(out.chunks_mut(rows * OUTPUTS_PER_TASK))
            })
            .collect();
        tasks.into_par_iter().for_each(|(weights, dst)| {
            if rows == 1 {
                one_row(format, weights, row_w, act_rows[0], dst)
            } else {
                several_rows(format, weights, row_w, &act_rows, dst)
            }
        });
    }
    if rows <= 1 {
        return Ok(by_output);
    }
    Ok(by_output
        .iter()
        .zip(matrices)
        .map(|(columns, m)| {
            let mut out = vec![0f32; rows * m.n_out];
            for (o, col) in columns.chunks(rows).enumerate() {
                for (r, v) in col.iter().enumerate() {
                    out[r * m.n_out + o] = *v;
                }
            }
            out
        })
        .collect())
}

/// The weights stream from memory: before computing a tile that ends at
/// byte `tile_end`, ask for the bytes up to `PREFETCH_BYTES` past it (from
/// `asked`, where the last request stopped), so they are on their way
/// while the tile computes.
fn prefetch_ahead(weights: &[u8], asked: &mut usize, tile_end: usize) {
    let until = (tile_end + PREFETCH_BYTES).min(weights.len());
    crate::prefetch(&weights[(*asked).min(until)..until]);
    *asked = until;
}

/// Weight rows (`row_w` bytes each) times one activation row: four weight
/// rows at a time, so four independent sums overlap.
fn one_row(format: WeightFormat, weights: &[u8], row_w: usize, act: &[u8], dst: &mut [f32]) {
    let mut rows = weights.chunks_exact(4 * row_w);
    let mut outs = dst.chunks_exact_mut(4);
    let mut asked = 0;
    for (g, (w, out)) in (&mut rows).zip(&mut outs).enumerate() {
        prefetch_ahead(weights, &mut asked, (g + 1) * 4 * row_w);
        let (w01, w23) = w.split_at(2 * row_w);
        let (w0, w1) = w01.split_at(row_w);
        let (w2, w3) = w23.split_at(row_w);
        let tile = format.dot_tile::<4, 1>([w0, w1, w2, w3], [act]);
        for (o, t) in out.iter_mut().zip(tile) {
            *o = t[0];
        }
    }
    for (w, out) in rows.remainder().chunks_exact(row_w).zip(outs.into_remainder()) {
        *out = format.dot_tile::<1, 1>([w], [act])[0][0];
    }
}

/// Weight rows times several activation rows (`dst` holds each weight
/// row's results together): two weight rows at a time against four
/// activation rows at a time, so each weight block is unpacked once per
/// four activation rows and each activation block's scales once per two
/// weight rows.
fn several_rows(format: WeightFormat, weights: &[u8], row_w: usize, acts: &[&[u8]], dst: &mut [f32]) {
    let n = acts.len();
    let mut asked = 0;
    let mut pairs = weights.chunks_exact(2 * row_w);
    let mut pair_outs = dst.chunks_exact_mut(2 * n);
    for (i, (w, out)) in (&mut pairs).zip(&mut pair_outs).enumerate() {
        prefetch_ahead(weights, &mut asked, (i + 1) * 2 * row_w);
        let (w0, w1) = w.split_at(row_w);
        let (out0, out1) = out.split_at_mut(n);
        let mut groups = acts.chunks_exact(4);
        let (mut outs0, mut outs1) = (out0.chunks_exact_mut(4), out1.chunks_exact_mut(4));
        for ((a, o0), o1) in (&mut groups).zip(&mut outs0).zip(&mut outs1) {
            let [t0, t1] = format.dot_tile::<2, 4>([w0, w1], [a[0], a[1], a[2], a[3]]);
            o0.copy_from_slice(&t0);
            o1.copy_from_slice(&t1);
        }
        let rest = groups.remainder();
        for ((a, o0), o1) in rest
            .iter()
            .zip(outs0.into_remainder())
            .zip(outs1.into_remainder())
        {
            let [t0, t1] = format.dot_tile::<2, 1>([w0, w1], [a]);
            (*o0, *o1) = (t0[0], t1[0]);
        }
    }
    // An odd last weight row.
    for (w, out) in pairs
        .remainder()
        .chunks_exact(row_w)
        .zip(pair_outs.into_remainder().chunks_mut(n))
    {
        let mut groups = acts.chunks_exact(4);
        let mut outs = out.chunks_exact_mut(4);
        for (a, o) in (&mut groups).zip(&mut outs) {
            let tile = format.dot_tile::<1, 4>([w], [a[0], a[1], a[2], a[3]]);
            o.copy_from_slice(&tile[0]);
        }
        for (a, o) in groups.remainder().iter().zip(outs.into_remainder()) {
            *o = format.dot_tile::<1, 1>([w], [a])[0][0];
        }
    }
}
