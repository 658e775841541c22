//! `drata-etl diff`: what changed between two committed snapshots (Drata has no webhooks, so
//! comparing snapshots is the only way to see change), with lazy Polars joins over the
//! files both manifests list.
//!
//! People are matched by personnel id. Status changes, training completions and background
//! check changes are reported for people present in both snapshots (a new hire's history is
//! not a change); control changes by control id. `--format parquet` writes every change as
//! one row of a flat table (written with arrow-rs, like the snapshot files themselves).

use super::people::{active, inactive, ints, label, people, people_table, strs, PeopleList, PERSON_COLS};
use super::polars_err;
use super::render::{Doc, Section, Table};
use super::snapshot::{scan, Snapshots};
use super::vocab::Vocab;
use crate::error::EtlError;
use crate::load::{Manifest, Table as T};
use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType as ADataType, Field, Schema};
use polars::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotRef {
    pub snapshot_id: String,
    pub run_at: String,
    pub people: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub from: String,
    pub to: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlChange {
    pub id: String,
    pub name: Option<String>,
    /// owner_changed | added | removed
    pub change: String,
    pub from_owner_id: Option<String>,
    pub from_owner_email: Option<String>,
    pub to_owner_id: Option<String>,
    pub to_owner_email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    pub from: SnapshotRef,
    pub to: SnapshotRef,
    pub added: PeopleList,
    pub removed: PeopleList,
    pub deactivated: PeopleList,
    pub reactivated: PeopleList,
    /// Compliance status from -> to, with counts (people in both snapshots).
    pub compliance_transitions: Vec<Transition>,
    /// Detail: `FROM -> TO`.
    pub compliance_changed: PeopleList,
    /// One entry per (person, course) newly COMPLETED; detail: `course (completed_at)`.
    pub trainings_completed: PeopleList,
    /// One entry per background check row that changed; detail: `#n: FROM -> TO`.
    pub background_checks_changed: PeopleList,
    pub control_changes: Vec<ControlChange>,
    pub control_change_count: u64,
}

fn opt(s: Option<&str>) -> String {
    s.unwrap_or("—").to_string()
}

/// Compare snapshots; `limit` people per list (0 = all).
pub fn diff(snaps: &Snapshots, from: Option<&str>, to: Option<&str>, limit: usize) -> Result<Diff, EtlError> {
    let (f, t) = snaps.pair(from, to)?;
    build(&snaps.root, f, t, limit)
}

fn build(root: &Path, fm: &Manifest, tm: &Manifest, limit: usize) -> Result<Diff, EtlError> {
    let v = Vocab::of(tm);
    let what = format!("the diff {} -> {}", fm.snapshot_id, tm.snapshot_id);
    let err = polars_err(&what);
    let cols: Vec<&str> = [&PERSON_COLS[..], &["is_active", "compliance_status"][..]].concat();
    let from_p = scan(root, fm, T::Personnel, &cols)?;
    let to_p = scan(root, tm, T::Personnel, &cols)?;
    let ids_tagged = |lf: &LazyFrame, tag: &str| lf.clone().select([col("id"), lit(true).alias(tag)]);

    let added = to_p
        .clone()
        .join(ids_tagged(&from_p, "in_from"), [col("id")], [col("id")], JoinArgs::new(JoinType::Left))
        .filter(col("in_from").is_null())
        .collect()
        .map_err(&err)?;
    let removed = from_p
        .clone()
        .join(ids_tagged(&to_p, "in_to"), [col("id")], [col("id")], JoinArgs::new(JoinType::Left))
        .filter(col("in_to").is_null())
        .collect()
        .map_err(&err)?;
    let people_from = from_p.clone().select([len().alias("n")]).collect().map_err(&err)?;
    let people_to = to_p.clone().select([len().alias("n")]).collect().map_err(&err)?;
    let count = |df: &DataFrame| ints(df, "n").map(|v| v.first().copied().unwrap_or(0));

    // People in both: the `to` row plus the `from` row's status columns.
    let from_status = from_p.clone().select([
        col("id"),
        active().alias("from_active"),
        inactive().alias("from_inactive"),
        label("compliance_status").alias("from_status"),
    ]);
    let both = to_p.clone().join(from_status, [col("id")], [col("id")], JoinArgs::new(JoinType::Inner));
    let deactivated = both.clone().filter(col("from_active").and(inactive())).collect().map_err(&err)?;
    let reactivated = both.clone().filter(col("from_inactive").and(active())).collect().map_err(&err)?;
    let changed = both
        .clone()
        .with_column(label("compliance_status").alias("to_status"))
        .filter(col("from_status").neq(col("to_status")))
        .collect()
        .map_err(&err)?;
    let mut transitions: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut compliance_changed = people(&changed).map_err(&err)?;
    {
        let f = strs(&changed, "from_status").map_err(&err)?;
        let t = strs(&changed, "to_status").map_err(&err)?;
        for (i, p) in compliance_changed.iter_mut().enumerate() {
            let (f, t) = (opt(f[i]), opt(t[i]));
            p.detail = Some(format!("{f} -> {t}"));
            *transitions.entry((f, t)).or_default() += 1;
        }
    }
    let mut compliance_transitions: Vec<Transition> =
        transitions.into_iter().map(|((from, to), count)| Transition { from, to, count }).collect();
    compliance_transitions.sort_by(|a, b| {
        b.count.cmp(&a.count).then_with(|| (v.rank(&a.from), &a.from, &a.to).cmp(&(v.rank(&b.from), &b.from, &b.to)))
    });

    let in_both = both.clone().select([col("id").alias("personnel_id")]);
    let to_people = scan(root, tm, T::Personnel, &PERSON_COLS)?;

    // Trainings newly completed: (person, course) with a done row now (COMPLETED in the
    // guide, PASS in the real dialects: `vocab`) and none before.
    let completed = |m: &Manifest| -> Result<LazyFrame, EtlError> {
        Ok(scan(root, m, T::PersonnelTraining, &["personnel_id", "name", "status", "completed_at"])?
            .filter(col("status").eq(lit(Vocab::of(m).training_done)))
            .group_by([col("personnel_id"), label("name").alias("course")])
            .agg([col("completed_at").max().cast(DataType::String).alias("completed_at")]))
    };
    let before = completed(fm)?.select([col("personnel_id"), col("course"), lit(true).alias("before")]);
    let df = completed(tm)?
        .join(
            before,
            [col("personnel_id"), col("course")],
            [col("personnel_id"), col("course")],
            JoinArgs::new(JoinType::Left),
        )
        .filter(col("before").is_null())
        .join(in_both.clone(), [col("personnel_id")], [col("personnel_id")], JoinArgs::new(JoinType::Inner))
        .join(to_people.clone(), [col("personnel_id")], [col("id")], JoinArgs::new(JoinType::Inner))
        .with_column(col("personnel_id").alias("id"))
        .collect()
        .map_err(&err)?;
    let mut trainings_completed = people(&df).map_err(&err)?;
    {
        let course = strs(&df, "course").map_err(&err)?;
        let at = strs(&df, "completed_at").map_err(&err)?;
        for (i, p) in trainings_completed.iter_mut().enumerate() {
            p.detail = Some(match at[i] {
                Some(d) => format!("{} ({d})", opt(course[i])),
                None => opt(course[i]),
            });
        }
    }

    // Background check rows that changed, by (person, ordinal).
    let checks = |m: &Manifest, side: &str| -> Result<LazyFrame, EtlError> {
        Ok(scan(root, m, T::PersonnelBackgroundChecks, &["personnel_id", "ordinal", "status", "completed_at"])?.select(
            [
                col("personnel_id"),
                col("ordinal"),
                col("status").alias(format!("{side}_status")),
                col("completed_at").cast(DataType::String).alias(format!("{side}_completed_at")),
                lit(true).alias(format!("in_{side}")),
            ],
        ))
    };
    let keys = || [col("personnel_id"), col("ordinal")];
    let left = JoinArgs::new(JoinType::Left);
    let gone_or_changed = checks(fm, "from")?.join(checks(tm, "to")?, keys(), keys(), left.clone()).filter(
        col("in_to")
            .is_null()
            .or(col("from_status").neq_missing(col("to_status")))
            .or(col("from_completed_at").neq_missing(col("to_completed_at"))),
    );
    let new_rows = checks(tm, "to")?
        .join(checks(fm, "from")?, keys(), keys(), left.clone())
        .filter(col("in_from").is_null())
        .select([
            col("personnel_id"),
            col("ordinal"),
            col("from_status"),
            col("from_completed_at"),
            col("in_to"),
            col("to_status"),
            col("to_completed_at"),
            col("in_from"),
        ]);
    let order = [
        "personnel_id",
        "ordinal",
        "from_status",
        "from_completed_at",
        "in_from",
        "to_status",
        "to_completed_at",
        "in_to",
    ];
    let select = |lf: LazyFrame| lf.select(order.iter().map(|c| col(*c)).collect::<Vec<_>>());
    let df = concat([select(gone_or_changed), select(new_rows)], UnionArgs::default())
        .map_err(&err)?
        .join(in_both.clone(), [col("personnel_id")], [col("personnel_id")], JoinArgs::new(JoinType::Inner))
        .join(to_people.clone(), [col("personnel_id")], [col("id")], JoinArgs::new(JoinType::Inner))
        .with_column(col("personnel_id").alias("id"))
        .collect()
        .map_err(&err)?;
    let mut background_checks_changed = people(&df).map_err(&err)?;
    {
        let ord = ints(&df, "ordinal").map_err(&err)?;
        let side = |prefix: &str| -> PolarsResult<Vec<String>> {
            let present: Vec<Option<bool>> = df.column(&format!("in_{prefix}"))?.bool()?.iter().collect();
            let st = strs(&df, &format!("{prefix}_status"))?;
            let at = strs(&df, &format!("{prefix}_completed_at"))?;
            Ok((0..df.height())
                .map(|i| match (present[i], at[i]) {
                    (None, _) => "(none)".to_string(),
                    (Some(_), Some(d)) => format!("{} {d}", opt(st[i])),
                    (Some(_), None) => opt(st[i]),
                })
                .collect())
        };
        let (f, t) = (side("from").map_err(&err)?, side("to").map_err(&err)?);
        for (i, p) in background_checks_changed.iter_mut().enumerate() {
            p.detail = Some(format!("#{}: {} -> {}", ord[i], f[i], t[i]));
        }
    }

    // Controls: owner changed, added, removed.
    let controls = |m: &Manifest, side: &str| -> Result<LazyFrame, EtlError> {
        let emails = scan(root, m, T::Personnel, &["id", "email"])?
            .select([col("id").alias("owner"), col("email").alias(format!("{side}_owner_email"))]);
        Ok(scan(root, m, T::Controls, &["id", "name", "owner_id"])?
            .join(emails, [col("owner_id")], [col("owner")], JoinArgs::new(JoinType::Left))
            .select([
                col("id"),
                col("name").alias(format!("{side}_name")),
                col("owner_id").alias(format!("{side}_owner_id")),
                col(format!("{side}_owner_email")),
                lit(true).alias(format!("in_{side}")),
            ]))
    };
    let df_to = controls(tm, "to")?
        .join(controls(fm, "from")?, [col("id")], [col("id")], left.clone())
        .filter(col("in_from").is_null().or(col("from_owner_id").neq_missing(col("to_owner_id"))))
        .collect()
        .map_err(&err)?;
    let df_gone = controls(fm, "from")?
        .join(controls(tm, "to")?, [col("id")], [col("id")], left)
        .filter(col("in_to").is_null())
        .collect()
        .map_err(&err)?;
    let mut control_changes = Vec::new();
    for (df, removed_side) in [(&df_to, false), (&df_gone, true)] {
        let id = strs(df, "id").map_err(&err)?;
        let fname = strs(df, "from_name").map_err(&err)?;
        let tname = strs(df, "to_name").map_err(&err)?;
        let fo = strs(df, "from_owner_id").map_err(&err)?;
        let fe = strs(df, "from_owner_email").map_err(&err)?;
        let to = strs(df, "to_owner_id").map_err(&err)?;
        let te = strs(df, "to_owner_email").map_err(&err)?;
        let in_from: Vec<Option<bool>> = df.column("in_from").map_err(&err)?.bool().map_err(&err)?.iter().collect();
        for i in 0..df.height() {
            let change = if removed_side {
                "removed"
            } else if in_from[i].is_none() {
                "added"
            } else {
                "owner_changed"
            };
            control_changes.push(ControlChange {
                id: id[i].unwrap_or_default().to_string(),
                name: tname[i].or(fname[i]).map(str::to_string),
                change: change.to_string(),
                from_owner_id: fo[i].map(str::to_string),
                from_owner_email: fe[i].map(str::to_string),
                to_owner_id: to[i].map(str::to_string),
                to_owner_email: te[i].map(str::to_string),
            });
        }
    }
    control_changes.sort_by(|a, b| a.change.cmp(&b.change).then_with(|| a.id.cmp(&b.id)));
    let control_change_count = control_changes.len() as u64;
    if limit > 0 {
        control_changes.truncate(limit);
    }

    Ok(Diff {
        workspace: tm.workspace.clone(),
        from: SnapshotRef {
            snapshot_id: fm.snapshot_id.clone(),
            run_at: fm.run_at.clone(),
            people: count(&people_from).map_err(&err)?,
        },
        to: SnapshotRef {
            snapshot_id: tm.snapshot_id.clone(),
            run_at: tm.run_at.clone(),
            people: count(&people_to).map_err(&err)?,
        },
        added: PeopleList::cut(people(&added).map_err(&err)?, limit),
        removed: PeopleList::cut(people(&removed).map_err(&err)?, limit),
        deactivated: PeopleList::cut(people(&deactivated).map_err(&err)?, limit),
        reactivated: PeopleList::cut(people(&reactivated).map_err(&err)?, limit),
        compliance_transitions,
        compliance_changed: PeopleList::cut(compliance_changed, limit),
        trainings_completed: PeopleList::cut(trainings_completed, limit),
        background_checks_changed: PeopleList::cut(background_checks_changed, limit),
        control_changes,
        control_change_count,
    })
}

impl Diff {
    pub fn to_doc(&self) -> Doc {
        let mut facts = vec![
            ("From".to_string(), format!("{} ({} people)", self.from.snapshot_id, self.from.people)),
            ("To".to_string(), format!("{} ({} people)", self.to.snapshot_id, self.to.people)),
        ];
        if let Some(w) = &self.workspace {
            facts.push(("Workspace".into(), w.clone()));
        }
        let mut summary = Table::new(&["change", "count"]);
        for (name, n) in [
            ("people added", self.added.count),
            ("people removed", self.removed.count),
            ("deactivated", self.deactivated.count),
            ("reactivated", self.reactivated.count),
            ("compliance status changed", self.compliance_changed.count),
            ("trainings completed", self.trainings_completed.count),
            ("background checks changed", self.background_checks_changed.count),
            ("control changes", self.control_change_count),
        ] {
            summary.row(vec![name.to_string(), n.to_string()]);
        }
        let mut sections = vec![Section::new("Summary").table(summary)];
        for (title, list, detail) in [
            ("People added", &self.added, None),
            ("People removed", &self.removed, None),
            ("Deactivated (active -> inactive)", &self.deactivated, None),
            ("Reactivated (inactive -> active)", &self.reactivated, None),
        ] {
            sections.push(Section::new(format!("{title}: {}", list.count)).table(people_table(list, detail)));
        }
        let mut t = Table::new(&["from", "to", "people"]);
        for tr in &self.compliance_transitions {
            t.row(vec![tr.from.clone(), tr.to.clone(), tr.count.to_string()]);
        }
        sections.push(
            Section::new(format!("Compliance status transitions: {}", self.compliance_changed.count))
                .table(t)
                .table(people_table(&self.compliance_changed, Some("from -> to"))),
        );
        sections.push(
            Section::new(format!("Trainings completed: {}", self.trainings_completed.count))
                .table(people_table(&self.trainings_completed, Some("course (completed_at)"))),
        );
        sections.push(
            Section::new(format!("Background checks changed: {}", self.background_checks_changed.count))
                .table(people_table(&self.background_checks_changed, Some("check: from -> to"))),
        );
        let mut t = Table::new(&["change", "id", "name", "from owner", "to owner"]);
        let owner = |id: &Option<String>, email: &Option<String>| match (id, email) {
            (None, _) => "—".to_string(),
            (Some(i), None) => i.clone(),
            (Some(_), Some(e)) => e.clone(),
        };
        for c in &self.control_changes {
            t.row(vec![
                c.change.clone(),
                c.id.clone(),
                c.name.clone().unwrap_or_default(),
                owner(&c.from_owner_id, &c.from_owner_email),
                owner(&c.to_owner_id, &c.to_owner_email),
            ]);
        }
        t.more = self.control_change_count - self.control_changes.len() as u64;
        sections.push(Section::new(format!("Control ownership changes: {}", self.control_change_count)).table(t));
        Doc {
            title: format!("Drata snapshot diff — {} -> {}", self.from.snapshot_id, self.to.snapshot_id),
            facts,
            sections,
        }
    }

    /// Every change as one row (compute with limit 0 first): the `--format parquet` table.
    pub fn change_rows(&self) -> Vec<[Option<String>; 8]> {
        let mut rows = Vec::new();
        let mut push = |change: &str, list: &PeopleList, field: Option<&str>, split: bool| {
            for p in &list.people {
                let (from, to) = match (&p.detail, split) {
                    (Some(d), true) => match d.split_once(" -> ") {
                        Some((f, t)) => (Some(f.to_string()), Some(t.to_string())),
                        None => (None, Some(d.clone())),
                    },
                    (d, _) => (None, d.clone()),
                };
                rows.push([
                    Some(change.to_string()),
                    Some("person".to_string()),
                    Some(p.id.clone()),
                    p.email.clone(),
                    p.name.clone(),
                    field.map(str::to_string),
                    from,
                    to,
                ]);
            }
        };
        push("added", &self.added, None, false);
        push("removed", &self.removed, None, false);
        push("deactivated", &self.deactivated, Some("is_active"), false);
        push("reactivated", &self.reactivated, Some("is_active"), false);
        push("compliance_changed", &self.compliance_changed, Some("compliance_status"), true);
        push("training_completed", &self.trainings_completed, Some("training"), false);
        push("background_check_changed", &self.background_checks_changed, Some("background_check"), true);
        for r in rows.iter_mut() {
            match r[0].as_deref() {
                Some("deactivated") => (r[6], r[7]) = (Some("true".into()), Some("false".into())),
                Some("reactivated") => (r[6], r[7]) = (Some("false".into()), Some("true".into())),
                _ => {}
            }
        }
        for c in &self.control_changes {
            rows.push([
                Some(format!("control_{}", c.change)),
                Some("control".to_string()),
                Some(c.id.clone()),
                None,
                c.name.clone(),
                Some("owner_id".to_string()),
                c.from_owner_id.clone(),
                c.to_owner_id.clone(),
            ]);
        }
        rows
    }

    /// The change table as Parquet bytes (zstd), one row per change; columns documented in
    /// the README: change, entity, id, email, name, field, from_value, to_value, plus the two
    /// snapshot ids.
    pub fn to_parquet(&self) -> Result<Vec<u8>, EtlError> {
        let rows = self.change_rows();
        let names = ["change", "entity", "id", "email", "name", "field", "from_value", "to_value"];
        // change, entity and id are always set; the rest may be null.
        let mut fields: Vec<Field> =
            names.iter().enumerate().map(|(i, n)| Field::new(*n, ADataType::Utf8, i > 2)).collect();
        fields.push(Field::new("from_snapshot_id", ADataType::Utf8, false));
        fields.push(Field::new("to_snapshot_id", ADataType::Utf8, false));
        let mut cols: Vec<ArrayRef> = (0..names.len())
            .map(|i| Arc::new(StringArray::from_iter(rows.iter().map(|r| r[i].as_deref()))) as ArrayRef)
            .collect();
        cols.push(Arc::new(StringArray::from(vec![self.from.snapshot_id.as_str(); rows.len()])));
        cols.push(Arc::new(StringArray::from(vec![self.to.snapshot_id.as_str(); rows.len()])));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(|e| {
            EtlError::new(crate::error::FailureKind::CannotWrite, format!("building the change table: {e}"))
        })?;
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::ZSTD(
                parquet::basic::ZstdLevel::try_new(3).expect("valid level"),
            ))
            .build();
        let mut buf = Vec::new();
        let write = |buf: &mut Vec<u8>| -> Result<(), parquet::errors::ParquetError> {
            let mut w = parquet::arrow::ArrowWriter::try_new(buf, batch.schema(), Some(props))?;
            w.write(&batch)?;
            w.close()?;
            Ok(())
        };
        write(&mut buf).map_err(|e| EtlError::cannot_write(format!("writing the change table: {e}")))?;
        Ok(buf)
    }
}
