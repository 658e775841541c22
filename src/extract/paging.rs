//! Paging the personnel and controls lists: offset pages sized by what the server really
//! uses, fetched concurrently, deduplicated by id (the first occurrence in list order wins),
//! with drift detection.
//!
//! The server is not trusted to page correctly: the offset dialects' walk and its guards
//! (`drata::walk`: echoed `limit`, missing or wrong `total`, a server ignoring `page`) are
//! shared with the per-person lists; cursor pages are guarded by `walk::CursorGuard`.
//! Pages come only through the `Api` interface, by paging style (`Api::paging`): nothing
//! here imports a dialect module or parses wire JSON (the paths below only name the list in
//! errors).
//!
//! The listed people are spilled to a JSON-lines file in the staging area instead of being
//! held in memory; only a 128-bit hash per id is kept (for dedupe and for comparing passes).
//! When `total` moves during a pass, or the unique count does not match it, the list is read
//! again until two consecutive passes see the same set of ids (or `max_passes` is reached),
//! and the last pass's file is what gets enriched: the snapshot holds the set that exists at
//! the end, not a mix of before and after.
//! While `total` stays put but passes disagree (an unstable sort repeats and skips people
//! across pages), the passes are joined instead, until their union reaches `total`; a list
//! that never does is 65, never a snapshot that is known to miss people.

use crate::drata::dialect::{Api, Paging};
use crate::drata::walk::{walk_offset, CursorGuard, Step, Walk, WalkOptions};
use crate::error::{EtlError, FailureKind};
use crate::record::{Control, Person};
use crate::stats::ListingStats;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy)]
pub struct ListOptions {
    pub page_size: u64,
    pub max_passes: u32,
    pub concurrency: usize,
}

impl ListOptions {
    fn walk(self) -> WalkOptions {
        WalkOptions { page_size: self.page_size, concurrency: self.concurrency, short_page_ends: false }
    }
}

/// The outcome of listing personnel.
#[derive(Debug)]
pub struct Listed {
    /// JSON lines, one `Person` each, unique ids, in list order.
    pub spill: PathBuf,
    pub stats: ListingStats,
    pub invalid_records: u64,
}

/// An order-independent fingerprint of a set of ids.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct SetFingerprint {
    count: u64,
    xor: u128,
    sum: u128,
}

impl SetFingerprint {
    fn add(&mut self, h: u128) {
        self.count += 1;
        self.xor ^= h;
        self.sum = self.sum.wrapping_add(h);
    }
}

#[derive(Debug)]
struct Pass {
    fingerprint: SetFingerprint,
    totals: Vec<u64>,
    duplicates: u64,
    invalid: u64,
    limit: u64,
}

impl Pass {
    /// One total throughout, and it matches what was read.
    fn consistent(&self) -> bool {
        match self.totals.as_slice() {
            [] => true,
            [t] => *t == self.fingerprint.count + self.invalid,
            _ => false,
        }
    }
}

fn spill_err(path: &Path, e: std::io::Error) -> EtlError {
    EtlError::cannot_write(format!("cannot write the listing spill file {}: {e}", path.display()))
}

async fn one_pass(api: &Api<'_>, opts: ListOptions, spill: &Path) -> Result<Pass, EtlError> {
    let file = std::fs::File::create(spill).map_err(|e| spill_err(spill, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut fingerprint = SetFingerprint::default();
    let mut sink = |h: u128, person: Person| -> Result<(), EtlError> {
        fingerprint.add(h);
        serde_json::to_writer(&mut out, &person).map_err(|e| spill_err(spill, e.into()))?;
        out.write_all(b"\n").map_err(|e| spill_err(spill, e))
    };
    let person_id: fn(&Person) -> &str = |p| p.id.as_str();

    let walk = if api.paging() == Paging::Cursor {
        // Cursor pages: sequential by nature; `totalCount` comes with the first page only.
        let path = "/public/v2/personnel";
        let mut walk = Walk::new(0);
        let mut guard = CursorGuard::default();
        let mut cursor: Option<String> = None;
        loop {
            let page = api.personnel_cursor_page(cursor.as_deref(), opts.page_size).await?;
            walk.limit = walk.limit.max(page.rows.items.len() as u64 + page.rows.invalid);
            let echoed = page.cursor.is_some() && page.cursor.as_deref() == cursor.as_deref();
            let next = guard.next(path, cursor.as_deref(), page.cursor)?;
            // A cursor page of nothing but people already listed: the server ignores `cursor`
            // (unless it also handed back the cursor it was sent: that ends the list).
            if walk.take(page.rows, person_id, &mut sink)? == Step::Stale && !echoed {
                return Err(EtlError::new(
                    FailureKind::DataInvalid,
                    format!(
                        "GET {path} answered a later cursor with only people already listed: the server ignores the \
                         `cursor` parameter, so the list cannot be read whole. Nothing was committed; check that \
                         --base-url points at the Drata API"
                    ),
                ));
            }
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        guard.ended_short(path, walk.seen_count() + walk.invalid, walk.totals.first().copied())?;
        // A cursor hides inserts and deletes behind it; a changed total at the end does not.
        if let Some(t) = api.personnel_total().await? {
            if !walk.totals.contains(&t) {
                walk.totals.push(t);
            }
        }
        walk
    } else {
        walk_offset("/public/personnel", opts.walk(), |p, l| api.personnel_page(p, l), person_id, &mut sink).await?
    };
    out.flush().map_err(|e| spill_err(spill, e))?;
    Ok(Pass { fingerprint, totals: walk.totals, duplicates: walk.duplicates, invalid: walk.invalid, limit: walk.limit })
}

/// The union of the passes read while `total` stayed put: an offset list whose order is
/// not stable (a sort on a field many people share) repeats some people across pages and
/// skips others, a different few on every pass, while `total` does not move. No pass is
/// whole, but together they are: each new person of a later pass is appended to the union's
/// spill (the first copy read wins, as within a pass).
struct Union {
    total: u64,
    ids: std::collections::HashSet<u128>,
    spill: PathBuf,
}

impl Union {
    /// Start from one pass's spill (its people become the union's).
    fn start(total: u64, pass_spill: &Path, spill: PathBuf) -> Result<Union, EtlError> {
        let mut ids = std::collections::HashSet::new();
        for p in read_spill(pass_spill)? {
            ids.insert(crate::record::id_key(&p?.id));
        }
        std::fs::copy(pass_spill, &spill).map_err(|e| spill_err(&spill, e))?;
        Ok(Union { total, ids, spill })
    }

    /// Append the people of `pass_spill` not yet in the union.
    fn add(&mut self, pass_spill: &Path) -> Result<(), EtlError> {
        let file = std::fs::OpenOptions::new().append(true).open(&self.spill).map_err(|e| spill_err(&self.spill, e))?;
        let mut out = BufWriter::new(file);
        for p in read_spill(pass_spill)? {
            let p = p?;
            if self.ids.insert(crate::record::id_key(&p.id)) {
                serde_json::to_writer(&mut out, &p).map_err(|e| spill_err(&self.spill, e.into()))?;
                out.write_all(b"\n").map_err(|e| spill_err(&self.spill, e))?;
            }
        }
        out.flush().map_err(|e| spill_err(&self.spill, e))
    }
}

/// List every person, re-listing while the list drifts, and joining passes while the order
/// is unstable. A list that still falls short of its unchanged `total` after `max_passes`
/// is 65: a snapshot known to miss people is never committed as a success.
pub async fn list_personnel(api: &Api<'_>, opts: ListOptions, dir: &Path) -> Result<Listed, EtlError> {
    let mut stats = ListingStats { passes: 0, drift: "none".into(), ..Default::default() };
    let mut previous: Option<(Pass, PathBuf)> = None;
    let mut union: Option<Union> = None;
    let max_passes = opts.max_passes.max(1);
    for n in 1..=max_passes {
        let spill = dir.join(format!("personnel-pass-{n}.jsonl"));
        let pass = one_pass(api, opts, &spill).await?;
        stats.passes = n;
        stats.page_limit = pass.limit;
        for t in &pass.totals {
            if !stats.totals_seen.contains(t) {
                stats.totals_seen.push(*t);
            }
        }
        let done = match &previous {
            None => pass.consistent(),
            Some((prev, _)) => prev.fingerprint == pass.fingerprint && pass.totals.len() <= 1,
        };
        if n > 1 {
            stats.drift = "resolved".into();
        }
        if let Some((_, old)) = previous.take() {
            std::fs::remove_file(old).ok();
        }
        if done {
            if let Some(u) = union.take() {
                std::fs::remove_file(u.spill).ok();
            }
            return Ok(finish(stats, pass, spill));
        }
        // One total, not reached: join this pass to the union of the passes that saw the
        // same total (a moved total starts the union afresh: the list itself changed).
        if let [t] = pass.totals.as_slice() {
            let t = *t;
            match union.as_mut() {
                Some(u) if u.total == t => u.add(&spill)?,
                _ => {
                    if let Some(u) = union.take() {
                        std::fs::remove_file(u.spill).ok();
                    }
                    union = Some(Union::start(t, &spill, dir.join("personnel-union.jsonl"))?);
                }
            }
            let u = union.as_ref().expect("set above");
            if u.ids.len() as u64 + pass.invalid >= t && n > 1 {
                tracing::warn!(
                    passes = n,
                    total = t,
                    "the personnel list's order is unstable (pages repeat and skip people while its total stays put); \
                     the snapshot holds the union of the passes"
                );
                std::fs::remove_file(&spill).ok();
                let u = union.take().expect("set above");
                let joined = Pass {
                    fingerprint: SetFingerprint { count: u.ids.len() as u64, ..SetFingerprint::default() },
                    totals: vec![t],
                    duplicates: pass.duplicates,
                    invalid: pass.invalid,
                    limit: pass.limit,
                };
                return Ok(finish(stats, joined, u.spill));
            }
        } else if let Some(u) = union.take() {
            std::fs::remove_file(u.spill).ok();
        }
        tracing::warn!(pass = n, totals = ?pass.totals, unique = pass.fingerprint.count, "personnel list changed while paging; listing again");
        previous = Some((pass, spill));
    }
    let (pass, spill) = previous.expect("at least one pass");
    // The total stayed put and the passes together still fall short of it: the server's
    // order is unstable and did not converge. Committing the last pass would pass a
    // snapshot known to miss people off as complete.
    if let Some(u) = union {
        let got = u.ids.len() as u64 + pass.invalid;
        std::fs::remove_file(&u.spill).ok();
        if got < u.total && pass.totals.len() <= 1 && pass.totals.first() == Some(&u.total) {
            return Err(EtlError::new(
                FailureKind::DataInvalid,
                format!(
                    "GET /public/personnel: the listing did not converge: {got} of {} people after {max_passes} passes; \
                     the server's order is unstable (pages repeat some people and skip others while the total stays \
                     put). Nothing was committed; retry later, or raise --max-list-passes (now {max_passes})",
                    u.total
                ),
            ));
        }
    }
    stats.drift = "unresolved".into();
    tracing::warn!(passes = max_passes, "personnel list kept changing; the snapshot holds the last pass");
    Ok(finish(stats, pass, spill))
}

fn finish(mut stats: ListingStats, pass: Pass, spill: PathBuf) -> Listed {
    // The snapshot holds this pass, so its duplicates are the ones reported.
    stats.duplicates_dropped = pass.duplicates;
    stats.unique = pass.fingerprint.count;
    stats.matches_total = pass.totals.last().is_none_or(|t| *t == pass.fingerprint.count + pass.invalid);
    Listed { spill, stats, invalid_records: pass.invalid }
}

/// List every control (a small list: held in memory), deduplicated by id, with every
/// owner the dialect can tell (v1 asks per control; v2 walks workspaces by cursor).
pub async fn list_controls(api: &Api<'_>, opts: ListOptions) -> Result<(Vec<Control>, u64), EtlError> {
    if api.paging() == Paging::Cursor {
        return api.cursor_controls(opts.page_size).await;
    }
    let (mut controls, invalid) = list_offset_controls(api, opts).await?;
    api.complete_owners(&mut controls).await?;
    Ok((controls, invalid))
}

async fn list_offset_controls(api: &Api<'_>, opts: ListOptions) -> Result<(Vec<Control>, u64), EtlError> {
    let mut out = Vec::new();
    let walk = walk_offset(
        "/public/controls",
        opts.walk(),
        |p, l| api.controls_page(p, l),
        |c| c.id.as_str(),
        |_, c| {
            out.push(c);
            Ok(())
        },
    )
    .await?;
    Ok((out, walk.invalid))
}

/// Read a spill file back, one person at a time.
pub fn read_spill(path: &Path) -> Result<impl Iterator<Item = Result<Person, EtlError>>, EtlError> {
    use std::io::BufRead;
    let f = std::fs::File::open(path).map_err(|e| spill_err(path, e))?;
    let path = path.to_path_buf();
    Ok(std::io::BufReader::with_capacity(1 << 20, f).lines().map(move |line| {
        let line = line.map_err(|e| spill_err(&path, e))?;
        serde_json::from_str(&line).map_err(|e| {
            EtlError::new(FailureKind::CannotWrite, format!("listing spill file {} is corrupt: {e}", path.display()))
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::id_key as id_hash;

    #[test]
    fn fingerprint_is_order_independent() {
        let mut a = SetFingerprint::default();
        let mut b = SetFingerprint::default();
        for id in ["x", "y", "z"] {
            a.add(id_hash(id));
        }
        for id in ["z", "x", "y"] {
            b.add(id_hash(id));
        }
        assert_eq!(a, b);
        b.add(id_hash("w"));
        assert_ne!(a, b);
    }
}
