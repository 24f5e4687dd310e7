//! Library-level checks of the verity tree: which corruption is reported
//! as what, and that threading does not change the bytes.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::Cursor;

use blindfold_verity::Error;
use blindfold_verity::{format, verify, Geometry, VerityParams};

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn params(threads: usize) -> VerityParams {
    let mut p = VerityParams::new(vec![5; 32], [1; 16]);
    p.threads = threads;
    p
}

#[test]
fn thread_count_does_not_change_the_tree() {
    let d = data(3 << 20);
    let mut one = Cursor::new(Vec::new());
    let mut four = Cursor::new(Vec::new());
    let a = format(d.as_slice(), d.len() as u64, &mut one, &params(1)).unwrap();
    let b = format(d.as_slice(), d.len() as u64, &mut four, &params(4)).unwrap();
    assert_eq!(a, b);
    assert_eq!(one.into_inner(), four.into_inner());
}

#[test]
fn corruption_is_named_by_where_it_is() {
    let d = data(2 << 20); // 512 blocks: two levels (4 leaf blocks, 1 top)
    let p = params(2);
    let mut hash = Cursor::new(Vec::new());
    let tree = format(d.as_slice(), d.len() as u64, &mut hash, &p).unwrap();
    let root = tree.root_hash.as_bytes().to_vec();
    let tree_bytes = hash.into_inner();
    let g = Geometry::new(&p, 512).unwrap();
    assert_eq!(g.levels, vec![(1, 4), (0, 1)]);

    verify(
        d.as_slice(),
        d.len() as u64,
        &mut Cursor::new(tree_bytes.clone()),
        &p,
        &root,
    )
    .unwrap();

    let mut bad = d.clone();
    bad[4096 * 300] ^= 1;
    let err = verify(
        bad.as_slice(),
        bad.len() as u64,
        &mut Cursor::new(tree_bytes.clone()),
        &p,
        &root,
    )
    .unwrap_err();
    assert_eq!(err, Error::CorruptedDataBlock { block: 300 });

    // The top block sits right after the superblock.
    let mut t = tree_bytes.clone();
    t[4096 + 10] ^= 1;
    let err = verify(d.as_slice(), d.len() as u64, &mut Cursor::new(t), &p, &root).unwrap_err();
    assert_eq!(err, Error::CorruptedHashBlock { level: 1, block: 0 });

    let err = verify(
        d.as_slice(),
        d.len() as u64,
        &mut Cursor::new(tree_bytes),
        &p,
        &[0; 32],
    )
    .unwrap_err();
    assert!(matches!(err, Error::RootHashMismatch { .. }));
}

#[test]
fn data_smaller_than_a_block_is_refused() {
    let err = format(&[0u8; 100][..], 100, &mut Cursor::new(Vec::new()), &params(1)).unwrap_err();
    assert!(matches!(err, Error::Verity(_)));
}
