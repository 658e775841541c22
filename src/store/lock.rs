//! The per-scope lock on an object store: `_locks/<scope>.lock`, created with a
//! conditional put (so exactly one of two runs gets it) and held as a lease.
//!
//! A store has no process to tie a lock to, so the lock object records who holds it and
//! until when (`expires_at`). The holder renews it every third of `--lock-lease`; a run
//! killed without releasing it blocks the scope for at most one lease, after which the next
//! run (or prune) takes it over. Takeover and renewal are compare-and-swap puts on the
//! version last seen (`If-Match`), so two runs taking over at once cannot both win and a
//! stalled holder cannot overwrite its successor's lock. A holder that cannot renew stops
//! trusting its lock, and the commit refuses to start (exit 75) rather than race a successor.

use super::remote::{Created, Remote};
use crate::error::{EtlError, FailureKind};
use chrono::{DateTime, SecondsFormat, Utc};
use object_store::UpdateVersion;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LockBody {
    run_id: String,
    host: String,
    pid: u32,
    acquired_at: String,
    expires_at: String,
}

/// A held lease; dropped, it stops renewing (call `release` to delete it at once).
pub struct LeaseLock {
    remote: Remote,
    rel: String,
    run_id: String,
    lost: Arc<AtomicBool>,
    renew: tokio::task::JoinHandle<()>,
}

fn body(run_id: &str, acquired: DateTime<Utc>, lease: Duration) -> Vec<u8> {
    let b = LockBody {
        run_id: run_id.to_string(),
        host: hostname(),
        pid: std::process::id(),
        acquired_at: acquired.to_rfc3339_opts(SecondsFormat::Secs, true),
        expires_at: (Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default())
            .to_rfc3339_opts(SecondsFormat::Millis, true),
    };
    serde_json::to_vec_pretty(&b).expect("serialisable")
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

impl LeaseLock {
    /// Take the lock of `scope`, taking over an expired one. Exit 75 when a live run holds it.
    pub async fn acquire(remote: &Remote, scope: &str, run_id: &str) -> Result<LeaseLock, EtlError> {
        let rel = format!("{}/{scope}.lock", crate::load::commit::LOCKS_DIR);
        let lease = remote.opts.lock_lease;
        let acquired = Utc::now();
        for _ in 0..3 {
            if let (Created::Yes, version) = remote.create_versioned(&rel, body(run_id, acquired, lease)).await? {
                return Ok(Self::held(remote, rel, run_id, acquired, version));
            }
            let Some((bytes, seen)) = remote.get_versioned(&rel).await? else { continue }; // released meanwhile
            let holder: Option<LockBody> = serde_json::from_slice(&bytes).ok();
            let expires = holder
                .as_ref()
                .and_then(|h| DateTime::parse_from_rfc3339(&h.expires_at).ok())
                .map(|t| t.to_utc())
                .unwrap_or_default();
            if expires > Utc::now() {
                let h = holder.expect("a parsed lock has an expiry");
                return Err(EtlError::new(
                    FailureKind::Temporary,
                    format!(
                        "another drata-etl run is writing to {} (lock {} held by run {} on {} pid {} since {}, lease until {}); wait for it to finish or retry later",
                        remote.url(),
                        remote.url_of(&rel),
                        h.run_id,
                        h.host,
                        h.pid,
                        h.acquired_at,
                        h.expires_at
                    ),
                ));
            }
            // Replace exactly the expired version: of two runs taking over at once, one wins.
            if let Some(version) = remote.replace(&rel, body(run_id, acquired, lease), &seen).await? {
                tracing::warn!(lock = %remote.url_of(&rel), "took over an expired lock (a run was killed or lost its store connection)");
                return Ok(Self::held(remote, rel, run_id, acquired, Some(version)));
            }
        }
        Err(EtlError::new(
            FailureKind::Temporary,
            format!("could not take the lock {} (other runs keep taking it); retry later", remote.url_of(&rel)),
        ))
    }

    fn held(
        remote: &Remote,
        rel: String,
        run_id: &str,
        acquired: DateTime<Utc>,
        version: Option<UpdateVersion>,
    ) -> LeaseLock {
        let lost = Arc::new(AtomicBool::new(false));
        let (r, key, id, flag) = (remote.clone(), rel.clone(), run_id.to_string(), lost.clone());
        let renew = tokio::spawn(async move {
            let lease = r.opts.lock_lease;
            let every = lease / 3;
            let mut version = version;
            loop {
                tokio::time::sleep(every).await;
                // Renew only the version this run wrote: a successor's lock is never overwritten.
                let renewed = match &version {
                    Some(v) => r.replace(&key, body(&id, acquired, lease), v).await,
                    None => r.put(&key, body(&id, acquired, lease)).await.map(|()| None),
                };
                let why = match renewed {
                    Ok(Some(v)) => {
                        version = Some(v);
                        continue;
                    }
                    Ok(None) if version.is_none() => continue,
                    Ok(None) => "another run replaced it".to_string(),
                    Err(e) => e.message,
                };
                tracing::error!(reason = %why, "cannot renew the output lock; this run will not commit");
                flag.store(true, Ordering::SeqCst);
                return;
            }
        });
        LeaseLock { remote: remote.clone(), rel, run_id: run_id.to_string(), lost, renew }
    }

    /// Before the point of no return: the lease was renewed all along and is still ours.
    pub async fn confirm(&self) -> Result<(), EtlError> {
        let ours = !self.lost.load(Ordering::SeqCst)
            && self
                .remote
                .get(&self.rel)
                .await?
                .and_then(|b| serde_json::from_slice::<LockBody>(&b).ok())
                .is_some_and(|b| b.run_id == self.run_id);
        if ours {
            return Ok(());
        }
        Err(EtlError::new(
            FailureKind::Temporary,
            format!(
                "this run lost its lock {} (it could not renew the lease in time, and another run may have taken over); nothing was committed, retry later",
                self.remote.url_of(&self.rel)
            ),
        ))
    }

    /// Stop renewing and delete the lock object (only if it is still ours).
    pub async fn release(self) {
        self.renew.abort();
        let still_ours = matches!(
            self.remote.get(&self.rel).await,
            Ok(Some(b)) if serde_json::from_slice::<LockBody>(&b).is_ok_and(|b| b.run_id == self.run_id)
        );
        if still_ours {
            if let Err(e) = self.remote.delete(&self.rel).await {
                tracing::warn!(error = %e.message, "could not delete the output lock; it expires after its lease");
            }
        }
    }
}

impl Drop for LeaseLock {
    fn drop(&mut self) {
        self.renew.abort();
    }
}
