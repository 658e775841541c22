//! `drata-etl reconcile`: the latest committed snapshot against an HRIS export (CSV).
//!
//! The CSV is parsed and validated here (the `csv` crate, so every problem can name its line)
//! and then joined with the snapshot's personnel in Polars. The format, also in the README
//! and shown by `scripts/hris_sample.csv`:
//!
//! - a header row; names are case-insensitive, surrounding spaces ignored, unknown columns
//!   ignored; UTF-8 (a byte-order mark is fine);
//! - `status` (required): `active`, `leave` (employed, on leave) or `terminated`;
//! - the key column (required): `external_id` (default; Drata's `externalId`) or `email`
//!   (`--key email`; compared case-insensitively);
//! - optional, compared when present and non-empty: `email`, `first_name`, `last_name`,
//!   `department`, `manager_email`; optional `termination_date` (YYYY-MM-DD).
//!
//! Empty cells mean "not known to the HRIS" and are never reported as mismatches.

use super::people::{active, full_name, ints, people, people_table, strs, PeopleList, PERSON_COLS};
use super::polars_err;
use super::render::{Doc, Section, Table};
use super::snapshot::{scan, Snapshots};
use crate::error::EtlError;
use crate::load::Table as T;
use chrono::NaiveDate;
use polars::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Which column joins the HRIS to Drata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    ExternalId,
    Email,
}

impl Key {
    pub fn column(self) -> &'static str {
        match self {
            Key::ExternalId => "external_id",
            Key::Email => "email",
        }
    }
}

/// Optional columns compared with Drata when present.
const OPTIONAL: [&str; 7] =
    ["external_id", "email", "first_name", "last_name", "department", "manager_email", "termination_date"];

/// Problems listed at most; a file with more has a systematic problem the first ones show.
const MAX_PROBLEMS: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HrisRow {
    /// Line of the row in the file (1-based; the header is line 1).
    pub line: u64,
    pub key: String,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub department: Option<String>,
    pub manager_email: Option<String>,
    /// active | leave | terminated
    pub status: String,
    pub termination_date: Option<NaiveDate>,
}

/// A parsed, validated HRIS export.
#[derive(Debug, Clone)]
pub struct Hris {
    pub rows: Vec<HrisRow>,
    /// Which optional columns the file has.
    pub columns: Vec<String>,
}

fn norm_key(key: Key, raw: &str) -> String {
    match key {
        Key::Email => raw.trim().to_lowercase(),
        Key::ExternalId => raw.trim().to_string(),
    }
}

/// Read and validate an HRIS CSV. Every problem names its line and why; up to 20 are
/// reported at once (exit 64).
pub fn read_hris(path: &Path, key: Key) -> Result<Hris, EtlError> {
    let shown = path.display();
    let file =
        std::fs::File::open(path).map_err(|e| EtlError::usage(format!("cannot open the HRIS file {shown}: {e}")))?;
    let mut rdr =
        csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(std::io::BufReader::new(file));
    let headers = rdr
        .headers()
        .map_err(|e| EtlError::usage(format!("HRIS file {shown}: cannot read the header row: {}", csv_why(&e))))?
        .clone();
    if headers.iter().all(|h| h.trim().is_empty()) {
        return Err(EtlError::usage(format!("HRIS file {shown} is empty: it needs a header row (see the README)")));
    }
    let names: Vec<String> =
        headers.iter().map(|h| h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase()).collect();
    let find = |name: &str| names.iter().position(|n| n == name);
    let mut missing = Vec::new();
    for required in ["status", key.column()] {
        if find(required).is_none() {
            missing.push(required);
        }
    }
    if !missing.is_empty() {
        return Err(EtlError::usage(format!(
            "HRIS file {shown}: missing required column(s) {} (with --key {}); the header has: {}. Required: status and the key column; optional: {}",
            missing.join(", "),
            key.column(),
            names.join(", "),
            OPTIONAL.join(", ")
        )));
    }
    for (i, n) in names.iter().enumerate() {
        if !n.is_empty() && names[..i].contains(n) {
            return Err(EtlError::usage(format!("HRIS file {shown}: column '{n}' appears twice in the header")));
        }
    }
    let idx: HashMap<&str, usize> =
        ["status"].iter().chain(OPTIONAL.iter()).filter_map(|c| find(c).map(|i| (*c, i))).collect();
    let columns: Vec<String> = OPTIONAL.iter().filter(|c| idx.contains_key(**c)).map(|c| c.to_string()).collect();

    let mut rows = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    loop {
        if problems.len() >= MAX_PROBLEMS {
            break;
        }
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                problems.push(format!("line {line}: {}", csv_why(&e)));
                if !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }) {
                    break; // an I/O error: nothing after it can be trusted
                }
                continue;
            }
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(|f| f.trim().is_empty()) {
            continue; // a blank line
        }
        let get = |c: &str| {
            idx.get(c).and_then(|&i| record.get(i)).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
        };
        let mut why = Vec::new();
        let raw_key = get(key.column());
        if raw_key.is_none() {
            why.push(format!("{} is empty (it is the join key)", key.column()));
        }
        let status = get("status").map(|s| s.to_ascii_lowercase());
        let status = match status.as_deref() {
            Some("active") | Some("leave") | Some("terminated") => status.clone().unwrap_or_default(),
            Some(other) => {
                why.push(format!("status '{other}' is not one of active, leave, terminated"));
                String::new()
            }
            None => {
                why.push("status is empty (use active, leave or terminated)".into());
                String::new()
            }
        };
        let termination_date = match get("termination_date") {
            None => None,
            Some(d) => match NaiveDate::parse_from_str(&d, "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    why.push(format!("termination_date '{d}' is not a date like 2025-01-31"));
                    None
                }
            },
        };
        let email = get("email");
        if let Some(e) = &email {
            if !e.contains('@') {
                why.push(format!("email '{e}' has no @"));
            }
        }
        if let Some(k) = &raw_key {
            let k = norm_key(key, k);
            if let Some(first) = seen.get(&k) {
                why.push(format!("{} '{k}' repeats line {first}", key.column()));
            } else {
                seen.insert(k, line);
            }
        }
        if !why.is_empty() {
            problems.push(format!("line {line}: {}", why.join("; ")));
            continue;
        }
        rows.push(HrisRow {
            line,
            key: norm_key(key, raw_key.as_deref().unwrap_or_default()),
            external_id: get("external_id"),
            email,
            first_name: get("first_name"),
            last_name: get("last_name"),
            department: get("department"),
            manager_email: get("manager_email"),
            status,
            termination_date,
        });
    }
    if !problems.is_empty() {
        let more = if problems.len() >= MAX_PROBLEMS { " (stopped after 20)" } else { "" };
        return Err(EtlError::usage(format!(
            "HRIS file {shown} has bad rows{more}; nothing was compared:\n  {}",
            problems.join("\n  ")
        )));
    }
    Ok(Hris { rows, columns })
}

fn csv_why(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!(
                "{len} fields, but the header has {expected_len} (a stray comma or an unquoted comma inside a value?)"
            )
        }
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8 (save the export as UTF-8)".into(),
        csv::ErrorKind::Io(io) => format!("read error: {io}"),
        _ => e.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HrisRef {
    pub line: u64,
    pub key: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub department: Option<String>,
    pub status: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HrisList {
    pub count: u64,
    pub rows: Vec<HrisRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub key: String,
    pub id: String,
    pub line: u64,
    /// email | name | department | manager
    pub field: String,
    pub hris: String,
    pub drata: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reconciliation {
    pub snapshot_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    pub hris_file: String,
    pub key: String,
    pub hris_rows: u64,
    pub drata_people: u64,
    pub matched: u64,
    /// Active (or on leave) in the HRIS, not in Drata.
    pub missing_from_drata: HrisList,
    /// Active in Drata, with a key, not in the HRIS.
    pub not_in_hris: PeopleList,
    /// Active in Drata without the key (cannot be matched).
    pub drata_without_key: PeopleList,
    /// Terminated in the HRIS, still active in Drata; detail: the termination date.
    pub terminated_but_active: PeopleList,
    pub mismatches: Vec<Mismatch>,
    pub mismatch_counts: BTreeMap<String, u64>,
    /// Keys more than one Drata person has (matched to all of them); detail: the key.
    pub drata_duplicate_keys: PeopleList,
}

fn opt_col(name: &str, v: Vec<Option<String>>) -> Column {
    Column::new(name.into(), v)
}

/// Reconcile the snapshot `snapshot` (`latest` or an id) with `hris`.
pub fn reconcile(
    snaps: &Snapshots,
    snapshot: &str,
    hris_path: &Path,
    hris: &Hris,
    key: Key,
    limit: usize,
) -> Result<Reconciliation, EtlError> {
    let m = snaps.get(snapshot)?;
    let root = &snaps.root;
    let err = polars_err("reconciling with the HRIS file");
    let r = &hris.rows;
    let h = DataFrame::new(
        r.len(),
        vec![
            opt_col("h_key", r.iter().map(|x| Some(x.key.clone())).collect()),
            Column::new("h_line".into(), r.iter().map(|x| x.line as i64).collect::<Vec<_>>()),
            opt_col("h_email", r.iter().map(|x| x.email.clone()).collect()),
            opt_col("h_first_name", r.iter().map(|x| x.first_name.clone()).collect()),
            opt_col("h_last_name", r.iter().map(|x| x.last_name.clone()).collect()),
            opt_col("h_department", r.iter().map(|x| x.department.clone()).collect()),
            opt_col("h_manager_email", r.iter().map(|x| x.manager_email.clone()).collect()),
            opt_col("h_status", r.iter().map(|x| Some(x.status.clone())).collect()),
            opt_col("h_termination_date", r.iter().map(|x| x.termination_date.map(|d| d.to_string())).collect()),
        ],
    )
    .map_err(&err)?
    .lazy();

    let cols: Vec<&str> = [&PERSON_COLS[..], &["is_active", "external_id", "manager_id"][..]].concat();
    let managers = scan(root, m, T::Personnel, &["id", "email"])?
        .select([col("id").alias("mgr_id"), col("email").alias("manager_email")]);
    let key_expr = match key {
        Key::ExternalId => col("external_id").str().strip_chars(lit(NULL)),
        Key::Email => col("email").str().strip_chars(lit(NULL)).str().to_lowercase(),
    };
    let drata = scan(root, m, T::Personnel, &cols)?
        .join(managers, [col("manager_id")], [col("mgr_id")], JoinArgs::new(JoinType::Left))
        .with_columns([key_expr.alias("d_key"), active().alias("d_active"), lit(true).alias("in_drata")]);

    let drata_people = drata.clone().select([len().alias("n")]).collect().map_err(&err)?;
    let drata_people = ints(&drata_people, "n").map_err(&err)?.first().copied().unwrap_or(0);

    // Drata keys held by more than one person.
    let dup = drata
        .clone()
        .filter(col("d_key").is_not_null())
        .group_by([col("d_key")])
        .agg([len().alias("n")])
        .filter(col("n").gt(lit(1)))
        .select([col("d_key")]);
    let df = drata
        .clone()
        .join(dup, [col("d_key")], [col("d_key")], JoinArgs::new(JoinType::Inner))
        .with_column(col("d_key").alias("detail"))
        .collect()
        .map_err(&err)?;
    let drata_duplicate_keys = PeopleList::cut(people(&df).map_err(&err)?, limit);

    // Active Drata people without the key.
    let df = drata.clone().filter(col("d_active").and(col("d_key").is_null())).collect().map_err(&err)?;
    let drata_without_key = PeopleList::cut(people(&df).map_err(&err)?, limit);

    // Active Drata people (with a key) not in the HRIS.
    let hris_keys = h.clone().select([col("h_key"), lit(true).alias("in_hris")]);
    let df = drata
        .clone()
        .filter(col("d_active").and(col("d_key").is_not_null()))
        .join(hris_keys, [col("d_key")], [col("h_key")], JoinArgs::new(JoinType::Left))
        .filter(col("in_hris").is_null())
        .collect()
        .map_err(&err)?;
    let not_in_hris = PeopleList::cut(people(&df).map_err(&err)?, limit);

    // HRIS people (not terminated) missing from Drata.
    let drata_keys = drata.clone().filter(col("d_key").is_not_null()).select([col("d_key"), col("in_drata")]);
    let df = h
        .clone()
        .filter(col("h_status").neq(lit("terminated")))
        .join(drata_keys, [col("h_key")], [col("d_key")], JoinArgs::new(JoinType::Left))
        .filter(col("in_drata").is_null())
        .collect()
        .map_err(&err)?;
    let mut missing: Vec<HrisRef> = {
        let line = ints(&df, "h_line").map_err(&err)?;
        let k = strs(&df, "h_key").map_err(&err)?;
        let e = strs(&df, "h_email").map_err(&err)?;
        let f = strs(&df, "h_first_name").map_err(&err)?;
        let l = strs(&df, "h_last_name").map_err(&err)?;
        let d = strs(&df, "h_department").map_err(&err)?;
        let s = strs(&df, "h_status").map_err(&err)?;
        (0..df.height())
            .map(|i| HrisRef {
                line: line[i],
                key: k[i].unwrap_or_default().to_string(),
                email: e[i].map(str::to_string),
                name: full_name(f[i], l[i]),
                department: d[i].map(str::to_string),
                status: s[i].unwrap_or_default().to_string(),
            })
            .collect()
    };
    missing.sort_by_key(|r| r.line);
    let missing_count = missing.len() as u64;
    if limit > 0 {
        missing.truncate(limit);
    }

    // Matched pairs: terminated-but-active and field mismatches.
    let matched = drata
        .clone()
        .filter(col("d_key").is_not_null())
        .join(h.clone(), [col("d_key")], [col("h_key")], JoinArgs::new(JoinType::Inner))
        .with_column(col("d_key").alias("h_key"));
    let df = matched
        .clone()
        .filter(col("h_status").eq(lit("terminated")).and(col("d_active")))
        .with_column(col("h_termination_date").fill_null(lit("(no date)")).alias("detail"))
        .collect()
        .map_err(&err)?;
    let terminated_but_active = PeopleList::cut(people(&df).map_err(&err)?, limit);
    let matched_df = matched.collect().map_err(&err)?;
    let matched_n = matched_df.height() as u64;

    let mut mismatches = Vec::new();
    {
        let df = &matched_df;
        let g = |c: &str| strs(df, c).map_err(&err);
        let (id, k, line) = (g("id")?, g("h_key")?, ints(df, "h_line").map_err(&err)?);
        let (de, he) = (g("email")?, g("h_email")?);
        let (df_, hf, dl, hl) = (g("first_name")?, g("h_first_name")?, g("last_name")?, g("h_last_name")?);
        let (dd, hd) = (g("department")?, g("h_department")?);
        let (dm, hm) = (g("manager_email")?, g("h_manager_email")?);
        let same = |a: &str, b: Option<&str>| b.is_some_and(|b| a.trim().to_lowercase() == b.trim().to_lowercase());
        for i in 0..df.height() {
            let mut push = |field: &str, hris: &str, drata: Option<String>| {
                mismatches.push(Mismatch {
                    key: k[i].unwrap_or_default().to_string(),
                    id: id[i].unwrap_or_default().to_string(),
                    line: line[i],
                    field: field.to_string(),
                    hris: hris.to_string(),
                    drata,
                })
            };
            if key != Key::Email {
                if let Some(h) = he[i] {
                    if !same(h, de[i]) {
                        push("email", h, de[i].map(str::to_string));
                    }
                }
            }
            if hf[i].is_some() || hl[i].is_some() {
                let first_ok = hf[i].is_none_or(|h| same(h, df_[i]));
                let last_ok = hl[i].is_none_or(|h| same(h, dl[i]));
                if !(first_ok && last_ok) {
                    push("name", &full_name(hf[i], hl[i]).unwrap_or_default(), full_name(df_[i], dl[i]));
                }
            }
            if let Some(h) = hd[i] {
                if !same(h, dd[i]) {
                    push("department", h, dd[i].map(str::to_string));
                }
            }
            if let Some(h) = hm[i] {
                if !same(h, dm[i]) {
                    push("manager", h, dm[i].map(str::to_string));
                }
            }
        }
    }
    mismatches.sort_by(|a, b| a.line.cmp(&b.line).then_with(|| a.field.cmp(&b.field)).then_with(|| a.id.cmp(&b.id)));
    let mut mismatch_counts = BTreeMap::new();
    for x in &mismatches {
        *mismatch_counts.entry(x.field.clone()).or_insert(0u64) += 1;
    }
    if limit > 0 {
        mismatches.truncate(limit);
    }

    Ok(Reconciliation {
        snapshot_id: m.snapshot_id.clone(),
        workspace: m.workspace.clone(),
        hris_file: hris_path.display().to_string(),
        key: key.column().to_string(),
        hris_rows: r.len() as u64,
        drata_people,
        matched: matched_n,
        missing_from_drata: HrisList { count: missing_count, rows: missing },
        not_in_hris,
        drata_without_key,
        terminated_but_active,
        mismatches,
        mismatch_counts,
        drata_duplicate_keys,
    })
}

impl Reconciliation {
    pub fn to_doc(&self) -> Doc {
        let mut facts = vec![
            ("Snapshot".to_string(), self.snapshot_id.clone()),
            ("HRIS file".to_string(), self.hris_file.clone()),
            ("Key".to_string(), self.key.clone()),
            ("HRIS rows".to_string(), self.hris_rows.to_string()),
            ("Drata people".to_string(), self.drata_people.to_string()),
            ("Matched".to_string(), self.matched.to_string()),
        ];
        if let Some(w) = &self.workspace {
            facts.insert(1, ("Workspace".into(), w.clone()));
        }
        let total_mismatches: u64 = self.mismatch_counts.values().sum();
        let mut summary = Table::new(&["finding", "count"]);
        for (name, n) in [
            ("in the HRIS (active or on leave), missing from Drata", self.missing_from_drata.count),
            ("active in Drata, not in the HRIS", self.not_in_hris.count),
            ("terminated in the HRIS, active in Drata", self.terminated_but_active.count),
            ("field mismatches", total_mismatches),
            ("active in Drata without the key", self.drata_without_key.count),
            ("Drata people sharing a key", self.drata_duplicate_keys.count),
        ] {
            summary.row(vec![name.to_string(), n.to_string()]);
        }
        let mut sections = vec![Section::new("Summary").table(summary)];

        let mut t = Table::new(&["line", "key", "email", "name", "department", "status"]);
        for r in &self.missing_from_drata.rows {
            t.row(vec![
                r.line.to_string(),
                r.key.clone(),
                r.email.clone().unwrap_or_default(),
                r.name.clone().unwrap_or_default(),
                r.department.clone().unwrap_or_default(),
                r.status.clone(),
            ]);
        }
        t.more = self.missing_from_drata.count - self.missing_from_drata.rows.len() as u64;
        sections.push(Section::new(format!("Missing from Drata: {}", self.missing_from_drata.count)).table(t));
        sections.push(
            Section::new(format!("Active in Drata, not in the HRIS: {}", self.not_in_hris.count))
                .table(people_table(&self.not_in_hris, None)),
        );
        sections.push(
            Section::new(format!(
                "Terminated in the HRIS, still active in Drata: {}",
                self.terminated_but_active.count
            ))
            .table(people_table(&self.terminated_but_active, Some("termination_date"))),
        );
        let mut t = Table::new(&["line", "key", "field", "HRIS", "Drata", "id"]);
        for x in &self.mismatches {
            t.row(vec![
                x.line.to_string(),
                x.key.clone(),
                x.field.clone(),
                x.hris.clone(),
                x.drata.clone().unwrap_or_else(|| "—".into()),
                x.id.clone(),
            ]);
        }
        t.more = total_mismatches - self.mismatches.len() as u64;
        let counts = ["email", "name", "department", "manager"]
            .iter()
            .map(|f| format!("{f} {}", self.mismatch_counts.get(*f).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(", ");
        sections.push(Section::new(format!("Field mismatches: {total_mismatches}")).para(counts).table(t));
        sections.push(
            Section::new(format!("Active in Drata without {}: {}", self.key, self.drata_without_key.count))
                .table(people_table(&self.drata_without_key, None)),
        );
        if self.drata_duplicate_keys.count > 0 {
            sections.push(
                Section::new(format!("Drata people sharing a {}: {}", self.key, self.drata_duplicate_keys.count))
                    .table(people_table(&self.drata_duplicate_keys, Some("key"))),
            );
        }
        Doc { title: format!("Drata vs HRIS — {}", self.snapshot_id), facts, sections }
    }
}
