//! The simulator's list order and per-person overlay: which generated people exist, in
//! what order the list endpoint returns them, and which fields tests have overridden.
//!
//! Unmodified people are never stored: the list is `front ++ (0..base minus deleted) ++
//! back`, where `front` holds drift inserts, `back` holds `add_person` appends, and
//! deletions of generated people are a sorted vector. With no drift or mutations the
//! roster is a handful of empty collections whatever the workspace size.
//!
//! It knows indices and JSON overrides only; records come from `data::Generator`.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

#[derive(Debug, Default)]
pub(crate) struct Roster {
    /// Generated people `0..base` in list order, unless deleted.
    base: u64,
    /// The next index to hand out to a newly created person.
    next_index: u64,
    /// People inserted at the front of the list (list order).
    front: Vec<u64>,
    /// People appended at the end of the list (list order).
    back: Vec<u64>,
    /// Deleted indices below `base`, sorted ascending.
    deleted_base: Vec<u64>,
    /// Every deleted index.
    deleted: HashSet<u64>,
    /// List-level field overrides per index.
    overrides: HashMap<u64, Map<String, Value>>,
    /// How many drift events have happened.
    pub(crate) drift_events: usize,
}

impl Roster {
    pub(crate) fn new(base: u64) -> Self {
        Roster { base, next_index: base, ..Roster::default() }
    }

    pub(crate) fn total(&self) -> u64 {
        self.front.len() as u64 + self.base - self.deleted_base.len() as u64 + self.back.len() as u64
    }

    /// Whether `index` was created and is not deleted.
    pub(crate) fn exists(&self, index: u64) -> bool {
        index < self.next_index && !self.deleted.contains(&index)
    }

    pub(crate) fn overrides(&self, index: u64) -> Option<&Map<String, Value>> {
        self.overrides.get(&index)
    }

    /// The `k`-th (0-based) non-deleted generated index.
    fn nth_base(&self, k: u64) -> u64 {
        let mut i = k;
        for &d in &self.deleted_base {
            if d <= i {
                i += 1;
            } else {
                break;
            }
        }
        i
    }

    /// The index at list position `pos`, if any.
    pub(crate) fn at(&self, pos: u64) -> Option<u64> {
        self.page(pos, 1).first().copied()
    }

    /// Indices at list positions `offset..offset+limit`, with their overrides.
    pub(crate) fn page_with_overrides(&self, offset: u64, limit: u64) -> Vec<(u64, Option<Map<String, Value>>)> {
        self.page(offset, limit).into_iter().map(|i| (i, self.overrides.get(&i).cloned())).collect()
    }

    /// Indices at list positions `offset..offset+limit`.
    pub(crate) fn page(&self, offset: u64, limit: u64) -> Vec<u64> {
        let mut out = Vec::with_capacity(limit.min(1024) as usize);
        let mut pos = offset;
        let want = |out: &Vec<u64>| (out.len() as u64) < limit;

        let front = self.front.len() as u64;
        while pos < front && want(&out) {
            out.push(self.front[pos as usize]);
            pos += 1;
        }
        let live_base = self.base - self.deleted_base.len() as u64;
        if want(&out) && pos < front + live_base {
            let mut i = self.nth_base(pos - front);
            let mut d = self.deleted_base.partition_point(|&x| x < i);
            while want(&out) && i < self.base {
                if d < self.deleted_base.len() && self.deleted_base[d] == i {
                    d += 1;
                } else {
                    out.push(i);
                    pos += 1;
                }
                i += 1;
            }
        }
        let back_start = front + live_base;
        while want(&out) && pos >= back_start && pos - back_start < self.back.len() as u64 {
            out.push(self.back[(pos - back_start) as usize]);
            pos += 1;
        }
        out
    }

    /// Every live index in list order.
    #[cfg(test)]
    pub(crate) fn all(&self) -> Vec<u64> {
        self.page(0, self.total())
    }

    fn fresh_index(&mut self) -> u64 {
        let i = self.next_index;
        self.next_index += 1;
        i
    }

    /// Create `n` people at the front of the list (the newest first). Returns the indices.
    pub(crate) fn insert_front(&mut self, n: usize) -> Vec<u64> {
        let new: Vec<u64> = (0..n).map(|_| self.fresh_index()).collect();
        let mut front: Vec<u64> = new.iter().rev().copied().collect();
        front.extend_from_slice(&self.front);
        self.front = front;
        new
    }

    /// Create one person at the end of the list.
    pub(crate) fn push_back(&mut self) -> u64 {
        let i = self.fresh_index();
        self.back.push(i);
        i
    }

    pub(crate) fn delete(&mut self, index: u64) -> bool {
        if !self.exists(index) {
            return false;
        }
        self.deleted.insert(index);
        self.overrides.remove(&index);
        if index < self.base {
            let at = self.deleted_base.partition_point(|&x| x < index);
            self.deleted_base.insert(at, index);
        } else if let Some(p) = self.front.iter().position(|&x| x == index) {
            self.front.remove(p);
        } else if let Some(p) = self.back.iter().position(|&x| x == index) {
            self.back.remove(p);
        }
        true
    }

    pub(crate) fn set_field(&mut self, index: u64, field: &str, value: Value) -> bool {
        if !self.exists(index) {
            return false;
        }
        self.overrides.entry(index).or_default().insert(field.to_string(), value);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paging() {
        let r = Roster::new(10);
        assert_eq!(r.total(), 10);
        assert_eq!(r.page(0, 3), vec![0, 1, 2]);
        assert_eq!(r.page(8, 5), vec![8, 9]);
        assert!(r.page(10, 5).is_empty());
        assert!(r.page(u64::MAX, 5).is_empty());
        assert_eq!(Roster::new(0).page(0, 10), Vec::<u64>::new());
    }

    #[test]
    fn deletes_inserts_and_appends() {
        let mut r = Roster::new(10);
        assert!(r.delete(0));
        assert!(r.delete(5));
        assert!(r.delete(6));
        assert!(!r.delete(6));
        assert!(!r.delete(99));
        assert_eq!(r.total(), 7);
        assert_eq!(r.all(), vec![1, 2, 3, 4, 7, 8, 9]);
        assert_eq!(r.page(3, 2), vec![4, 7]);
        assert_eq!(r.at(4), Some(7));
        let new = r.insert_front(2);
        assert_eq!(new, vec![10, 11]);
        assert_eq!(r.push_back(), 12);
        assert_eq!(r.all(), vec![11, 10, 1, 2, 3, 4, 7, 8, 9, 12]);
        assert_eq!(r.page(1, 3), vec![10, 1, 2]);
        assert_eq!(r.page(8, 5), vec![9, 12]);
        assert!(r.delete(10));
        assert!(r.delete(12));
        assert_eq!(r.all(), vec![11, 1, 2, 3, 4, 7, 8, 9]);
        assert_eq!(r.total(), 8);
        assert!(!r.exists(10) && r.exists(11) && !r.exists(13));
    }

    #[test]
    fn overrides_follow_existence() {
        let mut r = Roster::new(3);
        assert!(r.set_field(1, "email", Value::from("x@y")));
        assert_eq!(r.page_with_overrides(1, 1)[0].1.as_ref().unwrap()["email"], "x@y");
        assert!(r.delete(1));
        assert!(!r.set_field(1, "email", Value::Null));
        assert!(r.overrides(1).is_none());
    }
}
