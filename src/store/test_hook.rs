//! Test-only pauses inside the commit, so crash and fencing tests can stop a run exactly
//! where it matters instead of killing it at random times.
//!
//! `DRATA_ETL_TEST_PAUSE_BEFORE_INTENT_MS` (object stores: after the upload, before the
//! lease is confirmed and the commit intent written) and
//! `DRATA_ETL_TEST_PAUSE_AFTER_INTENT_MS` (after the intent, before the manifest; on a
//! local root and on a store) make the run sleep that long there. They are read only in
//! debug builds: a release build ignores them, so they never affect a real run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Where a pause may be asked for.
#[derive(Debug, Clone, Copy)]
pub enum Point {
    BeforeIntent,
    AfterIntent,
}

/// Set once a run writes to an object store: its local work folder's commit is then not
/// the output's, and the pauses apply to the store's commit only.
static OUTPUT_IS_A_STORE: AtomicBool = AtomicBool::new(false);

pub fn output_is_a_store() {
    OUTPUT_IS_A_STORE.store(true, Ordering::SeqCst);
}

fn asked(point: Point, in_store: bool) -> Option<Duration> {
    if !cfg!(debug_assertions) || OUTPUT_IS_A_STORE.load(Ordering::SeqCst) != in_store {
        return None;
    }
    let var = match point {
        Point::BeforeIntent => "DRATA_ETL_TEST_PAUSE_BEFORE_INTENT_MS",
        Point::AfterIntent => "DRATA_ETL_TEST_PAUSE_AFTER_INTENT_MS",
    };
    let ms: u64 = std::env::var(var).ok()?.trim().parse().ok()?;
    tracing::warn!(?point, ms, "test hook: pausing the commit");
    Some(Duration::from_millis(ms))
}

/// In the store's commit (async).
pub async fn pause(point: Point, in_store: bool) {
    if let Some(d) = asked(point, in_store) {
        tokio::time::sleep(d).await;
    }
}

/// In the local commit (synchronous; a local root has no lease to keep alive meanwhile).
pub fn pause_blocking(point: Point) {
    if let Some(d) = asked(point, false) {
        std::thread::sleep(d);
    }
}
