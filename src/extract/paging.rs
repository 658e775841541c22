//! Paging the personnel and controls lists: offset pages sized by the `limit` the server
//! echoes, fetched concurrently, deduplicated by id, with drift detection.
//!
//! The listed people are spilled to a JSON-lines file in the staging area instead of being
//! held in memory; only a 128-bit hash per id is kept (for dedupe and for comparing passes).
//! When `total` moves during a pass, or the unique count does not match it, the list is read
//! again until two consecutive passes see the same set of ids (or `max_passes` is reached),
//! and the last pass's file is what gets enriched: the snapshot holds the set that exists at
//! the end, not a mix of before and after.

use crate::drata::dialect::Api;
use crate::drata::guide::Page;
use crate::drata::v2::CursorGuard;
use crate::error::{EtlError, FailureKind};
use crate::record::{Control, Person};
use crate::stats::ListingStats;
use futures::{StreamExt, TryStreamExt};
use std::collections::HashSet;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy)]
pub struct ListOptions {
    pub page_size: u64,
    pub max_passes: u32,
    pub concurrency: usize,
}

/// The outcome of listing personnel.
#[derive(Debug)]
pub struct Listed {
    /// JSON lines, one `Person` each, unique ids, in list order.
    pub spill: PathBuf,
    pub stats: ListingStats,
    pub invalid_records: u64,
}

use crate::record::id_key as id_hash;

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

fn page_count(total: u64, limit: u64) -> u64 {
    total.div_ceil(limit.max(1))
}

/// The page size to compute page numbers with: the server's echoed limit; if it sent none,
/// what page 1 actually held when that is less than asked (and more exists).
fn effective_limit<T>(first: &Page<T>, asked: u64) -> u64 {
    let held = first.items.len() as u64 + first.invalid;
    match first.limit.filter(|l| *l > 0) {
        Some(l) => l,
        None if held > 0 && held < asked && first.total.is_some_and(|t| t > held) => held,
        None => asked,
    }
}

async fn one_pass(api: &Api<'_>, opts: ListOptions, spill: &Path) -> Result<Pass, EtlError> {
    let file = std::fs::File::create(spill).map_err(|e| spill_err(spill, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut seen: HashSet<u128> = HashSet::new();
    let mut pass =
        Pass { fingerprint: SetFingerprint::default(), totals: Vec::new(), duplicates: 0, invalid: 0, limit: 0 };

    let mut take =
        |page: Page<Person>, pass: &mut Pass, out: &mut BufWriter<std::fs::File>| -> Result<usize, EtlError> {
            if let Some(t) = page.total {
                if !pass.totals.contains(&t) {
                    pass.totals.push(t);
                }
            }
            pass.invalid += page.invalid;
            let n = page.items.len() + page.invalid as usize;
            for person in page.items {
                let h = id_hash(&person.id);
                if !seen.insert(h) {
                    pass.duplicates += 1;
                    continue;
                }
                pass.fingerprint.add(h);
                serde_json::to_writer(&mut *out, &person).map_err(|e| spill_err(spill, e.into()))?;
                out.write_all(b"\n").map_err(|e| spill_err(spill, e))?;
            }
            Ok(n)
        };

    if let Api::V2(_) = api {
        // Cursor pages: sequential by nature; `totalCount` comes with the first page only.
        let path = "/public/v2/personnel";
        let mut guard = CursorGuard::default();
        let mut cursor: Option<String> = None;
        loop {
            let page = api.v2_personnel_page(cursor.as_deref(), opts.page_size).await?;
            if let Some(t) = page.total {
                pass.totals.push(t);
            }
            pass.limit = pass.limit.max(page.items.len() as u64 + page.invalid);
            let next = guard.next(path, page.cursor.clone())?;
            let as_offset = Page { items: page.items, invalid: page.invalid, total: None, limit: None, page: None };
            take(as_offset, &mut pass, &mut out)?;
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        // A cursor hides inserts and deletes behind it; a changed total at the end does not.
        if let Some(t) = api.v2_personnel_total().await? {
            if !pass.totals.contains(&t) {
                pass.totals.push(t);
            }
        }
        out.flush().map_err(|e| spill_err(spill, e))?;
        return Ok(pass);
    }

    let first = api.personnel_page(1, opts.page_size).await?;
    let limit = effective_limit(&first, opts.page_size);
    pass.limit = limit;
    let first_total = first.total;
    let mut last_len = take(first, &mut pass, &mut out)?;
    let mut fetched_pages = 1;

    if let Some(total) = first_total {
        let pages = page_count(total, limit);
        let mut stream =
            futures::stream::iter(2..=pages).map(|p| api.personnel_page(p, limit)).buffered(opts.concurrency.max(1));
        while let Some(page) = stream.try_next().await? {
            last_len = take(page, &mut pass, &mut out)?;
            fetched_pages += 1;
            if last_len == 0 {
                // The list ended before `total` said it would (people deleted, or a
                // `total` that is simply wrong): stop instead of paging into nothing.
                break;
            }
        }
    }
    // Keep reading while the list says there is more than we paged (total grew, or the
    // server sent no total): stop at a short or empty page.
    loop {
        let latest_total = pass.totals.last().copied();
        let covered = fetched_pages * limit;
        let more = match latest_total {
            Some(t) => t > covered && last_len as u64 >= limit,
            None => last_len as u64 >= limit && last_len > 0,
        };
        if !more {
            break;
        }
        let page = api.personnel_page(fetched_pages + 1, limit).await?;
        fetched_pages += 1;
        last_len = take(page, &mut pass, &mut out)?;
        if fetched_pages > 10_000_000 {
            break;
        }
    }
    out.flush().map_err(|e| spill_err(spill, e))?;
    Ok(pass)
}

/// List every person, re-listing while the list drifts.
pub async fn list_personnel(api: &Api<'_>, opts: ListOptions, dir: &Path) -> Result<Listed, EtlError> {
    let mut stats = ListingStats { passes: 0, drift: "none".into(), ..Default::default() };
    let mut previous: Option<(Pass, PathBuf)> = None;
    let max_passes = opts.max_passes.max(1);
    for n in 1..=max_passes {
        let spill = dir.join(format!("personnel-pass-{n}.jsonl"));
        let pass = one_pass(api, opts, &spill).await?;
        stats.passes = n;
        stats.page_limit = pass.limit;
        stats.duplicates_dropped += pass.duplicates;
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
            return Ok(finish(stats, pass, spill));
        }
        tracing::warn!(pass = n, totals = ?pass.totals, unique = pass.fingerprint.count, "personnel list changed while paging; listing again");
        previous = Some((pass, spill));
    }
    let (pass, spill) = previous.expect("at least one pass");
    stats.drift = "unresolved".into();
    tracing::warn!(passes = max_passes, "personnel list kept changing; the snapshot holds the last pass");
    Ok(finish(stats, pass, spill))
}

fn finish(mut stats: ListingStats, pass: Pass, spill: PathBuf) -> Listed {
    stats.unique = pass.fingerprint.count;
    stats.matches_total = pass.totals.last().is_none_or(|t| *t == pass.fingerprint.count + pass.invalid);
    Listed { spill, stats, invalid_records: pass.invalid }
}

/// List every control (a small list: held in memory), deduplicated by id, with every
/// owner the dialect can tell (v1 asks per control; v2 walks workspaces by cursor).
pub async fn list_controls(api: &Api<'_>, opts: ListOptions) -> Result<(Vec<Control>, u64), EtlError> {
    if let Api::V2(v2) = api {
        return v2.controls(opts.page_size).await;
    }
    let (mut controls, invalid) = list_offset_controls(api, opts).await?;
    api.complete_owners(&mut controls).await?;
    Ok((controls, invalid))
}

async fn list_offset_controls(api: &Api<'_>, opts: ListOptions) -> Result<(Vec<Control>, u64), EtlError> {
    let first = api.controls_page(1, opts.page_size).await?;
    let limit = effective_limit(&first, opts.page_size);
    let mut pages = vec![];
    let total = first.total;
    let mut last_len = first.items.len() + first.invalid as usize;
    pages.push(first);
    if let Some(total) = total {
        let rest: Vec<_> = futures::stream::iter(2..=page_count(total, limit))
            .map(|p| api.controls_page(p, limit))
            .buffered(opts.concurrency.max(1))
            .try_collect()
            .await?;
        if let Some(last) = rest.last() {
            last_len = last.items.len() + last.invalid as usize;
        }
        pages.extend(rest);
    }
    while total.is_none() && last_len as u64 >= limit && last_len > 0 {
        let page = api.controls_page(pages.len() as u64 + 1, limit).await?;
        last_len = page.items.len() + page.invalid as usize;
        pages.push(page);
    }
    let mut seen = HashSet::new();
    let mut invalid = 0;
    let mut out = Vec::new();
    for page in pages {
        invalid += page.invalid;
        out.extend(page.items.into_iter().filter(|c| seen.insert(c.id.clone())));
    }
    Ok((out, invalid))
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

    #[test]
    fn pages_from_echoed_limit() {
        assert_eq!(page_count(0, 100), 0);
        assert_eq!(page_count(100, 100), 1);
        assert_eq!(page_count(101, 100), 2);
        assert_eq!(page_count(101, 50), 3);
        let p: Page<Person> =
            Page { items: vec![Person::default(); 50], invalid: 0, total: Some(120), limit: Some(50), page: Some(1) };
        assert_eq!(effective_limit(&p, 100), 50);
        let p: Page<Person> =
            Page { items: vec![Person::default(); 40], invalid: 0, total: Some(120), limit: None, page: None };
        assert_eq!(effective_limit(&p, 100), 40);
    }
}
