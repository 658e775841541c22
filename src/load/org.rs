//! `personnel_org`: the manager hierarchy of one snapshot, derived from its personnel table
//! at the end of a run (before commit) and committed with the other tables.
//!
//! Plain Rust + arrow on purpose (no Polars): the slim `--no-default-features` build must
//! produce it too. It reads back only `id`, `manager_id` and `email` of the staged personnel
//! files and knows nothing of HTTP or dialects.
//!
//! Memory: the staged files are read column by column, so only one kind of text is held at
//! a time. Ids are first interned to a `u32` index through 16-byte hash keys (sorted, found
//! by binary search; dropped once every `manager_id` is resolved); the hierarchy is a few
//! flat `Vec`s indexed by person (~14 bytes a person); and the only text kept is the id and
//! email of the people some `manager_id` names. Everyone's own id is read back from the
//! files while the output rows are built and written, one batch at a time. Chains are
//! resolved once per person (memoised walk): a walk that meets a person already on its own
//! path has found a cycle and stops there, so malformed data can never make it loop.

use super::layout::Table;
use super::manifest::FileEntry;
use super::writer::{TableWriter, WriterOptions};
use super::Staging;
use crate::error::EtlError;
use crate::record::{id_key, ChainStatus, OrgRow};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Ids kept in a chain at most. Depth stays exact beyond it; only the list is cut (no real
/// org chart is this deep, and a pathological one must not make output quadratic).
pub const MAX_CHAIN: usize = 1000;

const NONE: u32 = u32::MAX;
const DANGLING: u32 = u32::MAX - 1;

/// Id -> person index, in 16 bytes a person: each entry is the upper 96 bits of the id's
/// 128-bit hash (`record::id_key`, the key the listing already dedupes people by) with the
/// person's index in the low 32 bits, sorted, and searched by binary search. Equal ids sort
/// by index, so a repeated id resolves to its first index (paging dedupes by id, so this
/// only guards against a bug upstream). Two different ids sharing 96 hash bits (odds about
/// 1 in 10^16 for a million-person workspace) would resolve to the same person.
#[derive(Default)]
struct IdIndex {
    keys: Vec<u128>,
}

impl IdIndex {
    fn hash(id: &str) -> u128 {
        id_key(id) >> 32
    }

    fn push(&mut self, id: &str, person: u32) {
        self.keys.push((Self::hash(id) << 32) | u128::from(person));
    }

    fn sort(&mut self) {
        self.keys.sort_unstable();
    }

    fn get(&self, id: &str) -> Option<u32> {
        let h = Self::hash(id);
        let first = self.keys.partition_point(|&k| (k >> 32) < h);
        self.keys.get(first).filter(|&&k| k >> 32 == h).map(|&k| k as u32)
    }
}

/// Strings appended once and read by position: one byte buffer and one end offset each
/// (the top bit marks a null), shrunk to size once complete.
#[derive(Default)]
struct Texts {
    bytes: String,
    ends: Vec<u64>,
}

const NULL_TEXT: u64 = 1 << 63;

impl Texts {
    fn push(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.bytes.push_str(s);
                self.ends.push(self.bytes.len() as u64);
            }
            None => self.ends.push(self.bytes.len() as u64 | NULL_TEXT),
        }
    }

    fn get(&self, k: usize) -> Option<&str> {
        let end = *self.ends.get(k)?;
        if end & NULL_TEXT != 0 {
            return None;
        }
        let start = if k == 0 { 0 } else { self.ends[k - 1] & !NULL_TEXT };
        Some(&self.bytes[start as usize..end as usize])
    }

    fn shrink(&mut self) {
        self.bytes.shrink_to_fit();
        self.ends.shrink_to_fit();
    }

    fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.ends.capacity() * 8
    }
}

/// Whose id and email text the graph holds: everyone, or only the people some `manager_id`
/// names (the only ids a chain, a top or a manager column can show besides the person's
/// own, which `derive` reads back while writing). A bit a person, with a running count per
/// 64 people so a person's position among those held is found in O(1).
struct Held {
    all: bool,
    bits: Vec<u64>,
    before: Vec<u32>,
}

impl Held {
    fn everyone() -> Self {
        Held { all: true, bits: Vec::new(), before: Vec::new() }
    }

    fn some(bits: Vec<u64>) -> Self {
        let mut before = Vec::with_capacity(bits.len());
        let mut n = 0u32;
        for w in &bits {
            before.push(n);
            n += w.count_ones();
        }
        Held { all: false, bits, before }
    }

    fn contains(&self, i: u32) -> bool {
        self.all || self.bits.get(i as usize / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// The position of person `i` among those held.
    fn slot(&self, i: u32) -> Option<usize> {
        if self.all {
            return Some(i as usize);
        }
        if !self.contains(i) {
            return None;
        }
        let (w, b) = (i as usize / 64, i % 64);
        Some(self.before[w] as usize + (self.bits[w] & ((1u64 << b) - 1)).count_ones() as usize)
    }
}

/// The interned hierarchy: people by index, each with its manager's index.
pub struct OrgGraph {
    /// Manager index, or `NONE` (no manager) or `DANGLING` (an id nobody has).
    manager: Vec<u32>,
    /// The unknown `manager_id` text of people whose manager dangles.
    dangling: HashMap<u32, String>,
    depth: Vec<u32>,
    top: Vec<u32>,
    status: Vec<ChainStatus>,
    in_cycle: Vec<bool>,
    held: Held,
    /// Ids and emails of the people `held` names, in person order.
    ids: Texts,
    emails: Texts,
}

fn read_err(path: &Path, e: impl std::fmt::Display) -> EtlError {
    EtlError::cannot_write(format!("cannot read back {} to derive personnel_org: {e}", path.display()))
}

/// Stream the named columns of `files` (in order), calling `f` with each batch.
fn scan(
    files: &[PathBuf],
    columns: &[&str],
    mut f: impl FnMut(&RecordBatch) -> Result<(), EtlError>,
) -> Result<(), EtlError> {
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
            f(&batch.map_err(|e| read_err(path, e))?)?;
        }
    }
    Ok(())
}

fn utf8_column<'a>(b: &'a RecordBatch, name: &str) -> &'a arrow::array::StringArray {
    let c = b.column_by_name(name).expect("projected column");
    debug_assert_eq!(c.data_type(), &DataType::Utf8);
    c.as_string::<i32>()
}

fn text(col: &arrow::array::StringArray, i: usize) -> Option<&str> {
    col.is_valid(i).then(|| col.value(i))
}

fn changed_underneath() -> EtlError {
    EtlError::cannot_write("personnel files changed while personnel_org was derived from them")
}

impl OrgGraph {
    /// Read the hierarchy of personnel files, holding every person's id and email (so
    /// `row` works for anyone).
    pub fn from_personnel_files(files: &[PathBuf]) -> Result<OrgGraph, EtlError> {
        Self::read(files, true)
    }

    /// Read `files` column by column so no more than one kind of text is held at a time:
    /// ids as hashes (for resolving `manager_id`), then `manager_id`, then the id and email
    /// text of the people to hold (everyone, or only those someone names as manager).
    fn read(files: &[PathBuf], hold_everyone: bool) -> Result<OrgGraph, EtlError> {
        let mut index = IdIndex::default();
        let mut n: u32 = 0;
        scan(files, &["id"], |b| {
            let id = utf8_column(b, "id");
            for i in 0..b.num_rows() {
                if let Some(id) = text(id, i) {
                    index.push(id, n);
                }
                n = n.checked_add(1).filter(|&n| n < DANGLING).ok_or_else(too_many)?;
            }
            Ok(())
        })?;
        index.sort();
        let mut manager = Vec::with_capacity(n as usize);
        let mut dangling = HashMap::new();
        let mut named = vec![0u64; (n as usize).div_ceil(64)];
        scan(files, &["manager_id"], |b| {
            let m = utf8_column(b, "manager_id");
            for i in 0..b.num_rows() {
                let person = manager.len() as u32;
                match text(m, i) {
                    None => manager.push(NONE),
                    Some(m) => match index.get(m) {
                        Some(k) => {
                            if let Some(w) = named.get_mut(k as usize / 64) {
                                *w |= 1 << (k % 64);
                            }
                            manager.push(k);
                        }
                        None => {
                            dangling.insert(person, m.to_string());
                            manager.push(DANGLING);
                        }
                    },
                }
            }
            Ok(())
        })?;
        drop(index);
        if manager.len() != n as usize {
            return Err(changed_underneath());
        }
        let held = if hold_everyone { Held::everyone() } else { Held::some(named) };
        let (mut ids, mut emails) = (Texts::default(), Texts::default());
        let mut person: u32 = 0;
        scan(files, &["id", "email"], |b| {
            let id = utf8_column(b, "id");
            let email = utf8_column(b, "email");
            for i in 0..b.num_rows() {
                if person >= n {
                    return Err(changed_underneath());
                }
                if held.contains(person) {
                    ids.push(text(id, i));
                    emails.push(text(email, i));
                }
                person += 1;
            }
            Ok(())
        })?;
        if person != n {
            return Err(changed_underneath());
        }
        ids.shrink();
        emails.shrink();
        Ok(Self::new(manager, dangling, held, ids, emails))
    }

    /// Build from in-memory records: `(id, email, manager_id)` (for tests and small inputs).
    pub fn from_records<'a>(
        people: impl IntoIterator<Item = (&'a str, Option<&'a str>, Option<&'a str>)> + Clone,
    ) -> OrgGraph {
        let mut index = IdIndex::default();
        let (mut ids, mut emails) = (Texts::default(), Texts::default());
        for (person, (id, email, _)) in people.clone().into_iter().enumerate() {
            index.push(id, person as u32);
            ids.push(Some(id));
            emails.push(email);
        }
        index.sort();
        let mut manager = Vec::new();
        let mut dangling = HashMap::new();
        for (person, (_, _, m)) in people.into_iter().enumerate() {
            match m {
                None => manager.push(NONE),
                Some(m) => match index.get(m) {
                    Some(k) => manager.push(k),
                    None => {
                        dangling.insert(person as u32, m.to_string());
                        manager.push(DANGLING);
                    }
                },
            }
        }
        Self::new(manager, dangling, Held::everyone(), ids, emails)
    }

    fn new(manager: Vec<u32>, dangling: HashMap<u32, String>, held: Held, ids: Texts, emails: Texts) -> Self {
        let n = manager.len();
        let mut g = OrgGraph {
            manager,
            dangling,
            depth: vec![0; n],
            top: vec![NONE; n],
            status: vec![ChainStatus::Ok; n],
            in_cycle: vec![false; n],
            held,
            ids,
            emails,
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

    /// The id of a held person ("" for a null id, or one not held: never asked for).
    fn id(&self, i: u32) -> &str {
        self.held.slot(i).and_then(|k| self.ids.get(k)).unwrap_or("")
    }

    /// Heap bytes held (strings, index-free vectors), for the log line and benchmarks.
    pub fn heap_bytes(&self) -> usize {
        self.ids.heap_bytes()
            + self.emails.heap_bytes()
            + (self.held.bits.capacity() * 8 + self.held.before.capacity() * 4)
            + self.manager.capacity() * 4
            + self.depth.capacity() * 4
            + self.top.capacity() * 4
            + self.status.capacity()
            + self.in_cycle.capacity()
            + self.dangling.values().map(|s| s.capacity() + 32).sum::<usize>()
    }

    /// The `personnel_org` row of person `i` (a graph that holds everyone's id, as
    /// `from_personnel_files` and `from_records` build).
    pub fn row(&self, i: usize) -> OrgRow {
        debug_assert!(self.held.all, "row() needs every id held; derive uses row_of");
        self.row_of(i, self.id(i as u32))
    }

    /// The `personnel_org` row of person `i`, whose own id is `own`.
    fn row_of(&self, i: usize, own: &str) -> OrgRow {
        let m = self.manager[i];
        let manager_id = match m {
            NONE => None,
            DANGLING => self.dangling.get(&(i as u32)).cloned(),
            k => Some(self.id(k).to_string()),
        };
        let manager_email = match m {
            NONE | DANGLING => None,
            k => self.held.slot(k).and_then(|s| self.emails.get(s)).map(str::to_string),
        };
        let status = self.status[i];
        let top = self.top[i];
        OrgRow {
            id: own.to_string(),
            manager_id,
            manager_email,
            depth: (status != ChainStatus::Cycle).then(|| self.depth[i].min(i32::MAX as u32) as i32),
            top_manager_id: match top {
                NONE => None,
                t if t as usize == i => Some(own.to_string()),
                t => Some(self.id(t).to_string()),
            },
            chain: self.chain(i as u32, own),
            chain_status: status,
            manager_dangling: m == DANGLING,
            in_cycle: self.in_cycle[i],
        }
    }

    /// The ids from `start` (whose id is `own`) upwards. A cycle is walked once round: the
    /// chain stops at the first id that repeats (the person where the walk entered the
    /// cycle). Every id after the first is someone's manager, so it is held.
    fn chain(&self, start: u32, own: &str) -> Vec<String> {
        let mut out = vec![own.to_string()];
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

/// Rows of `personnel_org` converted to Arrow at a time (see `derive`).
const ORG_BATCH_ROWS: usize = 1024;

/// Hand memory that is free but still resident back to the OS before the graph is built.
/// The extract phase freed its buffers (the writers' row groups, HTTP bodies) on other
/// threads; glibc keeps such pages in those threads' arenas, where this thread's
/// allocations cannot reuse them, so without this the derivation's memory would stack on
/// top of the extract phase's high-water mark (measured: BENCHMARKS.md). A no-op elsewhere.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            /// glibc: return free memory at the top of each arena and whole free pages
            /// inside them to the OS; returns 1 if any was released.
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: `malloc_trim` only releases memory the allocator holds as free; it is
        // thread-safe and touches no live allocation.
        unsafe {
            malloc_trim(0);
        }
    }
}

fn too_many() -> EtlError {
    EtlError::cannot_write("too many people to derive personnel_org (over 4 billion)")
}

/// Derive `personnel_org` from the staged personnel files of a run and write it into the
/// staging area; returns its files for the manifest. Called once, just before commit.
///
/// The graph holds only managers' ids and emails; everyone's own id is read back once more
/// while the rows are written, in the same order.
pub fn derive(
    staging: &Staging,
    files: &[(Table, Vec<FileEntry>)],
    opts: WriterOptions,
) -> Result<Vec<FileEntry>, EtlError> {
    let started = std::time::Instant::now();
    release_freed_memory();
    let staged_dir = staging.dir().join(Table::Personnel.name());
    let personnel: Vec<PathBuf> = files
        .iter()
        .filter(|(t, _)| *t == Table::Personnel)
        .flat_map(|(_, f)| f.iter())
        .map(|f| staged_dir.join(f.path.rsplit('/').next().unwrap_or(&f.path)))
        .collect();
    let graph = OrgGraph::read(&personnel, false)?;
    // Org rows own a dozen strings each: buffer fewer of them than the default batch.
    let mut writer: TableWriter<OrgRow> =
        staging.writer(WriterOptions { batch_rows: opts.batch_rows.min(ORG_BATCH_ROWS), ..opts })?;
    let write_err = |e: std::io::Error| EtlError::cannot_write(format!("writing personnel_org failed: {e}"));
    let mut person = 0usize;
    scan(&personnel, &["id"], |b| {
        let id = utf8_column(b, "id");
        for i in 0..b.num_rows() {
            if person >= graph.len() {
                return Err(changed_underneath());
            }
            writer.push(graph.row_of(person, text(id, i).unwrap_or(""))).map_err(write_err)?;
            person += 1;
        }
        Ok(())
    })?;
    if person != graph.len() {
        return Err(changed_underneath());
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
mod tests;
