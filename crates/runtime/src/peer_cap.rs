//! At most so many open connections per client address, so that one
//! address cannot hold every connection slot the enclave has (the total is
//! capped too) and lock out every other client.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open connections per address.
#[derive(Debug)]
pub struct PeerCap {
    per_peer: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; the slot frees when it is dropped.
#[derive(Debug)]
pub struct PeerSlot {
    cap: Arc<PeerCap>,
    peer: IpAddr,
}

impl PeerCap {
    /// A cap of `per_peer` open connections per address.
    pub fn new(per_peer: usize) -> Arc<PeerCap> {
        Arc::new(PeerCap {
            per_peer: per_peer.max(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for `peer`, or `None` when it holds `per_peer` already.
    pub fn admit(self: &Arc<PeerCap>, peer: IpAddr) -> Option<PeerSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(peer).or_insert(0);
        if *n >= self.per_peer {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            cap: self.clone(),
            peer,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.cap.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_cannot_take_every_slot() {
        let cap = PeerCap::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = cap.admit(a).unwrap();
        let _second = cap.admit(a).unwrap();
        assert!(cap.admit(a).is_none(), "a third connection from one address");
        let _other = cap.admit(b).unwrap();
        drop(first);
        let _again = cap.admit(a).unwrap();
        assert!(cap.admit(a).is_none());
    }
}
