//! Incremental enrichment: decide, per listed person, whether the previous snapshot's
//! child rows can stand in for fresh API calls. Pure decision logic; reading the previous
//! snapshot is `load::previous`'s job.

use chrono::{DateTime, Utc};
use std::time::Duration;

/// Why a person was (or was not) fetched in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A full run: everyone is fetched.
    Full,
    /// Not in the previous snapshot (or no complete child data there).
    New,
    /// The list record changed since the previous snapshot.
    Changed,
    /// Unchanged, but the child data is older than the refresh window.
    Stale,
    /// Unchanged and fresh: the previous child rows are reused.
    Reused,
}

/// `previous`: the person's fingerprint and fetch time in the previous snapshot.
pub fn decide(
    previous: Option<(u128, DateTime<Utc>)>,
    fingerprint: &str,
    now: DateTime<Utc>,
    refresh_after: Duration,
) -> Origin {
    let Some((prev_fp, fetched_at)) = previous else { return Origin::New };
    if u128::from_str_radix(fingerprint, 16).ok() != Some(prev_fp) {
        return Origin::Changed;
    }
    // A fetch time in the future (a clock that was wrong, or a tampered snapshot) proves
    // nothing about freshness: treating it as age zero would reuse the data forever.
    let age = now.signed_duration_since(fetched_at).to_std();
    if age.is_err() || age.is_ok_and(|a| a >= refresh_after) {
        Origin::Stale
    } else {
        Origin::Reused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        let now = Utc::now();
        let day = Duration::from_secs(86_400);
        let fp = "000000000000000000000000000000ff";
        assert_eq!(decide(None, fp, now, day), Origin::New);
        assert_eq!(decide(Some((0xfe, now)), fp, now, day), Origin::Changed);
        assert_eq!(decide(Some((0xff, now - chrono::Duration::hours(1))), fp, now, day), Origin::Reused);
        assert_eq!(decide(Some((0xff, now - chrono::Duration::hours(25))), fp, now, day), Origin::Stale);
        assert_eq!(decide(Some((0xff, now)), fp, now, Duration::ZERO), Origin::Stale);
        // A fetch time in the future counts as stale, however far ahead.
        assert_eq!(decide(Some((0xff, now + chrono::Duration::seconds(1))), fp, now, day), Origin::Stale);
        let far = DateTime::<Utc>::MAX_UTC;
        assert_eq!(decide(Some((0xff, far)), fp, now, Duration::MAX), Origin::Stale);
    }
}
