//! The paging guards every listing goes through, whichever dialect serves it and whoever
//! pages it (the dialects' own per-person and per-control lists, and `extract::paging`'s
//! personnel and controls lists).
//!
//! Offset lists (`page`/`limit`, optionally `total`: the guide and v1) are read by
//! `walk_offset`, without trusting the server to page correctly: the page size comes from
//! what page 1 held when the echoed `limit` disagrees; a `total` that is missing or too low
//! does not stop reading while full pages keep bringing new ids, one that is too high does
//! not make it page forever, an empty page in the middle does not hide the pages after it,
//! and a server that ignores `page` (every page is page 1) fails with 65 instead of looping
//! or passing page 1 off as the whole list. Cursor lists (v2) are guarded by `CursorGuard`:
//! an earlier page's data under a new cursor, or a cursor from further back, is 65; the
//! cursor just sent handed back (some endpoints echo it on their last page) ends the list,
//! which is then judged complete by its `totalCount` (`CursorGuard::ended_short`).
//!
//! Knows pages and ids, not requests, paths of one dialect or record fields.

use super::wire::Page;
use crate::error::{EtlError, FailureKind};
use crate::record::id_key as id_hash;
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use std::collections::HashSet;

/// How one walk pages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WalkOptions {
    /// The `limit` asked for.
    pub(crate) page_size: u64,
    /// Pages fetched at once where `total` accounts for them.
    pub(crate) concurrency: usize,
    /// Without a `total`, a short page ends the list (rather than reading on until a page
    /// adds nothing). For per-person lists, where the extra request per person would cost
    /// more than the rare server that caps `limit` silently.
    pub(crate) short_page_ends: bool,
}

pub(crate) fn page_count(total: u64, limit: u64) -> u64 {
    total.div_ceil(limit.max(1))
}

/// The page size to compute page numbers with. When the list goes on past page 1 (its
/// `total` is larger than what page 1 held), page 1 was a full page, so what it held *is*
/// the server's page size, whatever it echoed: this covers servers that cap the page
/// silently, echo the asked limit while paging by their own size, or send more than asked.
/// Otherwise the echoed limit, else the one asked for. Asking later pages with a smaller
/// limit than the server's real one is harmless (pages stay contiguous), asking with a
/// larger one that the server ignores skips records: hence page 1's evidence first.
pub(crate) fn effective_limit<T>(first: &Page<T>, asked: u64) -> u64 {
    let held = first.items.len() as u64 + first.invalid;
    let echoed = first.limit.filter(|l| *l > 0);
    if held > 0 && first.total.is_some_and(|t| t > held) {
        if echoed.is_some_and(|l| l != held) {
            tracing::warn!(
                echoed = echoed,
                held,
                "page 1 held a different number of records than the limit the server echoed; paging by what it held"
            );
        }
        return held;
    }
    echoed.unwrap_or(asked)
}

/// What one page added to a walk through a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// At least one id not seen before in this walk (or only records without an id).
    Fresh { len: u64 },
    /// No records at all.
    Empty,
    /// Records, every one already seen: the list did not advance.
    Stale,
}

/// One walk through a list: the ids seen (dedupe: the *first* occurrence of an id in list
/// order is kept, later ones are counted and dropped, so which copy wins is deterministic),
/// the totals reported, and page 1's ids, to recognise a server that ignores `page`.
pub(crate) struct Walk {
    seen: HashSet<u128>,
    pub(crate) totals: Vec<u64>,
    pub(crate) duplicates: u64,
    pub(crate) invalid: u64,
    pub(crate) limit: u64,
    first_ids: Vec<u128>,
    first_full: bool,
    last_ids: Vec<u128>,
}

impl Walk {
    pub(crate) fn new(limit: u64) -> Self {
        Walk {
            seen: HashSet::new(),
            totals: Vec::new(),
            duplicates: 0,
            invalid: 0,
            limit,
            first_ids: Vec::new(),
            first_full: false,
            last_ids: Vec::new(),
        }
    }

    /// Take one page: note its total, pass each record whose id is new to `sink`.
    pub(crate) fn take<T>(
        &mut self,
        page: Page<T>,
        id_of: fn(&T) -> &str,
        sink: &mut impl FnMut(u128, T) -> Result<(), EtlError>,
    ) -> Result<Step, EtlError> {
        if let Some(t) = page.total {
            if !self.totals.contains(&t) {
                self.totals.push(t);
            }
        }
        self.invalid += page.invalid;
        let len = page.items.len() as u64 + page.invalid;
        let only_invalid = page.items.is_empty() && page.invalid > 0;
        self.last_ids = page.items.iter().map(|t| id_hash(id_of(t))).collect();
        let mut fresh = 0;
        for (h, item) in self.last_ids.iter().copied().zip(page.items) {
            if !self.seen.insert(h) {
                self.duplicates += 1;
                continue;
            }
            fresh += 1;
            sink(h, item)?;
        }
        Ok(match len {
            0 => Step::Empty,
            _ if fresh > 0 || only_invalid => Step::Fresh { len },
            _ => Step::Stale,
        })
    }

    /// How many distinct ids this walk has taken.
    pub(crate) fn seen_count(&self) -> u64 {
        self.seen.len() as u64
    }

    /// Everything the latest `total` promises has been read.
    fn complete(&self) -> bool {
        self.totals.last().is_some_and(|t| self.seen.len() as u64 + self.invalid >= *t)
    }

    /// Page `number` (2 or later) repeated page 1 exactly while the list is not complete:
    /// the server ignores `page`, and paging on would only read page 1 again. (A repeat
    /// when everything is read, or of a short page 1, is a server that answers an
    /// out-of-range page with its last page: the end of the list, not an error.)
    fn check_not_page_one(&self, path: &str, number: u64) -> Result<(), EtlError> {
        let repeat = number >= 2 && !self.last_ids.is_empty() && self.last_ids == self.first_ids;
        if !repeat || !self.first_full || self.complete() {
            return Ok(());
        }
        let total = self.totals.last().map(|t| format!(" of the {t} its total reports")).unwrap_or_default();
        Err(EtlError::new(
            FailureKind::DataInvalid,
            format!(
                "GET {path}?page={number} returned exactly the records of page 1: the server ignores the `page` \
                 parameter, so the list cannot be read past its first page ({} records seen{total}). Nothing was \
                 committed; check that --base-url points at the Drata API",
                self.seen.len()
            ),
        ))
    }
}

/// The most pages one walk reads one at a time past what `total` accounts for, and the
/// most cursors of one cursor listing (a guard against a server that invents records
/// forever; no real workspace comes near it).
const MAX_PAGES: u64 = 1_000_000;

/// Walk an offset-paged list (guide and v1 dialects) and hand every record with a new id
/// to `sink`, in list order.
///
/// Page 1 decides the page size (`effective_limit`). The pages `total` accounts for are
/// fetched concurrently; two pages in a row that add nothing (empty, or only ids already
/// seen) end that part early, so an absurd `total` cannot make it page forever, while one
/// empty page in the middle (a server filtering after paging) does not hide the pages
/// after it. Past those pages, reading goes on one page at a time while the last page was
/// full and added ids (a `total` that is too low, or grew), or, when the server sends no
/// `total`, until a page adds nothing (or, with `short_page_ends`, until a short page). A
/// page that repeats page 1 fails the walk (65), and so does paging on past `MAX_PAGES`:
/// a list is read whole or not at all, never cut short in silence.
pub(crate) async fn walk_offset<T, F, Fut>(
    path: &str,
    opts: WalkOptions,
    fetch: F,
    id_of: fn(&T) -> &str,
    mut sink: impl FnMut(u128, T) -> Result<(), EtlError>,
) -> Result<Walk, EtlError>
where
    F: Fn(u64, u64) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, EtlError>>,
{
    let first = fetch(1, opts.page_size).await?;
    let limit = effective_limit(&first, opts.page_size);
    let mut walk = Walk::new(limit);
    walk.first_full = first.items.len() as u64 + first.invalid >= limit;
    let first_total = first.total;
    let mut last = walk.take(first, id_of, &mut sink)?;
    walk.first_ids = std::mem::take(&mut walk.last_ids);
    let mut number = 1;

    if let Some(total) = first_total {
        let fetch = &fetch;
        let mut stream = futures::stream::iter(2..=page_count(total, limit))
            .map(|p| async move { fetch(p, limit).await.map(|page| (p, page)) })
            .buffered(opts.concurrency.max(1));
        let mut idle = 0;
        while let Some((p, page)) = stream.try_next().await? {
            last = walk.take(page, id_of, &mut sink)?;
            walk.check_not_page_one(path, p)?;
            number = p;
            if matches!(last, Step::Fresh { .. }) {
                idle = 0;
            } else {
                idle += 1;
                if idle >= 2 {
                    break;
                }
            }
        }
    }
    let end = number + MAX_PAGES;
    loop {
        let more = match last {
            Step::Fresh { len } => len >= limit || (walk.totals.is_empty() && !opts.short_page_ends),
            Step::Empty | Step::Stale => false,
        };
        if !more {
            break;
        }
        if number >= end {
            return Err(EtlError::new(
                FailureKind::DataInvalid,
                format!("GET {path} kept answering new records for {MAX_PAGES} more pages; refusing to page on. Nothing was committed"),
            ));
        }
        number += 1;
        let page = fetch(number, limit).await?;
        last = walk.take(page, id_of, &mut sink)?;
        walk.check_not_page_one(path, number)?;
    }
    Ok(walk)
}

/// Tracks the cursors of one listing: a cursor the server already sent would loop forever,
/// and a page that repeats an earlier one under a new cursor (a server that ignores
/// `cursor` but keeps inventing new ones) would append the same records again and again.
#[derive(Debug, Default)]
pub struct CursorGuard {
    seen: HashSet<String>,
    pages: HashSet<u128>,
    /// The list ended because the server handed back the cursor it was sent.
    echoed: bool,
}

impl CursorGuard {
    /// Note one page's body before it is used: the same non-empty `data` as an earlier page
    /// of this listing is 65 (records are never appended twice, paging never loops).
    pub fn page(&mut self, path: &str, body: &Value) -> Result<(), EtlError> {
        let Some(data) = body.get("data").and_then(Value::as_array).filter(|d| !d.is_empty()) else {
            return Ok(());
        };
        let h = id_hash(&serde_json::to_string(data).unwrap_or_default());
        if !self.pages.insert(h) {
            return Err(EtlError::new(
                FailureKind::DataInvalid,
                format!(
                    "GET {path} answered a later cursor with exactly the records of an earlier page: the server \
                     ignores the `cursor` parameter, so the list cannot be read whole. Nothing was committed; \
                     check that --base-url points at the Drata API"
                ),
            ));
        }
        Ok(())
    }

    /// `Ok(Some(cursor))` to go on, `Ok(None)` at the end, `Err` on a repeated cursor.
    ///
    /// `sent` is the cursor this page was asked with. A next cursor equal to it is an echo
    /// (some endpoints hand back the cursor they were given on their last page): asking it
    /// again could only answer this page again, so the list ends here, and whether it is
    /// whole is judged by `totalCount` (`ended_short`), not refused. Any other cursor seen
    /// before would loop and is 65.
    pub fn next(&mut self, path: &str, sent: Option<&str>, cursor: Option<String>) -> Result<Option<String>, EtlError> {
        let Some(c) = cursor else { return Ok(None) };
        if sent == Some(c.as_str()) {
            self.echoed = true;
            return Ok(None);
        }
        if !self.seen.insert(c.clone()) || self.seen.len() as u64 > MAX_PAGES {
            return Err(EtlError::new(
                FailureKind::DataInvalid,
                format!(
                    "GET {path} returned a cursor it had already returned; paging would never end. The API is misbehaving; nothing was committed"
                ),
            ));
        }
        Ok(Some(c))
    }

    /// After a list that ended on an echoed cursor: fewer records read than the
    /// `totalCount` reported is 65 naming the endpoint (the echo cut the list short).
    pub fn ended_short(&self, path: &str, read: u64, total: Option<u64>) -> Result<(), EtlError> {
        match total {
            Some(t) if self.echoed && read < t => Err(EtlError::new(
                FailureKind::DataInvalid,
                format!(
                    "GET {path} handed back the cursor it was sent, which ends the list, after {read} of the {t} \
                     records its totalCount reports: the list cannot be read whole. Nothing was committed; retry \
                     later, and report it to Drata if it persists"
                ),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Person;

    #[test]
    fn pages_from_echoed_limit() {
        assert_eq!(page_count(0, 100), 0);
        assert_eq!(page_count(100, 100), 1);
        assert_eq!(page_count(101, 100), 2);
        assert_eq!(page_count(101, 50), 3);
        let page = |n: usize, total: Option<u64>, limit: Option<u64>| -> Page<Person> {
            Page { items: vec![Person::default(); n], invalid: 0, total, limit, page: Some(1) }
        };
        assert_eq!(effective_limit(&page(50, Some(120), Some(50)), 100), 50);
        assert_eq!(effective_limit(&page(40, Some(120), None), 100), 40);
        // Page 1 is full when more exists: what it held beats an echo that disagrees.
        assert_eq!(effective_limit(&page(40, Some(250), Some(100)), 100), 40);
        assert_eq!(effective_limit(&page(150, Some(250), Some(100)), 100), 150);
        // The whole list on page 1, or no total: the echo, else what was asked.
        assert_eq!(effective_limit(&page(7, Some(7), Some(100)), 100), 100);
        assert_eq!(effective_limit(&page(30, None, Some(30)), 100), 30);
        assert_eq!(effective_limit(&page(40, None, None), 100), 100);
    }

    fn people(ids: std::ops::Range<usize>, total: Option<u64>) -> Page<Person> {
        let items = ids.map(|i| Person { id: format!("p{i}"), ..Person::default() }).collect();
        Page { items, invalid: 0, total, limit: None, page: None }
    }

    #[test]
    fn walk_dedupes_first_wins_and_names_each_step() {
        let mut w = Walk::new(3);
        let mut kept = Vec::new();
        let mut sink = |_: u128, p: Person| {
            kept.push(p.id);
            Ok(())
        };
        let id: fn(&Person) -> &str = |p| p.id.as_str();
        assert_eq!(w.take(people(0..3, Some(6)), id, &mut sink).unwrap(), Step::Fresh { len: 3 });
        w.first_ids = std::mem::take(&mut w.last_ids);
        w.first_full = true;
        assert_eq!(w.take(people(2..5, Some(6)), id, &mut sink).unwrap(), Step::Fresh { len: 3 });
        assert_eq!(w.take(people(3..5, None), id, &mut sink).unwrap(), Step::Stale);
        assert!(w.check_not_page_one("/p", 3).is_ok(), "stale, but not page 1 again");
        assert_eq!(w.take(people(0..0, None), id, &mut sink).unwrap(), Step::Empty);
        assert_eq!(w.take(people(0..3, None), id, &mut sink).unwrap(), Step::Stale);
        let e = w.check_not_page_one("/p", 5).unwrap_err();
        assert_eq!(e.kind, FailureKind::DataInvalid);
        assert!(e.message.contains("ignores the `page`"), "{}", e.message);
        assert_eq!((w.seen.len(), w.duplicates, w.totals.clone()), (5, 6, vec![6]));
        // Page 1 again once everything is read: a server that clamps to its last page.
        w.take(people(5..6, None), id, &mut sink).unwrap();
        w.take(people(0..3, None), id, &mut sink).unwrap();
        assert!(w.check_not_page_one("/p", 7).is_ok());
        assert_eq!(kept, ["p0", "p1", "p2", "p3", "p4", "p5"], "each id once, first occurrence, in list order");
    }
}
