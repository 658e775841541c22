//! The per-scope lock on an object store: `_locks/<scope>.lock`, created with a
//! conditional put (so exactly one of two runs gets it) and held as a lease.
//!
//! A store has no process to tie a lock to, so the lock object records who holds it and for
//! how long (`lease_ms`). The holder renews it every third of `--lock-lease`; a run killed
//! without releasing it blocks the scope for at most one lease, after which the next run
//! (or prune) takes it over. Expiry is judged by the store's clock only: the lock object's
//! last-modified time plus the lease, against the last-modified time the store gives a probe
//! written just then. Two machines' clocks are never compared (`expires_at` in the body is
//! for people reading it).
//!
//! Takeover, renewal and `confirm` are compare-and-swap puts on the version this run last
//! wrote (`If-Match`), so two runs taking over at once cannot both win, and a stalled holder
//! can neither overwrite its successor's lock nor believe it still holds it. The commit
//! calls `confirm` right before its point of no return and before each destructive step;
//! a confirm that succeeds has just renewed the lease, so no one can take over for a whole
//! lease. One renewal attempt is bounded by a sixth of the lease (the store client's own
//! retries would otherwise outlast it); a holder that cannot renew before its lease could
//! lapse marks the lock lost, and the commit refuses to go on (exit 75).

use super::remote::{Created, Remote};
use crate::error::{EtlError, FailureKind};
use chrono::{DateTime, SecondsFormat, Utc};
use object_store::UpdateVersion;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// A lease read from someone else's lock is capped at this, so a hostile or broken lock
/// object cannot block a scope for ever.
const MAX_LEASE: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LockBody {
    run_id: String,
    host: String,
    pid: u32,
    acquired_at: String,
    /// The writer's clock: informational only.
    expires_at: String,
    /// The lease the holder renews within; absent in locks of older versions.
    #[serde(default)]
    lease_ms: Option<u64>,
}

/// What this run knows about its lock, shared by the renewal task and `confirm`.
struct State {
    /// The version this run last wrote (`None`: the store gives no version tags).
    version: Option<UpdateVersion>,
    /// When the last successful write was sent: the store's lease runs from after that.
    renewed: Instant,
    /// Why the lock is no longer this run's, once it is not.
    lost: Option<String>,
}

/// A held lease; dropped, it stops renewing (call `release` to delete it at once).
pub struct LeaseLock {
    remote: Remote,
    rel: String,
    run_id: String,
    acquired: DateTime<Utc>,
    state: Arc<Mutex<State>>,
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
        lease_ms: Some(lease.as_millis().min(u128::from(u64::MAX)) as u64),
    };
    serde_json::to_vec_pretty(&b).expect("serialisable")
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// How long one renewal (or confirm) may take before the lock counts as lost.
fn attempt_bound(lease: Duration) -> Duration {
    lease / 6
}

/// Whether a lock last written at `written` (store time) with `lease` has lapsed at `now`
/// (store time). Stores that report whole seconds (S3) may each have cut up to a second:
/// then a second more must pass.
fn lapsed(written: DateTime<Utc>, now: DateTime<Utc>, lease: Duration) -> bool {
    let coarse = written.timestamp_subsec_nanos() == 0 || now.timestamp_subsec_nanos() == 0;
    let slack = if coarse { Duration::from_secs(1) } else { Duration::ZERO };
    let age = (now - written).to_std().unwrap_or_default();
    age >= lease + slack
}

/// The outcome of one bounded compare-and-swap renewal.
enum Renewal {
    Renewed(Option<UpdateVersion>),
    Lost(String),
    Failed(String),
}

async fn renew_once(
    r: &Remote,
    rel: &str,
    run_id: &str,
    acquired: DateTime<Utc>,
    version: &Option<UpdateVersion>,
) -> Renewal {
    let lease = r.opts.lock_lease;
    let bound = attempt_bound(lease);
    let attempt = async {
        match version {
            // Renew only the version this run wrote: a successor's lock is never overwritten.
            Some(v) => match r.replace(rel, body(run_id, acquired, lease), v).await? {
                Some(v) => Ok(Renewal::Renewed(Some(v))),
                None => Ok(Renewal::Lost("another run replaced or removed it".into())),
            },
            // No version tags: the best this store allows is to check the holder, then write.
            None => {
                let ours = r
                    .get(rel)
                    .await?
                    .and_then(|b| serde_json::from_slice::<LockBody>(&b).ok())
                    .is_some_and(|b| b.run_id == run_id);
                if !ours {
                    return Ok(Renewal::Lost("another run replaced or removed it".into()));
                }
                r.put(rel, body(run_id, acquired, lease)).await.map(|()| Renewal::Renewed(None))
            }
        }
    };
    match tokio::time::timeout(bound, attempt).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Renewal::Failed(e.message),
        Err(_) => Renewal::Failed(format!("the store did not answer within {} ms", bound.as_millis())),
    }
}

impl LeaseLock {
    /// Take the lock of `scope`, taking over an expired one. Exit 75 when a live run holds it.
    pub async fn acquire(remote: &Remote, scope: &str, run_id: &str) -> Result<LeaseLock, EtlError> {
        let rel = format!("{}/{scope}.lock", crate::load::commit::LOCKS_DIR);
        let lease = remote.opts.lock_lease;
        let acquired = Utc::now();
        for _ in 0..3 {
            let sent = Instant::now();
            if let (Created::Yes, version) = remote.create_versioned(&rel, body(run_id, acquired, lease)).await? {
                return Ok(Self::held(remote, rel, run_id, acquired, version, sent));
            }
            let Some(found) = remote.get_versioned(&rel).await? else { continue }; // released meanwhile
            let holder: Option<LockBody> = serde_json::from_slice(&found.bytes).ok();
            let their_lease =
                holder.as_ref().and_then(|h| h.lease_ms).map(Duration::from_millis).unwrap_or(lease).min(MAX_LEASE);
            let probe = format!("{}/.clock-{scope}-{run_id}", crate::load::commit::LOCKS_DIR);
            let now = remote.store_now(&probe).await?;
            if !lapsed(found.last_modified, now, their_lease) {
                let until = found.last_modified + chrono::Duration::from_std(their_lease).unwrap_or_default();
                let (who, host, pid, since) = match &holder {
                    Some(h) => (h.run_id.as_str(), h.host.as_str(), h.pid.to_string(), h.acquired_at.as_str()),
                    None => ("(unreadable lock)", "?", "?".to_string(), "?"),
                };
                return Err(EtlError::new(
                    FailureKind::Temporary,
                    format!(
                        "another drata-etl run is writing to {} (lock {} held by run {who} on {host} pid {pid} since {since}, lease until {} by the store's clock); wait for it to finish or retry later",
                        remote.url(),
                        remote.url_of(&rel),
                        until.to_rfc3339_opts(SecondsFormat::Secs, true),
                    ),
                ));
            }
            // Replace exactly the expired version: of two runs taking over at once, one wins.
            let sent = Instant::now();
            if let Some(version) = remote.replace(&rel, body(run_id, acquired, lease), &found.version).await? {
                tracing::warn!(lock = %remote.url_of(&rel), "took over an expired lock (a run was killed or lost its store connection)");
                return Ok(Self::held(remote, rel, run_id, acquired, Some(version), sent));
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
        sent: Instant,
    ) -> LeaseLock {
        let state = Arc::new(Mutex::new(State { version, renewed: sent, lost: None }));
        let (r, key, id, shared) = (remote.clone(), rel.clone(), run_id.to_string(), state.clone());
        let renew = tokio::spawn(async move {
            let lease = r.opts.lock_lease;
            let bound = attempt_bound(lease);
            let mut wait = lease / 3;
            loop {
                tokio::time::sleep(wait).await;
                let mut s = shared.lock().await;
                if s.lost.is_some() {
                    return;
                }
                let sent = Instant::now();
                match renew_once(&r, &key, &id, acquired, &s.version).await {
                    Renewal::Renewed(v) => {
                        s.version = v;
                        s.renewed = sent;
                        wait = lease / 3;
                        continue;
                    }
                    Renewal::Failed(why) if s.renewed.elapsed() + bound <= lease - bound => {
                        // Time for another bounded attempt before the lease could lapse.
                        tracing::warn!(reason = %why, "could not renew the output lock; trying again");
                        wait = (lease / 20).min(Duration::from_secs(1));
                    }
                    Renewal::Failed(why) | Renewal::Lost(why) => {
                        tracing::error!(reason = %why, "cannot renew the output lock; this run will not commit");
                        s.lost = Some(why);
                        return;
                    }
                }
            }
        });
        LeaseLock { remote: remote.clone(), rel, run_id: run_id.to_string(), acquired, state, renew }
    }

    /// Prove the lease is still this run's and renew it, with a compare-and-swap on the
    /// version this run last wrote. Called right before the commit intent and each
    /// destructive step. `consequence` says what refusing means at this point.
    pub async fn confirm(&self, consequence: &str) -> Result<(), EtlError> {
        let mut s = self.state.lock().await;
        if s.lost.is_none() {
            let sent = Instant::now();
            match renew_once(&self.remote, &self.rel, &self.run_id, self.acquired, &s.version).await {
                Renewal::Renewed(v) => {
                    s.version = v;
                    s.renewed = sent;
                    return Ok(());
                }
                Renewal::Lost(why) | Renewal::Failed(why) => s.lost = Some(why),
            }
        }
        Err(self.lost_error(s.lost.as_deref().unwrap_or_default(), consequence))
    }

    /// Between the many small steps of a commit: free while the lease was renewed recently,
    /// a `confirm` once half of it has passed (e.g. the process was stopped, or the renewal
    /// task is waiting for the store), an error once the lock is lost.
    pub async fn keep(&self, consequence: &str) -> Result<(), EtlError> {
        {
            let s = self.state.lock().await;
            if let Some(why) = &s.lost {
                return Err(self.lost_error(why, consequence));
            }
            if s.renewed.elapsed() < self.remote.opts.lock_lease / 2 {
                return Ok(());
            }
        }
        self.confirm(consequence).await
    }

    fn lost_error(&self, why: &str, consequence: &str) -> EtlError {
        EtlError::new(
            FailureKind::Temporary,
            format!(
                "this run lost its lock {} ({why}; another run or prune may have taken over the scope); {consequence}",
                self.remote.url_of(&self.rel)
            ),
        )
    }

    /// Stop renewing and delete the lock object (only if it is still the version this run
    /// wrote).
    pub async fn release(self) {
        self.renew.abort();
        let s = self.state.lock().await;
        let still_ours = s.lost.is_none()
            && match self.remote.get_versioned(&self.rel).await {
                Ok(Some(found)) => match &s.version {
                    Some(v) => found.version.e_tag == v.e_tag && found.version.version == v.version,
                    None => serde_json::from_slice::<LockBody>(&found.bytes).is_ok_and(|b| b.run_id == self.run_id),
                },
                _ => false,
            };
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
