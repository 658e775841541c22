//! One object-store output root (`s3://bucket/prefix`, `gs://…`, `az://…`) and the few
//! operations the commit protocol and the readers need, with keys relative to the root
//! (`personnel/snapshot_date=…/part-00000.parquet`, the same relative paths a local root
//! has), and the one mapping from a store error to an exit code.
//!
//! Credentials come only from each cloud's standard chain as `object_store` reads it
//! (AWS_* variables, web identity, ECS/EC2 metadata; GOOGLE_* / application default
//! credentials, GCE metadata; AZURE_* variables, managed identity, Azure CLI), plus the AWS
//! shared credentials/config files (`aws_profile`), never from flags. Transient store errors (5xx, timeouts, cut connections) are retried inside
//! `object_store` with exponential backoff, bounded by `--max-retries` and a time budget.

use crate::error::{EtlError, FailureKind};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use object_store::{
    ClientOptions, GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig,
    UpdateVersion, WriteMultipart,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How to reach and write an object store (from the `run`/`verify`/… flags).
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `--s3-endpoint`: an S3-compatible server instead of AWS (http allowed: the user chose it).
    pub s3_endpoint: Option<String>,
    /// Retries of one store request on transient errors.
    pub max_retries: u32,
    /// Timeout of one store request.
    pub request_timeout: Duration,
    /// `--lock-lease`: how long a run's lock object is valid without renewal.
    pub lock_lease: Duration,
    /// `--upload-part-size`: files larger than this are uploaded in parts of this size.
    pub part_size: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            s3_endpoint: None,
            max_retries: 8,
            request_timeout: Duration::from_secs(60),
            lock_lease: Duration::from_secs(120),
            part_size: 8 << 20,
        }
    }
}

/// An output root in an object store.
#[derive(Debug, Clone)]
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    /// `scheme://container/prefix` as the user wrote it (no query, no credentials).
    url: String,
    pub opts: StoreOptions,
}

/// An object read with what a compare-and-swap and a lease need.
#[derive(Debug, Clone)]
pub struct Versioned {
    pub bytes: Bytes,
    pub version: UpdateVersion,
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

/// What a conditional create found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Yes,
    AlreadyExists,
}

impl Remote {
    /// Connect to the store a URL names. Fails with 64 on an unusable URL or configuration.
    pub fn from_url(url: &url::Url, opts: &StoreOptions) -> Result<Remote, EtlError> {
        let retry = RetryConfig {
            max_retries: opts.max_retries as usize,
            retry_timeout: Duration::from_secs(180),
            ..RetryConfig::default()
        };
        let client = ClientOptions::new()
            .with_timeout(opts.request_timeout)
            .with_connect_timeout(opts.request_timeout.min(Duration::from_secs(10)));
        let bucket = url.host_str().unwrap_or_default();
        let display = format!("{}://{}{}", url.scheme(), bucket, url.path().trim_end_matches('/'));
        let bad = |e: object_store::Error| {
            EtlError::usage(format!("--out {display}: cannot configure the object store: {}", short(&e)))
        };
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "s3" | "s3a" => {
                let mut b = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry)
                    .with_client_options(client.clone());
                if let Some(p) = super::aws_profile::from_env() {
                    tracing::debug!(profile = %p.name, "S3 credentials from the shared AWS files");
                    if let (Some(id), Some(secret)) = (p.access_key_id, p.secret_access_key) {
                        b = b.with_access_key_id(id).with_secret_access_key(secret);
                        if let Some(t) = p.session_token {
                            b = b.with_token(t);
                        }
                    }
                    let region_in_env =
                        ["AWS_REGION", "AWS_DEFAULT_REGION"].iter().any(|v| std::env::var_os(v).is_some());
                    if let (Some(r), false) = (p.region, region_in_env) {
                        b = b.with_region(r);
                    }
                }
                // --s3-endpoint, else the AWS SDKs' own endpoint variables; a plain-http
                // endpoint is allowed because the user named it.
                let env_endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
                    .iter()
                    .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()));
                if let Some(ep) = &opts.s3_endpoint {
                    b = b.with_endpoint(ep);
                }
                if let Some(ep) = opts.s3_endpoint.as_ref().or(env_endpoint.as_ref()) {
                    b = b.with_allow_http(ep.starts_with("http://"));
                }
                Arc::new(b.build().map_err(bad)?)
            }
            "gs" => Arc::new(
                object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry)
                    .with_client_options(client)
                    .build()
                    .map_err(bad)?,
            ),
            "az" | "azure" | "abfs" | "abfss" => Arc::new(
                object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(url.as_str())
                    .with_retry(retry)
                    .with_client_options(client)
                    .build()
                    .map_err(bad)?,
            ),
            other => {
                return Err(EtlError::usage(format!(
                    "--out {display}: unsupported scheme {other}://; use a local folder, file://, s3://, gs:// or az://"
                )))
            }
        };
        if bucket.is_empty() {
            return Err(EtlError::usage(format!("--out {display}: no bucket or container in the URL")));
        }
        // For az://container/path and abfs://container@account/path the container is the
        // host's first part; object_store takes it from the URL. The prefix is the path.
        let prefix = url.path().trim_matches('/').to_string();
        Ok(Remote { store, prefix, url: display, opts: opts.clone() })
    }

    /// A store and prefix built elsewhere (tests).
    pub fn with_store(store: Arc<dyn ObjectStore>, prefix: &str, url: &str, opts: StoreOptions) -> Remote {
        Remote { store, prefix: prefix.trim_matches('/').to_string(), url: url.to_string(), opts }
    }

    /// The root as the table-format logs (`load::table_log`) reach it.
    pub fn log_root(&self) -> crate::load::log_root::LogRoot {
        crate::load::log_root::LogRoot::Store {
            store: self.store.clone(),
            prefix: self.prefix.clone(),
            url: self.url.clone(),
        }
    }

    /// The root as the user wrote it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL of a relative key, for messages and the run summary.
    pub fn url_of(&self, rel: &str) -> String {
        format!("{}/{rel}", self.url)
    }

    fn key(&self, rel: &str) -> Key {
        let rel = rel.trim_matches('/');
        match (self.prefix.is_empty(), rel.is_empty()) {
            (true, _) => Key::from(rel),
            (false, true) => Key::from(self.prefix.as_str()),
            (false, false) => Key::from(format!("{}/{rel}", self.prefix)),
        }
    }

    fn rel_of(&self, key: &Key) -> String {
        let k = key.as_ref();
        if self.prefix.is_empty() {
            return k.to_string();
        }
        k.strip_prefix(self.prefix.as_str()).map(|r| r.trim_start_matches('/')).unwrap_or(k).to_string()
    }

    fn err(&self, what: &str, rel: &str, e: object_store::Error) -> EtlError {
        store_error(what, &self.url_of(rel), e)
    }

    /// An object's bytes and version tag, or `None` when it does not exist.
    pub async fn get(&self, rel: &str) -> Result<Option<Bytes>, EtlError> {
        match self.store.get_opts(&self.key(rel), GetOptions::default()).await {
            Ok(r) => r.bytes().await.map(Some).map_err(|e| self.err("read", rel, e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err("read", rel, e)),
        }
    }

    /// An object's bytes, version (for a later `replace`) and the store's last-modified
    /// time, or `None` when it does not exist.
    pub async fn get_versioned(&self, rel: &str) -> Result<Option<Versioned>, EtlError> {
        match self.store.get_opts(&self.key(rel), GetOptions::default()).await {
            Ok(r) => {
                let version = UpdateVersion { e_tag: r.meta.e_tag.clone(), version: r.meta.version.clone() };
                let last_modified = r.meta.last_modified;
                let bytes = r.bytes().await.map_err(|e| self.err("read", rel, e))?;
                Ok(Some(Versioned { bytes, version, last_modified }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err("read", rel, e)),
        }
    }

    /// The store's own clock: the last-modified time it gives a probe object written now
    /// (then deleted). Lease expiry is judged by this, never by this machine's clock, which
    /// may differ from the lock holder's.
    pub async fn store_now(&self, probe_rel: &str) -> Result<chrono::DateTime<chrono::Utc>, EtlError> {
        self.put(probe_rel, Vec::new()).await?;
        let head = self.store.head(&self.key(probe_rel)).await.map_err(|e| self.err("read", probe_rel, e));
        self.delete(probe_rel).await?;
        Ok(head?.last_modified)
    }

    /// Replace an object only if it is still the version read (compare-and-swap). Returns
    /// the new version, or `None` when someone else changed or deleted it meanwhile.
    pub async fn replace(
        &self,
        rel: &str,
        bytes: Vec<u8>,
        expected: &UpdateVersion,
    ) -> Result<Option<UpdateVersion>, EtlError> {
        let opts = PutOptions { mode: PutMode::Update(expected.clone()), ..Default::default() };
        match self.store.put_opts(&self.key(rel), PutPayload::from(bytes), opts).await {
            Ok(r) => Ok(Some(UpdateVersion { e_tag: r.e_tag, version: r.version })),
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::NotFound { .. }
                | object_store::Error::AlreadyExists { .. },
            ) => Ok(None),
            Err(e) => Err(self.err("replace", rel, e)),
        }
    }

    /// Write a small object, replacing any.
    pub async fn put(&self, rel: &str, bytes: Vec<u8>) -> Result<(), EtlError> {
        self.store.put(&self.key(rel), PutPayload::from(bytes)).await.map(|_| ()).map_err(|e| self.err("write", rel, e))
    }

    /// Write a small object only if none exists under that key (a conditional put: two
    /// writers cannot both succeed).
    pub async fn create(&self, rel: &str, bytes: Vec<u8>) -> Result<Created, EtlError> {
        self.create_versioned(rel, bytes).await.map(|(c, _)| c)
    }

    /// As `create`, also returning the created version (for a later `replace`).
    pub async fn create_versioned(
        &self,
        rel: &str,
        bytes: Vec<u8>,
    ) -> Result<(Created, Option<UpdateVersion>), EtlError> {
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store.put_opts(&self.key(rel), PutPayload::from(bytes), opts).await {
            Ok(r) => Ok((Created::Yes, Some(UpdateVersion { e_tag: r.e_tag, version: r.version }))),
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                Ok((Created::AlreadyExists, None))
            }
            Err(e) => Err(self.err("create", rel, e)),
        }
    }

    /// Upload a local file: in one request up to the part size, in parts above it.
    pub async fn upload(&self, local: &Path, rel: &str) -> Result<(), EtlError> {
        let read_err = |e: std::io::Error| {
            EtlError::cannot_write(format!("cannot read staged file {} for upload: {e}", local.display()))
        };
        let mut f = tokio::fs::File::open(local).await.map_err(read_err)?;
        let len = f.metadata().await.map_err(read_err)?.len();
        let key = self.key(rel);
        if len <= self.opts.part_size as u64 {
            let mut buf = Vec::with_capacity(len as usize);
            f.read_to_end(&mut buf).await.map_err(read_err)?;
            return self
                .store
                .put(&key, PutPayload::from(buf))
                .await
                .map(|_| ())
                .map_err(|e| self.err("upload", rel, e));
        }
        let upload = self.store.put_multipart(&key).await.map_err(|e| self.err("start uploading", rel, e))?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, self.opts.part_size);
        let mut buf = vec![0u8; self.opts.part_size.min(1 << 20)];
        let result: Result<(), EtlError> = async {
            loop {
                let n = f.read(&mut buf).await.map_err(read_err)?;
                if n == 0 {
                    break;
                }
                // At most 4 parts in flight: memory stays bounded by 4 x part size.
                w.wait_for_capacity(4).await.map_err(|e| self.err("upload a part of", rel, e))?;
                w.write(&buf[..n]);
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => w.finish().await.map(|_| ()).map_err(|e| self.err("finish uploading", rel, e)),
            Err(e) => {
                let _ = w.abort().await;
                Err(e)
            }
        }
    }

    /// Download an object into a local file (streamed; the parent folder is created).
    /// `Ok(false)`: there is no such object.
    pub async fn download(&self, rel: &str, local: &Path) -> Result<bool, EtlError> {
        let write_err = |e: std::io::Error| {
            EtlError::cannot_write(format!("cannot write {} while downloading: {e}", local.display()))
        };
        if let Some(parent) = local.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(write_err)?;
        }
        let r = match self.store.get(&self.key(rel)).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(self.err("download", rel, e)),
        };
        let mut stream = r.into_stream();
        let mut f = tokio::fs::File::create(local).await.map_err(write_err)?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.err("download", rel, e))?;
            f.write_all(&chunk).await.map_err(write_err)?;
        }
        f.flush().await.map_err(write_err)?;
        Ok(true)
    }

    /// Server-side copy, replacing the target.
    pub async fn copy(&self, from: &str, to: &str) -> Result<(), EtlError> {
        self.store.copy(&self.key(from), &self.key(to)).await.map_err(|e| self.err("copy into", to, e))
    }

    /// Delete one object; a missing one is fine.
    pub async fn delete(&self, rel: &str) -> Result<(), EtlError> {
        match self.store.delete(&self.key(rel)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err("delete", rel, e)),
        }
    }

    /// Every object under a relative prefix (a folder: `…/` is implied), as (relative key,
    /// size), sorted.
    pub async fn list(&self, rel_prefix: &str) -> Result<Vec<(String, u64)>, EtlError> {
        let prefix = self.key(rel_prefix);
        let listed: Vec<object_store::ObjectMeta> =
            self.store.list(Some(&prefix)).try_collect().await.map_err(|e| self.err("list", rel_prefix, e))?;
        let mut out: Vec<(String, u64)> = listed.iter().map(|m| (self.rel_of(&m.location), m.size)).collect();
        out.sort();
        Ok(out)
    }

    /// Delete every object under a relative prefix.
    pub async fn delete_prefix(&self, rel_prefix: &str) -> Result<usize, EtlError> {
        let keys = self.list(rel_prefix).await?;
        let n = keys.len();
        futures::stream::iter(keys)
            .map(|(rel, _)| async move { self.delete(&rel).await })
            .buffer_unordered(8)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(n)
    }
}

/// The first line of a store error without its request details (which may be long).
fn short(e: &object_store::Error) -> String {
    let s = e.to_string();
    let s = s.lines().next().unwrap_or_default().to_string();
    if s.len() > 300 {
        format!("{}…", &s[..s.char_indices().take_while(|(i, _)| *i < 300).last().map_or(0, |(i, _)| i)])
    } else {
        s
    }
}

/// What a store error says about the request, when `object_store` only passed it on as
/// text (list requests and multipart steps report HTTP failures as `Generic`).
#[derive(Debug, PartialEq, Eq)]
enum Said {
    NotFound,
    Denied,
    Other,
}

fn said(text: &str) -> Said {
    let status = text.split("status code: ").nth(1).and_then(|r| r.get(..3)).and_then(|c| c.parse::<u16>().ok());
    let code = |names: &[&str]| names.iter().any(|n| text.contains(&format!("<Code>{n}</Code>")) || text.contains(n));
    if status == Some(404) || code(&["NoSuchBucket", "ContainerNotFound", "BucketNotFound"]) {
        Said::NotFound
    } else if matches!(status, Some(401 | 403))
        || code(&["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AuthorizationFailure"])
    {
        Said::Denied
    } else {
        Said::Other
    }
}

/// One store error as an exit code and a message that says what to do.
pub fn store_error(what: &str, url: &str, e: object_store::Error) -> EtlError {
    use object_store::Error as E;
    let detail = short(&e);
    let generic_said = match &e {
        E::Generic { .. } => said(&e.to_string()),
        _ => Said::Other,
    };
    match e {
        _ if generic_said == Said::NotFound => EtlError::new(
            FailureKind::CannotWrite,
            format!("cannot {what} {url}: not found ({detail}). Check that the bucket or container exists and the URL is right"),
        ),
        _ if generic_said == Said::Denied => EtlError::new(
            FailureKind::CannotWrite,
            format!(
                "cannot {what} {url}: access denied ({detail}). Check the store credentials in the environment (AWS_*, GOOGLE_*, AZURE_* or the instance's role) and that they may read, write, list and delete under this prefix"
            ),
        ),
        E::NotFound { .. } => EtlError::new(
            FailureKind::CannotWrite,
            format!("cannot {what} {url}: not found ({detail}). Check that the bucket or container exists and the URL is right"),
        ),
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => EtlError::new(
            FailureKind::CannotWrite,
            format!(
                "cannot {what} {url}: access denied ({detail}). Check the store credentials in the environment (AWS_*, GOOGLE_*, AZURE_* or the instance's role) and that they may read, write, list and delete under this prefix"
            ),
        ),
        E::Precondition { .. } | E::AlreadyExists { .. } => EtlError::new(
            FailureKind::Temporary,
            format!("cannot {what} {url}: another writer changed it at the same time ({detail}); retry later"),
        ),
        E::NotSupported { .. } | E::NotImplemented { .. } => EtlError::new(
            FailureKind::CannotWrite,
            format!("cannot {what} {url}: the store does not support it ({detail}); the commit protocol needs conditional puts (If-None-Match)"),
        ),
        _ => EtlError::new(
            FailureKind::Unavailable,
            format!("cannot {what} {url} after retries: {detail}. The object store is unreachable or failing; retry later"),
        ),
    }
}
