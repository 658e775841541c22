//! `personnel_org`: the manager hierarchy of one snapshot, derived from its personnel table
//! at the end of a run (before commit) and committed with the other tables.
//!
//! Plain Rust + arrow on purpose (no Polars): the slim `--no-default-features` build must
//! produce it too. It reads back only `id`, `manager_id` and `email` of the staged personnel
//! files and knows nothing of HTTP or dialects.
//!
//! Memory: ids and emails are kept once, in two Arrow string buffers; every id is interned
//! to a `u32` index (found by binary search in the indexes sorted by id), and the hierarchy
//! is a few flat `Vec`s indexed by person (~20 bytes a person besides the strings), so a
//! million-person snapshot needs on the order of 100 MB (measured: BENCHMARKS.md). Output rows are built and written
//! one batch at a time. Chains are resolved once per person (memoised walk): a walk that
//! meets a person already on its own path has found a cycle and stops there, so malformed
//! data can never make it loop.

use super::layout::Table;
use super::manifest::FileEntry;
use super::writer::{TableWriter, WriterOptions};
use super::Staging;
use crate::error::EtlError;
use arrow::array::{Array, AsArray, LargeStringArray, LargeStringBuilder, RecordBatch};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Ids kept in a chain at most. Depth stays exact beyond it; only the list is cut (no real
/// org chart is this deep, and a pathological one must not make output quadratic).
pub const MAX_CHAIN: usize = 1000;

/// How a person's chain of managers ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainStatus {
    /// It reaches a person without a manager (the top).
    Ok,
    /// It reaches a `manager_id` that names nobody in the snapshot.
    Dangling,
    /// It runs into a cycle (the person may be on it or only lead into it).
    Cycle,
}

impl ChainStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChainStatus::Ok => "ok",
            ChainStatus::Dangling => "dangling",
            ChainStatus::Cycle => "cycle",
        }
    }
}

/// One row of `personnel_org` (see `schemas/personnel_org.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRow {
    pub id: String,
    pub manager_id: Option<String>,
    /// The manager's email; null when there is no manager or the manager is unknown.
    pub manager_email: Option<String>,
    /// Managers above the person (0 for the top); an unknown manager counts as one level.
    /// Null on a cycle, where depth has no meaning.
    pub depth: Option<i32>,
    /// The top of the person's tree (themselves at depth 0); null unless the chain is ok.
    pub top_manager_id: Option<String>,
    /// The person's id, their manager's, and so on up to the top; a dangling chain ends with
    /// the unknown id, a cycle with the first id that repeats.
    pub chain: Vec<String>,
    pub chain_status: ChainStatus,
    /// The person's own `manager_id` names nobody in the snapshot.
    pub manager_dangling: bool,
    /// The person is on a manager cycle (their chain comes back to them).
    pub in_cycle: bool,
}

const NONE: u32 = u32::MAX;
const DANGLING: u32 = u32::MAX - 1;

/// Ids sorted for lookup (see `OrgGraph::index`).
struct IdIndex<'a> {
    ids: &'a LargeStringArray,
    order: Vec<u32>,
}

impl IdIndex<'_> {
    fn get(&self, id: &str) -> Option<&u32> {
        let first = self.order.partition_point(|&i| self.ids.value(i as usize) < id);
        self.order.get(first).filter(|&&i| self.ids.value(i as usize) == id)
    }
}

/// The interned hierarchy: people by index, each with its manager's index.
pub struct OrgGraph {
    ids: LargeStringArray,
    emails: LargeStringArray,
    /// Manager index, or `NONE` (no manager) or `DANGLING` (an id nobody has).
    manager: Vec<u32>,
    /// The unknown `manager_id` text of people whose manager dangles.
    dangling: HashMap<u32, String>,
    depth: Vec<u32>,
    top: Vec<u32>,
    status: Vec<ChainStatus>,
    in_cycle: Vec<bool>,
}

fn read_err(path: &Path, e: impl std::fmt::Display) -> EtlError {
    EtlError::cannot_write(format!("cannot read back {} to derive personnel_org: {e}", path.display()))
}

/// Stream the named columns of `files` (in order), calling `f` with each batch.
fn scan(files: &[PathBuf], columns: &[&str], mut f: impl FnMut(&RecordBatch)) -> Result<(), EtlError> {
    for path in files {
        let file = std::fs::File::open(path).map_err(|e| read_err(path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| read_err(path, e))?;
        let schema = builder.parquet_schema();
        let mut leaves = Vec::new();
        for name in columns {
            let i = schema
                .columns()
                .iter()
                .position(|c| c.name() == *name)
                .ok_or_else(|| read_err(path, format!("no column {name}")))?;
            leaves.push(i);
        }
        let mask = ProjectionMask::leaves(schema, leaves);
        let reader = builder.with_projection(mask).with_batch_size(8192).build().map_err(|e| read_err(path, e))?;
        for batch in reader {
            f(&batch.map_err(|e| read_err(path, e))?);
        }
    }
    Ok(())
}

fn utf8_column<'a>(b: &'a RecordBatch, name: &str) -> &'a arrow::array::StringArray {
    let c = b.column_by_name(name).expect("projected column");
    debug_assert_eq!(c.data_type(), &DataType::Utf8);
    c.as_string::<i32>()
}

impl OrgGraph {
    /// Read `id`, `email` (first pass) and `manager_id` (second pass) of personnel files.
    /// Two passes so the manager ids' text is never held for everyone at once.
    pub fn from_personnel_files(files: &[PathBuf]) -> Result<OrgGraph, EtlError> {
        let mut ids = LargeStringBuilder::new();
        let mut emails = LargeStringBuilder::new();
        scan(files, &["id", "email"], |b| {
            let id = utf8_column(b, "id");
            let email = utf8_column(b, "email");
            for i in 0..b.num_rows() {
                ids.append_option(id.is_valid(i).then(|| id.value(i)));
                emails.append_option(email.is_valid(i).then(|| email.value(i)));
            }
        })?;
        let ids = ids.finish();
        let emails = emails.finish();
        let mut manager = Vec::with_capacity(ids.len());
        let mut dangling = HashMap::new();
        {
            let index = Self::index(&ids);
            scan(files, &["manager_id"], |b| {
                let m = utf8_column(b, "manager_id");
                for i in 0..b.num_rows() {
                    let person = manager.len() as u32;
                    if m.is_null(i) {
                        manager.push(NONE);
                    } else if let Some(&k) = index.get(m.value(i)) {
                        manager.push(k);
                    } else {
                        dangling.insert(person, m.value(i).to_string());
                        manager.push(DANGLING);
                    }
                }
            })?;
        }
        if manager.len() != ids.len() {
            return Err(EtlError::cannot_write("personnel files changed while personnel_org was derived from them"));
        }
        Ok(Self::new(ids, emails, manager, dangling))
    }

    /// Build from in-memory records: `(id, email, manager_id)` (for tests and small inputs).
    pub fn from_records<'a>(
        people: impl IntoIterator<Item = (&'a str, Option<&'a str>, Option<&'a str>)> + Clone,
    ) -> OrgGraph {
        let mut ids = LargeStringBuilder::new();
        let mut emails = LargeStringBuilder::new();
        for (id, email, _) in people.clone() {
            ids.append_value(id);
            emails.append_option(email);
        }
        let ids = ids.finish();
        let emails = emails.finish();
        let mut manager = Vec::new();
        let mut dangling = HashMap::new();
        {
            let index = Self::index(&ids);
            for (person, (_, _, m)) in people.into_iter().enumerate() {
                match m {
                    None => manager.push(NONE),
                    Some(m) => match index.get(m) {
                        Some(&k) => manager.push(k),
                        None => {
                            dangling.insert(person as u32, m.to_string());
                            manager.push(DANGLING);
                        }
                    },
                }
            }
        }
        Self::new(ids, emails, manager, dangling)
    }

    /// Id text -> index, as the people's indexes sorted by id (4 bytes a person, where a hash
    /// map of borrowed ids would take ~48); looked up by binary search. A repeated id resolves
    /// to its first index (paging dedupes by id, so this only guards against a bug upstream).
    fn index(ids: &LargeStringArray) -> IdIndex<'_> {
        let mut order: Vec<u32> = (0..ids.len() as u32).filter(|&i| ids.is_valid(i as usize)).collect();
        order.sort_unstable_by(|&a, &b| ids.value(a as usize).cmp(ids.value(b as usize)).then(a.cmp(&b)));
        IdIndex { ids, order }
    }

    fn new(ids: LargeStringArray, emails: LargeStringArray, manager: Vec<u32>, dangling: HashMap<u32, String>) -> Self {
        let n = ids.len();
        let mut g = OrgGraph {
            ids,
            emails,
            manager,
            dangling,
            depth: vec![0; n],
            top: vec![NONE; n],
            status: vec![ChainStatus::Ok; n],
            in_cycle: vec![false; n],
        };
        g.resolve();
        g
    }

    /// Resolve every person's depth, top and status in O(people): each person is put on a
    /// walk's path once and resolved once; a walk stops at the first resolved person.
    fn resolve(&mut self) {
        const UNSEEN: u8 = 0;
        const ON_PATH: u8 = 1;
        const DONE: u8 = 2;
        let n = self.manager.len();
        let mut state = vec![UNSEEN; n];
        let mut path: Vec<u32> = Vec::new();
        for start in 0..n as u32 {
            if state[start as usize] == DONE {
                continue;
            }
            path.clear();
            let mut v = start;
            // Walk up until something already known, the top, a dangling link or a cycle.
            loop {
                let vi = v as usize;
                if state[vi] == DONE {
                    break;
                }
                if state[vi] == ON_PATH {
                    let from = path.iter().rposition(|&p| p == v).expect("on path");
                    for &c in &path[from..] {
                        let ci = c as usize;
                        self.in_cycle[ci] = true;
                        self.status[ci] = ChainStatus::Cycle;
                        self.top[ci] = NONE;
                        state[ci] = DONE;
                    }
                    path.truncate(from);
                    break;
                }
                state[vi] = ON_PATH;
                path.push(v);
                match self.manager[vi] {
                    NONE => {
                        self.status[vi] = ChainStatus::Ok;
                        self.depth[vi] = 0;
                        self.top[vi] = v;
                        state[vi] = DONE;
                        path.pop();
                        break;
                    }
                    DANGLING => {
                        self.status[vi] = ChainStatus::Dangling;
                        self.depth[vi] = 1;
                        self.top[vi] = NONE;
                        state[vi] = DONE;
                        path.pop();
                        break;
                    }
                    m => v = m,
                }
            }
            // Everyone left on the path inherits from their (now resolved) manager.
            while let Some(u) = path.pop() {
                let ui = u as usize;
                let m = self.manager[ui] as usize;
                self.status[ui] = self.status[m];
                self.top[ui] = self.top[m];
                self.depth[ui] = self.depth[m].saturating_add(1);
                state[ui] = DONE;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.manager.len()
    }

    pub fn is_empty(&self) -> bool {
        self.manager.is_empty()
    }

    fn id(&self, i: u32) -> &str {
        self.ids.value(i as usize)
    }

    /// Heap bytes held (strings, index-free vectors), for the log line and benchmarks.
    pub fn heap_bytes(&self) -> usize {
        self.ids.get_buffer_memory_size()
            + self.emails.get_buffer_memory_size()
            + self.manager.capacity() * 4
            + self.depth.capacity() * 4
            + self.top.capacity() * 4
            + self.status.capacity()
            + self.in_cycle.capacity()
            + self.dangling.values().map(|s| s.capacity() + 32).sum::<usize>()
    }

    /// The `personnel_org` row of person `i`.
    pub fn row(&self, i: usize) -> OrgRow {
        let m = self.manager[i];
        let manager_id = match m {
            NONE => None,
            DANGLING => self.dangling.get(&(i as u32)).cloned(),
            k => Some(self.id(k).to_string()),
        };
        let manager_email = match m {
            NONE | DANGLING => None,
            k => self.emails.is_valid(k as usize).then(|| self.emails.value(k as usize).to_string()),
        };
        let status = self.status[i];
        OrgRow {
            id: self.id(i as u32).to_string(),
            manager_id,
            manager_email,
            depth: (status != ChainStatus::Cycle).then(|| self.depth[i].min(i32::MAX as u32) as i32),
            top_manager_id: (self.top[i] != NONE).then(|| self.id(self.top[i]).to_string()),
            chain: self.chain(i as u32),
            chain_status: status,
            manager_dangling: m == DANGLING,
            in_cycle: self.in_cycle[i],
        }
    }

    /// The ids from `start` upwards. A cycle is walked once round: the chain stops at the
    /// first id that repeats (the person where the walk entered the cycle).
    fn chain(&self, start: u32) -> Vec<String> {
        let mut out = vec![self.id(start).to_string()];
        let mut v = start;
        let mut entered: Option<u32> = self.in_cycle[start as usize].then_some(start);
        while out.len() < MAX_CHAIN {
            match self.manager[v as usize] {
                NONE => break,
                DANGLING => {
                    if let Some(s) = self.dangling.get(&v) {
                        out.push(s.clone());
                    }
                    break;
                }
                m => {
                    out.push(self.id(m).to_string());
                    if entered == Some(m) {
                        break;
                    }
                    if entered.is_none() && self.in_cycle[m as usize] {
                        entered = Some(m);
                    }
                    v = m;
                }
            }
        }
        out
    }

    /// Counts for the log line: (dangling references, people on cycles).
    pub fn anomalies(&self) -> (usize, usize) {
        (self.dangling.len(), self.in_cycle.iter().filter(|&&c| c).count())
    }
}

/// Derive `personnel_org` from the staged personnel files of a run and write it into the
/// staging area; returns its files for the manifest. Called once, just before commit.
pub fn derive(
    staging: &Staging,
    files: &[(Table, Vec<FileEntry>)],
    opts: WriterOptions,
) -> Result<Vec<FileEntry>, EtlError> {
    let started = std::time::Instant::now();
    let staged_dir = staging.dir().join(Table::Personnel.name());
    let personnel: Vec<PathBuf> = files
        .iter()
        .filter(|(t, _)| *t == Table::Personnel)
        .flat_map(|(_, f)| f.iter())
        .map(|f| staged_dir.join(f.path.rsplit('/').next().unwrap_or(&f.path)))
        .collect();
    let graph = OrgGraph::from_personnel_files(&personnel)?;
    let mut writer: TableWriter<OrgRow> = staging.writer(opts)?;
    let write_err = |e: std::io::Error| EtlError::cannot_write(format!("writing personnel_org failed: {e}"));
    for i in 0..graph.len() {
        writer.push(graph.row(i)).map_err(write_err)?;
    }
    let out = writer.finish().map_err(write_err)?;
    let (dangling, in_cycle) = graph.anomalies();
    tracing::info!(
        people = graph.len(),
        dangling_manager_refs = dangling,
        people_on_cycles = in_cycle,
        heap_mb = graph.heap_bytes() / (1 << 20),
        secs = started.elapsed().as_secs_f64(),
        "personnel_org derived"
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(people: &[(&'static str, Option<&'static str>)]) -> OrgGraph {
        OrgGraph::from_records(people.iter().map(|(id, m)| (*id, Some(*id), *m)).collect::<Vec<_>>())
    }

    fn rows(g: &OrgGraph) -> HashMap<String, OrgRow> {
        (0..g.len()).map(|i| g.row(i)).map(|r| (r.id.clone(), r)).collect()
    }

    fn chain(r: &OrgRow) -> String {
        r.chain.join(">")
    }

    #[test]
    fn tree_depths_tops_and_chains() {
        // c -> b -> a (top); d -> a; e alone. Listed out of order on purpose.
        let g = graph(&[("c", Some("b")), ("a", None), ("b", Some("a")), ("d", Some("a")), ("e", None)]);
        let r = rows(&g);
        assert_eq!(r["a"].depth, Some(0));
        assert_eq!(r["a"].top_manager_id.as_deref(), Some("a"));
        assert_eq!(r["c"].depth, Some(2));
        assert_eq!(chain(&r["c"]), "c>b>a");
        assert_eq!(r["c"].top_manager_id.as_deref(), Some("a"));
        assert_eq!(r["c"].manager_email.as_deref(), Some("b"));
        assert_eq!(r["d"].depth, Some(1));
        assert_eq!(chain(&r["e"]), "e");
        assert!(r.values().all(|r| r.chain_status == ChainStatus::Ok && !r.in_cycle && !r.manager_dangling));
    }

    #[test]
    fn cycles_are_flagged_and_never_looped() {
        // a -> b -> c -> a is a cycle; d leads into it; s manages itself.
        let g = graph(&[("a", Some("b")), ("b", Some("c")), ("c", Some("a")), ("d", Some("a")), ("s", Some("s"))]);
        let r = rows(&g);
        for id in ["a", "b", "c", "s"] {
            assert!(r[id].in_cycle, "{id}");
            assert_eq!(r[id].chain_status, ChainStatus::Cycle);
            assert_eq!(r[id].depth, None);
            assert_eq!(r[id].top_manager_id, None);
        }
        assert_eq!(chain(&r["a"]), "a>b>c>a");
        assert_eq!(chain(&r["c"]), "c>a>b>c");
        assert_eq!(chain(&r["s"]), "s>s");
        assert!(!r["d"].in_cycle);
        assert_eq!(r["d"].chain_status, ChainStatus::Cycle);
        assert_eq!(chain(&r["d"]), "d>a>b>c>a");
        assert_eq!(g.anomalies(), (0, 4));
    }

    #[test]
    fn dangling_references_end_the_chain() {
        let g = graph(&[("a", Some("ghost")), ("b", Some("a")), ("c", None)]);
        let r = rows(&g);
        assert!(r["a"].manager_dangling);
        assert_eq!(r["a"].manager_id.as_deref(), Some("ghost"));
        assert_eq!(r["a"].manager_email, None);
        assert_eq!(r["a"].depth, Some(1));
        assert_eq!(chain(&r["a"]), "a>ghost");
        assert!(!r["b"].manager_dangling);
        assert_eq!(r["b"].chain_status, ChainStatus::Dangling);
        assert_eq!(r["b"].depth, Some(2));
        assert_eq!(r["b"].top_manager_id, None);
        assert_eq!(chain(&r["b"]), "b>a>ghost");
        assert_eq!(g.anomalies(), (1, 0));
    }

    #[test]
    fn unsorted_and_repeated_ids_resolve() {
        // Lookup is by binary search over ids sorted apart from the input order.
        let g = graph(&[("zz", Some("aa")), ("mm", Some("zz")), ("aa", None), ("mm", Some("aa"))]);
        let r: Vec<OrgRow> = (0..g.len()).map(|i| g.row(i)).collect();
        assert_eq!(r[1].chain, vec!["mm", "zz", "aa"]);
        assert_eq!(r[3].depth, Some(1));
        assert_eq!(g.anomalies(), (0, 0));
    }

    #[test]
    fn long_chains_are_cut_but_depth_is_exact() {
        let ids: Vec<String> = (0..3000).map(|i| format!("p{i}")).collect();
        let people: Vec<_> = (0..3000)
            .map(|i| (ids[i].as_str(), None, if i == 0 { None } else { Some(ids[i - 1].as_str()) }))
            .rev()
            .collect();
        let g = OrgGraph::from_records(people);
        let last = (0..g.len()).map(|i| g.row(i)).find(|r| r.id == "p2999").unwrap();
        assert_eq!(last.depth, Some(2999));
        assert_eq!(last.chain.len(), MAX_CHAIN);
        assert_eq!(last.top_manager_id.as_deref(), Some("p0"));
    }
}
