//! `--shared-pace-file`: one pace for every run on this machine that names the same file, so
//! runs sharing a source IP (and so one rate limit: Drata counts per IP) behave as one
//! client: one schedule of request slots, one adaptive rate, one pause, and what one run
//! learns from a 429 holds back the others at once. Without it each run probes the limit on
//! its own and together they overshoot it (BENCHMARKS.md, runs sharing one limiter).
//!
//! The file holds the pacer's whole state per API host (`host:port`), with times as Unix
//! microseconds (so processes can compare them); every pacer step runs under an exclusive
//! `flock` of the file: read, apply the same rules as a lone pacer, write back. The lock is
//! held for microseconds and never across a sleep.
//!
//! Trust nothing read back: a file that is not this format, a state with numbers out of
//! range or times far from now, or one not touched for `STALE` is ignored (a fresh start,
//! logged once), never a panic or a rate nobody measured. The file holds no secret; it is
//! created mode 600 so another user cannot steer the pace.

use super::refusals::{Refusals, MAX_DOUBLINGS};
use super::{State, MIN_RATE};
use fs2::FileExt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// A state nobody updated for this long says nothing about the server now.
const STALE: Duration = Duration::from_secs(600);
/// Times further than this from now are not believed.
const PLAUSIBLE: Duration = Duration::from_secs(24 * 3600);
/// The fastest pace believed from the file (requests/s).
const MAX_RATE: f64 = 1_000_000.0;
const FORMAT: u32 = 1;

/// The pacer state as the file keeps it (times in Unix microseconds).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Wire {
    updated: i64,
    next_slot: i64,
    paused_until: i64,
    rate: Option<f64>,
    slow_start: bool,
    rate_at_decrease: f64,
    admitted: Vec<i64>,
    first_request: Option<i64>,
    first_limited: Option<i64>,
    last_decrease: Option<i64>,
    last_grant: Option<i64>,
    penalty: f64,
    known_start: bool,
    // What refusals cost (`refusals`); absent from files of older versions.
    #[serde(default)]
    refusal_open: Option<i64>,
    #[serde(default)]
    refusal_last: f64,
    #[serde(default)]
    refusal_ceiling: f64,
    #[serde(default)]
    refusal_doublings: u32,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FileBody {
    format: u32,
    hosts: BTreeMap<String, Wire>,
}

/// One process's handle on the shared pace file.
#[derive(Debug)]
pub struct SharedPace {
    path: PathBuf,
    host: String,
    /// The same moment on both clocks: converts between `Instant`s and Unix time.
    anchor: (Instant, i64),
    warned: AtomicBool,
}

fn unix_micros_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

impl SharedPace {
    /// Open (or create, mode 600) the file for `host`. `Err` names the path and the cause.
    pub fn open(path: &Path, host: &str) -> std::io::Result<SharedPace> {
        let mut o = std::fs::OpenOptions::new();
        o.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        o.open(path)?;
        Ok(SharedPace {
            path: path.to_path_buf(),
            host: host.to_string(),
            anchor: (Instant::now(), unix_micros_now()),
            warned: AtomicBool::new(false),
        })
    }

    fn to_unix(&self, t: Instant) -> i64 {
        let (i0, u0) = self.anchor;
        match t.checked_duration_since(i0) {
            Some(d) => u0.saturating_add(d.as_micros() as i64),
            None => u0.saturating_sub(i0.duration_since(t).as_micros() as i64),
        }
    }

    fn to_instant(&self, u: i64) -> Instant {
        let (i0, u0) = self.anchor;
        let d = Duration::from_micros(u.abs_diff(u0));
        if u >= u0 {
            i0 + d
        } else {
            i0.checked_sub(d).unwrap_or(i0)
        }
    }

    fn warn(&self, why: &str) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(path = %self.path.display(), why, "shared pace file ignored: starting a fresh pace");
        }
    }

    /// Run `f` on the shared state of this host under the file's lock: `st` is replaced by
    /// what the file holds (unless it is absent, stale or implausible: then `st`, this
    /// process's own state, is kept), `f` applies the step, and the result is written back.
    /// An unreadable or unwritable file degrades to this process's own pacing (warned once).
    pub(super) fn step<T>(&self, st: &mut State, f: impl FnOnce(&mut State) -> T) -> T {
        let mut file = match std::fs::OpenOptions::new().read(true).write(true).open(&self.path) {
            Ok(file) => file,
            Err(e) => {
                self.warn(&format!("cannot open it: {e}"));
                return f(st);
            }
        };
        if let Err(e) = file.lock_exclusive() {
            self.warn(&format!("cannot lock it: {e}"));
            return f(st);
        }
        let mut body = self.read(&mut file);
        let now = unix_micros_now();
        if let Some(w) = body.hosts.get(&self.host) {
            match self.check(w, now) {
                Ok(()) => *st = self.state_of(w),
                Err(why) => {
                    if !why.is_empty() {
                        self.warn(why);
                    }
                }
            }
        }
        let out = f(st);
        // Drop other hosts' states nobody touched for long, so the file does not grow.
        body.hosts.retain(|_, w| now.saturating_sub(w.updated) < STALE.as_micros() as i64);
        body.hosts.insert(self.host.clone(), self.to_wire(st, now));
        body.format = FORMAT;
        if let Err(e) = write_body(&mut file, &body) {
            self.warn(&format!("cannot write it: {e}"));
        }
        let _ = FileExt::unlock(&file);
        out
    }

    fn read(&self, file: &mut File) -> FileBody {
        let mut text = String::new();
        if file.read_to_string(&mut text).is_err() {
            self.warn("it is not UTF-8 text");
            return FileBody::default();
        }
        if text.trim().is_empty() {
            return FileBody::default();
        }
        match serde_json::from_str::<FileBody>(&text) {
            Ok(b) if b.format == FORMAT => b,
            Ok(_) => {
                self.warn("it has another format version");
                FileBody::default()
            }
            Err(_) => {
                self.warn("it is not a pace file");
                FileBody::default()
            }
        }
    }

    /// `Err("")`: stale (silently a fresh start); `Err(why)`: implausible.
    fn check(&self, w: &Wire, now: i64) -> Result<(), &'static str> {
        let far = PLAUSIBLE.as_micros() as i64;
        let plausible = |t: i64| (now - far..=now + far).contains(&t);
        if !plausible(w.updated) {
            return Err("its update time is far from now");
        }
        if now - w.updated >= STALE.as_micros() as i64 {
            return Err("");
        }
        let times = [w.next_slot, w.paused_until].into_iter().chain(w.admitted.iter().copied()).chain(
            [w.first_request, w.first_limited, w.last_decrease, w.last_grant, w.refusal_open].into_iter().flatten(),
        );
        let rate_ok = |r: f64| r.is_finite() && (MIN_RATE..=MAX_RATE).contains(&r);
        if times.into_iter().any(|t| !plausible(t))
            || w.rate.is_some_and(|r| !rate_ok(r))
            || !(w.rate_at_decrease.is_finite() && (0.0..=MAX_RATE).contains(&w.rate_at_decrease))
            || !(w.penalty.is_finite() && (0.0..=PLAUSIBLE.as_secs_f64()).contains(&w.penalty))
            || !(w.refusal_last.is_finite() && (0.0..=PLAUSIBLE.as_secs_f64()).contains(&w.refusal_last))
            || !(w.refusal_ceiling.is_finite() && (0.0..=MAX_RATE).contains(&w.refusal_ceiling))
            || w.refusal_doublings > MAX_DOUBLINGS
            || w.admitted.len() > 1_000_000
        {
            return Err("it holds values out of range");
        }
        Ok(())
    }

    fn to_wire(&self, st: &State, now: i64) -> Wire {
        let u = |t: Instant| self.to_unix(t);
        Wire {
            updated: now,
            next_slot: u(st.next_slot),
            paused_until: u(st.paused_until),
            rate: st.rate,
            slow_start: st.slow_start,
            rate_at_decrease: st.rate_at_decrease,
            admitted: st.admitted.iter().map(|t| u(*t)).collect(),
            first_request: st.first_request.map(u),
            first_limited: st.first_limited.map(u),
            last_decrease: st.last_decrease.map(u),
            last_grant: st.last_grant.map(u),
            penalty: st.penalty,
            known_start: st.known_start,
            refusal_open: st.refusals.open.map(u),
            refusal_last: st.refusals.last,
            refusal_ceiling: st.refusals.ceiling,
            refusal_doublings: st.refusals.doublings,
        }
    }

    fn state_of(&self, w: &Wire) -> State {
        let i = |t: i64| self.to_instant(t);
        let mut admitted: Vec<i64> = w.admitted.clone();
        admitted.sort_unstable();
        State {
            next_slot: i(w.next_slot),
            paused_until: i(w.paused_until),
            rate: w.rate,
            slow_start: w.slow_start,
            rate_at_decrease: w.rate_at_decrease,
            admitted: admitted.into_iter().map(i).collect::<VecDeque<_>>(),
            first_request: w.first_request.map(i),
            first_limited: w.first_limited.map(i),
            last_decrease: w.last_decrease.map(i),
            last_grant: w.last_grant.map(i),
            penalty: w.penalty,
            known_start: w.known_start,
            refusals: Refusals {
                open: w.refusal_open.map(i),
                last: w.refusal_last,
                ceiling: w.refusal_ceiling,
                doublings: w.refusal_doublings,
                refused_until: None,
                held: false,
                costly_closed: None,
                burst: 0.0,
                bold: None,
                last_event: None,
                admitted_since: 0.0,
            },
        }
    }
}

fn write_body(file: &mut File, body: &FileBody) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(body).map_err(std::io::Error::other)?;
    file.seek(SeekFrom::Start(0))?;
    file.set_len(0)?;
    file.write_all(&bytes)?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::super::Pacer;
    use super::*;

    fn shared(path: &Path, host: &str) -> SharedPace {
        SharedPace::open(path, host).unwrap()
    }

    #[tokio::test]
    async fn two_pacers_on_one_file_keep_one_schedule() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pace.json");
        // A ceiling of 200/s for both together: 40 grants take at least 39 intervals. Each
        // on its own schedule, 20 grants each would take half that.
        let a = Pacer::new(Some(200.0), false).with_shared(shared(&f, "h:443"));
        let b = Pacer::new(Some(200.0), false).with_shared(shared(&f, "h:443"));
        let t0 = Instant::now();
        for _ in 0..20 {
            a.wait(None).await.unwrap();
            b.wait(None).await.unwrap();
        }
        assert!(t0.elapsed() >= Duration::from_millis(190), "{:?}", t0.elapsed());
    }

    #[tokio::test]
    async fn what_one_run_learns_from_a_429_paces_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pace.json");
        let a = Pacer::new(None, true).with_shared(shared(&f, "h:443"));
        let b = Pacer::new(None, true).with_shared(shared(&f, "h:443"));
        let other = Pacer::new(None, true).with_shared(shared(&f, "elsewhere:443"));
        assert_eq!(b.current_rate(), None, "unpaced until a 429");
        let sent = a.wait(None).await.unwrap();
        for _ in 0..20 {
            a.on_admitted(sent);
        }
        a.on_rate_limited(Duration::from_secs(1), sent, sent);
        let learned = a.current_rate().expect("paced after a 429");
        assert_eq!(b.current_rate(), Some(learned));
        // A long Retry-After pauses every run of the host, and only them.
        b.on_retry_after(Duration::from_secs(30));
        assert!(a.is_paused() && !other.is_paused());
        assert_eq!(other.current_rate(), None);
    }

    #[tokio::test]
    async fn a_foreign_corrupt_or_implausible_file_is_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pace.json");
        let now = unix_micros_now();
        let state = |updated: i64, rate: f64| {
            serde_json::json!({"format": 1, "hosts": {"h:443": {
                "updated": updated, "next_slot": now, "paused_until": now, "rate": rate, "slow_start": false,
                "rate_at_decrease": 1.0, "admitted": [], "first_request": null, "first_limited": null,
                "last_decrease": null, "last_grant": null, "penalty": 0.0, "known_start": false}}})
            .to_string()
        };
        let minute = 60_000_000;
        for (body, believed) in [
            ("not json at all".to_string(), false),
            (r#"{"format": 9, "hosts": {}}"#.to_string(), false),
            (state(now, -5.0), false),
            (state(now, 1e300), false),
            (state(now + 48 * 60 * minute, 3.0), false),
            (state(now - 11 * minute, 3.0), false),
            (state(now, 3.0), true),
        ] {
            std::fs::write(&f, &body).unwrap();
            let p = Pacer::new(None, true).with_shared(shared(&f, "h:443"));
            assert_eq!(p.current_rate(), believed.then_some(3.0), "{body}");
            p.wait(None).await.unwrap();
            // Whatever was there, the file now holds a valid state for the host.
            let back: FileBody = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
            assert!(back.hosts.contains_key("h:443"), "{body}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pace.json");
        shared(&f, "h:443");
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(SharedPace::open(&dir.path().join("missing/pace.json"), "h:443").is_err());
    }
}
