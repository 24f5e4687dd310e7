//! The store: opening one from its URL, sealing into it, reading back.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use blindfold_crypto::{AeadKey, AEAD_TAG_LEN};
use blindfold_sealed::{Opener, SealedManifest, Sealer};
use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, RetryConfig, WriteMultipart};
use zeroize::Zeroizing;

use crate::{valid_name, Error};

/// Bytes per multipart part (S3 needs at least 5 MiB but for the last).
const PART_SIZE: usize = 16 << 20;
/// Parts uploading at once: with the part being filled, the memory a seal
/// holds whatever the model's size.
const PARTS_IN_FLIGHT: usize = 4;

/// Called as a seal goes: (plaintext bytes sealed, of how many).
pub type SealProgress<'a> = &'a mut (dyn FnMut(u64, u64) + Send);

/// A store of sealed models.
#[derive(Debug, Clone)]
pub struct ModelStore {
    pub(crate) inner: Arc<dyn ObjectStore>,
    prefix: Path,
    pub(crate) url: String,
}

impl ModelStore {
    /// Opens `file://DIR` or `s3://BUCKET[/PREFIX]` (see the crate docs).
    pub fn open(url: &str) -> Result<ModelStore, Error> {
        ModelStore::open_with(url, &[])
    }

    /// As [`ModelStore::open`], with S3 settings given here taking
    /// precedence over the environment's (`("aws_endpoint", URL)`,
    /// `("aws_access_key_id", ...)`, `("aws_allow_http", "true")`, ...).
    pub fn open_with(url: &str, s3_settings: &[(&str, &str)]) -> Result<ModelStore, Error> {
        let bad = |why: &str| Error::Url {
            url: url.into(),
            why: why.into(),
        };
        if let Some(dir) = url.strip_prefix("file://") {
            if dir.is_empty() {
                return Err(bad("names no directory"));
            }
            std::fs::create_dir_all(dir).map_err(|e| bad(&format!("cannot make the directory: {e}")))?;
            let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)
                .map_err(|e| bad(&e.to_string()))?;
            return Ok(ModelStore {
                inner: Arc::new(fs),
                prefix: Path::default(),
                url: url.into(),
            });
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("names no bucket"));
            }
            // TLS for object_store's client: rustls on ring. Another
            // provider installed first by the process is kept.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let retry = RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            };
            let mut builder = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry);
            for (key, value) in s3_settings {
                let key: object_store::aws::AmazonS3ConfigKey = key
                    .parse()
                    .map_err(|_| bad(&format!("unknown S3 setting {key}")))?;
                builder = builder.with_config(key, *value);
            }
            let s3 = builder.build().map_err(|e| bad(&e.to_string()))?;
            return Ok(ModelStore {
                inner: Arc::new(s3),
                prefix: Path::parse(prefix).map_err(|e| bad(&e.to_string()))?,
                url: url.into(),
            });
        }
        Err(bad("not file://DIR or s3://BUCKET/PREFIX"))
    }

    /// The URL it was opened from.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A `file://` store (one machine's directory).
    pub(crate) fn is_local(&self) -> bool {
        self.url.starts_with("file://")
    }

    pub(crate) fn store_error(&self, source: object_store::Error) -> Error {
        Error::Store {
            store: self.url.clone(),
            source,
        }
    }

    fn model_dir(&self, name: &str) -> Result<Path, Error> {
        if !valid_name(name) {
            return Err(Error::Name(name.into()));
        }
        Ok(self.prefix.clone().join("models").join(name))
    }

    fn manifest_path(&self, name: &str) -> Result<Path, Error> {
        Ok(self.model_dir(name)?.join("manifest.json"))
    }

    fn data_path(&self, name: &str, key_id: &str) -> Result<Path, Error> {
        Ok(self.model_dir(name)?.join(format!("{key_id}.sealed").as_str()))
    }

    /// A multipart upload of the sealed data `sealer` will produce.
    async fn upload_for(&self, name: &str, sealer: &Sealer) -> Result<WriteMultipart, Error> {
        let path = self.data_path(name, &sealer.manifest().key_id)?;
        let upload = self
            .inner
            .put_multipart(&path)
            .await
            .map_err(|e| self.store_error(e))?;
        Ok(WriteMultipart::new_with_chunk_size(upload, PART_SIZE))
    }

    /// Hands a sealed chunk to the upload, waiting while too many parts
    /// are in flight (so memory stays flat).
    async fn push(&self, writer: &mut WriteMultipart, sealed_chunk: &[u8]) -> Result<(), Error> {
        writer
            .wait_for_capacity(PARTS_IN_FLIGHT)
            .await
            .map_err(|e| self.store_error(e))?;
        writer.write(sealed_chunk);
        Ok(())
    }

    /// Seals the file at `path` as model `name` in chunks of `chunk_size`,
    /// under a new data key: the chunks first (multipart), the manifest
    /// last. Returns the manifest and the data key, which the caller hands
    /// to the key broker and never writes down in the clear.
    pub async fn seal_file(
        &self,
        path: &std::path::Path,
        name: &str,
        chunk_size: u64,
        progress: SealProgress<'_>,
    ) -> Result<(SealedManifest, AeadKey), Error> {
        let manifest_path = self.manifest_path(name)?;
        match self.inner.head(&manifest_path).await {
            Ok(_) => {
                return Err(Error::Exists {
                    name: name.into(),
                    store: self.url.clone(),
                })
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.store_error(e)),
        }
        let read_error = |source| Error::Read {
            path: path.display().to_string(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(read_error)?;
        let size = file.metadata().map_err(read_error)?.len();
        let mut sealer = Sealer::new(name, size, chunk_size)?;
        let mut writer = self.upload_for(name, &sealer).await?;
        let mut buf = Zeroizing::new(Vec::with_capacity(chunk_size as usize + AEAD_TAG_LEN));
        let mut done = 0u64;
        let sealed = loop {
            let len = sealer.next_chunk_len();
            let step = async {
                buf.clear();
                buf.resize(len as usize, 0);
                file.read_exact(&mut buf).map_err(read_error)?;
                sealer.seal_next(&mut buf)?;
                self.push(&mut writer, &buf).await
            };
            if let Err(e) = step.await {
                let _ = writer.abort().await;
                return Err(e);
            }
            done += len;
            progress(done, size);
            if sealer.next_chunk_len() == 0 {
                break sealer.finish()?;
            }
        };
        // A file that grew while it was read is not what was sealed.
        let mut probe = [0u8; 1];
        if file.read(&mut probe).map_err(read_error)? != 0 {
            let _ = writer.abort().await;
            return Err(blindfold_sealed::Error::InputChanged(format!(
                "{} grew while it was sealed",
                path.display()
            ))
            .into());
        }
        writer.finish().await.map_err(|e| self.store_error(e))?;
        let (manifest, key) = sealed;
        self.inner
            .put(&manifest_path, manifest.to_bytes().into())
            .await
            .map_err(|e| self.store_error(e))?;
        Ok((manifest, key))
    }

    pub(crate) fn state_path(&self, parts: &[&str]) -> Result<Path, Error> {
        let mut path = self.prefix.clone().join("kbs");
        for p in parts {
            if !valid_name(p) {
                return Err(Error::Name((*p).into()));
            }
            path = path.join(*p);
        }
        Ok(path)
    }

    /// Writes a key broker's state object `kbs/PARTS...` (each part a valid
    /// name), replacing any.
    pub async fn put_state(&self, parts: &[&str], bytes: Vec<u8>) -> Result<(), Error> {
        let path = self.state_path(parts)?;
        self.inner
            .put(&path, bytes.into())
            .await
            .map(|_| ())
            .map_err(|e| self.store_error(e))
    }

    /// Deletes a key broker's state object (gone already is fine).
    pub async fn delete_state(&self, parts: &[&str]) -> Result<(), Error> {
        let path = self.state_path(parts)?;
        match self.inner.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.store_error(e)),
        }
    }

    /// Reads a key broker's state object; `None` when it is not there.
    pub async fn get_state(&self, parts: &[&str]) -> Result<Option<Vec<u8>>, Error> {
        let path = self.state_path(parts)?;
        match self.inner.get(&path).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(|e| self.store_error(e))?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.store_error(e)),
        }
    }

    /// Model `name`'s manifest, as stored (not yet authenticated: that
    /// needs the data key).
    pub async fn manifest(&self, name: &str) -> Result<SealedManifest, Error> {
        let path = self.manifest_path(name)?;
        let bytes = match self.inner.get(&path).await {
            Ok(r) => r.bytes().await.map_err(|e| self.store_error(e))?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::NoSuchModel {
                    name: name.into(),
                    store: self.url.clone(),
                })
            }
            Err(e) => return Err(self.store_error(e)),
        };
        Ok(SealedManifest::parse(&bytes)?)
    }

    /// The models whose manifest is in the store, by name.
    pub async fn list(&self) -> Result<Vec<String>, Error> {
        let models = self.prefix.clone().join("models");
        let objects: Vec<_> = self
            .inner
            .list(Some(&models))
            .try_collect()
            .await
            .map_err(|e| self.store_error(e))?;
        let mut names: Vec<String> = objects
            .iter()
            .filter(|o| o.location.filename() == Some("manifest.json"))
            .filter_map(|o| {
                let parts: Vec<_> = o.location.parts().collect();
                parts.len().checked_sub(2).map(|i| parts[i].as_ref().to_string())
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// Deletes model `name`: its manifest first (so it stops looking like
    /// a model at once), then its sealed data.
    pub async fn delete(&self, name: &str) -> Result<(), Error> {
        let manifest = self.manifest_path(name)?;
        match self.inner.delete(&manifest).await {
            Ok(()) => {}
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::NoSuchModel {
                    name: name.into(),
                    store: self.url.clone(),
                })
            }
            Err(e) => return Err(self.store_error(e)),
        }
        let dir = self.model_dir(name)?;
        let rest: Vec<_> = self
            .inner
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(|e| self.store_error(e))?;
        for o in rest {
            self.inner
                .delete(&o.location)
                .await
                .map_err(|e| self.store_error(e))?;
        }
        Ok(())
    }

    /// Reads and opens model `name` under `key`, chunk by chunk, giving
    /// each chunk's plaintext to `sink` in order; nothing reaches `sink`
    /// from a chunk that does not authenticate. Returns the plaintext's
    /// SHA-256 once every chunk has arrived and the digest matches.
    pub async fn open_model(
        &self,
        name: &str,
        key: AeadKey,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<[u8; 32], Error> {
        let sealed = self.manifest(name).await?;
        self.open_with_manifest(name, &sealed, key, sink).await
    }

    /// As [`ModelStore::open_model`], with the manifest the caller already
    /// read ([`ModelStore::manifest`]): authenticated here under `key`
    /// before any chunk is read, not fetched again.
    pub async fn open_with_manifest(
        &self,
        name: &str,
        sealed: &SealedManifest,
        key: AeadKey,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<[u8; 32], Error> {
        let mut reader = self.reader(name, sealed, key).await?;
        while reader.next_chunk().await? {
            sink(&reader.buf);
        }
        Ok(reader.opener.finish()?)
    }

    async fn reader(&self, name: &str, sealed: &SealedManifest, key: AeadKey) -> Result<ChunkReader, Error> {
        let opener = Opener::new(sealed, key, name)?;
        let m = opener.manifest();
        let data = self.data_path(name, &m.key_id)?;
        let stride = (m.chunk_size + AEAD_TAG_LEN as u64) as usize;
        let body = self
            .inner
            .get(&data)
            .await
            .map_err(|e| unreadable(&self.url, 0, &e))?;
        Ok(ChunkReader {
            opener,
            stream: body.into_stream(),
            pending: bytes::Bytes::new(),
            ended: false,
            buf: Zeroizing::new(Vec::with_capacity(stride)),
            stride,
            index: 0,
            url: self.url.clone(),
        })
    }

    /// Re-seals model `name` under a new data key (key rotation): its
    /// chunks are opened under `old_key` and sealed again as they stream,
    /// the new manifest replaces the old one only when every new chunk is
    /// stored and the plaintext's digest is unchanged, then the old data is
    /// deleted. Returns the new manifest and key, and the old key id.
    pub async fn reseal(
        &self,
        name: &str,
        old_key: AeadKey,
        progress: SealProgress<'_>,
    ) -> Result<(SealedManifest, AeadKey, String), Error> {
        let old = self.manifest(name).await?;
        let mut reader = self.reader(name, &old, old_key).await?;
        let (size, chunk_size) = (
            reader.opener.manifest().plaintext_size,
            reader.opener.manifest().chunk_size,
        );
        let mut sealer = Sealer::new(name, size, chunk_size)?;
        let mut writer = self.upload_for(name, &sealer).await?;
        let mut done = 0u64;
        let step = async {
            while reader.next_chunk().await? {
                let mut buf = Zeroizing::new(reader.buf.to_vec());
                sealer.seal_next(&mut buf)?;
                self.push(&mut writer, &buf).await?;
                done += (buf.len() - AEAD_TAG_LEN) as u64;
                progress(done, size);
            }
            reader.opener.finish()?;
            Ok::<(), Error>(())
        };
        if let Err(e) = step.await {
            let _ = writer.abort().await;
            return Err(e);
        }
        writer.finish().await.map_err(|e| self.store_error(e))?;
        let (manifest, key) = sealer.finish()?;
        if manifest.manifest.plaintext_sha256 != old.manifest.plaintext_sha256 {
            return Err(blindfold_sealed::Error::InputChanged(
                "the re-sealed model differs from the old one".into(),
            )
            .into());
        }
        self.inner
            .put(&self.manifest_path(name)?, manifest.to_bytes().into())
            .await
            .map_err(|e| self.store_error(e))?;
        let old_data = self.data_path(name, &old.manifest.key_id)?;
        self.inner
            .delete(&old_data)
            .await
            .map_err(|e| self.store_error(e))?;
        Ok((manifest, key, old.manifest.key_id))
    }
}

fn unreadable(url: &str, index: u64, e: &dyn std::fmt::Display) -> Error {
    blindfold_sealed::Error::Chunk {
        index,
        reason: format!("cannot be read from {url}: {e}"),
    }
    .into()
}

/// A sealed model's data, streamed and cut into chunks as it arrives, each
/// authenticated before it is handed on: memory holds one chunk.
struct ChunkReader {
    opener: Opener,
    stream: futures_util::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>,
    pending: bytes::Bytes,
    ended: bool,
    /// The last chunk opened.
    buf: Zeroizing<Vec<u8>>,
    stride: usize,
    index: u64,
    url: String,
}

impl ChunkReader {
    /// Opens the next chunk into `buf`; false when the data has ended.
    async fn next_chunk(&mut self) -> Result<bool, Error> {
        self.buf.clear();
        loop {
            if self.pending.is_empty() && !self.ended {
                match self
                    .stream
                    .try_next()
                    .await
                    .map_err(|e| unreadable(&self.url, self.index, &e))?
                {
                    Some(piece) => self.pending = piece,
                    None => self.ended = true,
                }
                continue;
            }
            let take = (self.stride - self.buf.len()).min(self.pending.len());
            self.buf.extend_from_slice(&self.pending.split_to(take));
            if self.buf.len() == self.stride || (self.ended && !self.buf.is_empty()) {
                self.opener.open_next(self.index, &mut self.buf)?;
                self.index += 1;
                return Ok(true);
            }
            if self.ended {
                return Ok(false);
            }
        }
    }
}
