//! Conditional writes of the key broker's state objects, so that replicas
//! sharing one store need no other coordination: create only if absent
//! (`If-None-Match: *`), replace only if unchanged since it was read
//! (`If-Match: ETAG`), and the self-test a broker runs on its store before
//! serving (a store that ignores either header would let two concurrent
//! updates overwrite each other without a word).
//!
//! A `file://` store is one machine's directory: it creates atomically,
//! but checks a replace's version just before writing rather than in the
//! same step (one broker per directory).

use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion};

use crate::{Error, ModelStore};

/// The version of a state object as it was read: what a conditional
/// replace must still find there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateVersion(UpdateVersion);

/// What a conditional write requires of the object it writes.
#[derive(Debug, Clone, Copy)]
pub enum WriteCondition<'a> {
    /// No object there yet.
    Absent,
    /// The object as it was read, unchanged since.
    Unchanged(&'a StateVersion),
}

impl ModelStore {
    /// Reads a key broker's state object with its version; `None` when it
    /// is not there.
    pub async fn get_state_versioned(
        &self,
        parts: &[&str],
    ) -> Result<Option<(Vec<u8>, StateVersion)>, Error> {
        let path = self.state_path(parts)?;
        match self.inner.get(&path).await {
            Ok(r) => {
                let version = UpdateVersion {
                    e_tag: r.meta.e_tag.clone(),
                    version: r.meta.version.clone(),
                };
                let bytes = r.bytes().await.map_err(|e| self.store_error(e))?;
                Ok(Some((bytes.to_vec(), StateVersion(version))))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.store_error(e)),
        }
    }

    /// Writes a key broker's state object if `condition` holds; otherwise
    /// [`Error::Conflict`] (someone else wrote it first) and nothing changes.
    pub async fn put_state_if(
        &self,
        parts: &[&str],
        bytes: Vec<u8>,
        condition: WriteCondition<'_>,
    ) -> Result<StateVersion, Error> {
        let path = self.state_path(parts)?;
        let conflict = || Error::Conflict {
            store: self.url.clone(),
            object: parts.join("/"),
        };
        let mode = match condition {
            WriteCondition::Absent => PutMode::Create,
            WriteCondition::Unchanged(v) if self.is_local() => {
                // No If-Match on a directory: compare, then replace.
                let now = self.inner.head(&path).await.map_err(|e| match e {
                    object_store::Error::NotFound { .. } => conflict(),
                    e => self.store_error(e),
                })?;
                if now.e_tag != v.0.e_tag {
                    return Err(conflict());
                }
                PutMode::Overwrite
            }
            WriteCondition::Unchanged(v) => PutMode::Update(v.0.clone()),
        };
        match self
            .inner
            .put_opts(&path, bytes.into(), PutOptions::from(mode))
            .await
        {
            Ok(r) => Ok(StateVersion(UpdateVersion {
                e_tag: r.e_tag,
                version: r.version,
            })),
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                Err(conflict())
            }
            Err(e) => Err(self.store_error(e)),
        }
    }

    /// Checks that the store honours both conditions, on an object of its
    /// own (`kbs/selftest/RANDOM`, deleted after): a second create of one
    /// object must fail, a replace with a stale version must fail, and a
    /// replace with the current one must succeed.
    /// [`Error::NoConditionalWrites`] says which did not.
    pub async fn check_conditional_writes(&self) -> Result<(), Error> {
        let mut name = [0u8; 16];
        getrandom::getrandom(&mut name)
            .map_err(|e| self.no_conditional_writes(format!("no randomness: {e}")))?;
        let name = hex::encode(name);
        let probe = ["selftest", name.as_str()];
        let outcome = self.probe_conditions(&probe).await;
        let _ = self.delete_state(&probe).await;
        outcome
    }

    async fn probe_conditions(&self, probe: &[&str]) -> Result<(), Error> {
        let first = self
            .put_state_if(probe, b"first".to_vec(), WriteCondition::Absent)
            .await
            .map_err(|e| self.no_conditional_writes(format!("creating a new object failed: {e}")))?;
        match self
            .put_state_if(probe, b"second".to_vec(), WriteCondition::Absent)
            .await
        {
            Err(Error::Conflict { .. }) => {}
            Ok(_) => {
                return Err(self.no_conditional_writes(
                    "a second create-if-absent of one object succeeded (If-None-Match ignored)".into(),
                ))
            }
            Err(e) => {
                return Err(self.no_conditional_writes(format!("a second create failed otherwise: {e}")))
            }
        }
        self.put_state_if(probe, b"third".to_vec(), WriteCondition::Unchanged(&first))
            .await
            .map_err(|e| {
                self.no_conditional_writes(format!("a replace with the current version failed: {e}"))
            })?;
        match self
            .put_state_if(probe, b"fourth".to_vec(), WriteCondition::Unchanged(&first))
            .await
        {
            Err(Error::Conflict { .. }) => {}
            Ok(_) => {
                return Err(self.no_conditional_writes(
                    "a replace with a stale version succeeded (If-Match ignored)".into(),
                ))
            }
            Err(e) => {
                return Err(self.no_conditional_writes(format!("a stale replace failed otherwise: {e}")))
            }
        }
        match self.get_state(probe).await? {
            Some(b) if b == b"third" => Ok(()),
            _ => Err(self.no_conditional_writes("the object does not hold the last accepted write".into())),
        }
    }

    fn no_conditional_writes(&self, why: String) -> Error {
        Error::NoConditionalWrites {
            store: self.url.clone(),
            why,
        }
    }
}
