//! A cache of verified chains, for verifiers that see the same chains
//! again and again (a proxy re-attesting, a key broker, a benchmark).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use blindfold_crypto::{default_provider, HashAlg};

use crate::cert::Certificate;
use crate::chain::{ChainVerifier, VerifiedChain, DEFAULT_CLOCK_SKEW};
use crate::error::Error;

/// Entries a cache holds by default: far more chains than a verifier meets
/// in practice, few enough that hostile evidence cannot exhaust memory.
pub const DEFAULT_CHAIN_CACHE_ENTRIES: usize = 1024;

/// Verified chains by the SHA-256 of (trusted roots, leaf, presented
/// intermediates). A hit skips the signature checks, which do not change;
/// validity is checked again at every lookup's time, and a chain outside
/// it is verified afresh (and fails with the specific error). Bounded:
/// when full, it starts empty again (evidence can present endless
/// variations of a valid chain; none may grow it without limit).
#[derive(Debug)]
pub struct ChainCache {
    chains: Mutex<HashMap<[u8; 32], VerifiedChain>>,
    capacity: usize,
}

impl Default for ChainCache {
    fn default() -> Self {
        ChainCache::with_capacity(DEFAULT_CHAIN_CACHE_ENTRIES)
    }
}

impl ChainCache {
    /// An empty cache of [`DEFAULT_CHAIN_CACHE_ENTRIES`].
    pub fn new() -> ChainCache {
        ChainCache::default()
    }

    /// An empty cache holding at most `capacity` chains.
    pub fn with_capacity(capacity: usize) -> ChainCache {
        ChainCache {
            chains: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// Chains held now.
    pub fn len(&self) -> usize {
        self.chains.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `verifier.verify(..)`, answered from the cache when this exact
    /// (roots, leaf, presented) was verified before and every certificate
    /// on its path is valid at `at`.
    pub fn verify(
        &self,
        verifier: &ChainVerifier,
        leaf: &Certificate,
        presented: &[Certificate],
        at: SystemTime,
    ) -> Result<VerifiedChain, Error> {
        // The key names the trusted roots as well as the chain (a chain
        // verified under one store proves nothing under another), each
        // certificate length-prefixed and each group counted, so no two
        // different (roots, leaf, intermediates) give the same key.
        let mut framed: Vec<Vec<u8>> = Vec::new();
        for group in [verifier.store().roots(), std::slice::from_ref(leaf), presented] {
            framed.push((group.len() as u64).to_be_bytes().to_vec());
            for c in group {
                framed.push((c.der().len() as u64).to_be_bytes().to_vec());
                framed.push(c.der().to_vec());
            }
        }
        let parts: Vec<&[u8]> = framed.iter().map(Vec::as_slice).collect();
        let digest = default_provider().hash(HashAlg::Sha256, &parts);
        let mut id = [0u8; 32];
        id.copy_from_slice(digest.as_bytes());
        let cached = self.chains.lock().ok().and_then(|c| c.get(&id).cloned());
        if let Some(chain) = cached {
            if within_validity(&chain, at) {
                return Ok(chain);
            }
        }
        let chain = verifier.verify(leaf, presented, at)?;
        if let Ok(mut c) = self.chains.lock() {
            if c.len() >= self.capacity {
                c.clear();
            }
            c.insert(id, chain.clone());
        }
        Ok(chain)
    }
}

fn within_validity(chain: &VerifiedChain, at: SystemTime) -> bool {
    let skew = DEFAULT_CLOCK_SKEW;
    chain.path().iter().all(|c| {
        match (
            humantime::parse_rfc3339(&c.not_before),
            humantime::parse_rfc3339(&c.not_after),
        ) {
            (Ok(nb), Ok(na)) => at + skew >= nb && at <= na + skew,
            _ => false,
        }
    })
}
