//! `drata-etl report`: the compliance questions about one committed snapshot, answered with
//! lazy Polars queries over the files its manifest lists.
//!
//! Conventions (also in the README): a person is active unless `is_active` is false (the
//! API's default is true); "inactive" means `is_active = false`. People whose training or
//! background-check fetch did not end `ok` have unknown child rows: they are counted apart,
//! never reported as missing a training or check. Lists are sorted by email, then id, and
//! cut at `--limit` (counts are always exact).

use super::people::{
    active, days_since_epoch, inactive, ints, label, people, people_list, people_table, strs, PeopleList, PersonRef,
    NONE_LABEL, PERSON_COLS,
};
use super::render::{Chart, Doc, Section, Table};
use super::snapshot::{scan, table_files, Snapshots};
use super::vocab::Vocab;
use super::{pct, polars_err};
use crate::error::EtlError;
use crate::load::org::OrgGraph;
use crate::load::{Manifest, Table as T};
use chrono::NaiveDate;
use polars::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Headcount {
    pub employment_type: String,
    pub active: u64,
    pub inactive: u64,
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DepartmentCompliance {
    pub department: String,
    pub active: u64,
    /// Status -> active people with it.
    pub statuses: BTreeMap<String, u64>,
    pub compliant_pct: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CourseCompletion {
    pub course: String,
    /// Active people (training list known) with at least one row of this course.
    pub assigned: u64,
    /// ... of whom at least one row is done (COMPLETED; PASS in the real dialects).
    pub completed: u64,
    pub completed_pct: f64,
    pub not_completed: PeopleList,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlProblem {
    pub id: String,
    pub name: Option<String>,
    pub owner_id: Option<String>,
    pub owner_email: Option<String>,
    /// no_owner | owner_inactive | owner_unknown
    pub problem: String,
}

/// Real dialects: how many active non-compliant people fail one compliance check type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailingCheck {
    /// The compliance check type (ANTIVIRUS, BG_CHECK, SECURITY_TRAINING, ...).
    pub check_type: String,
    /// Active non-compliant people whose check of this type is not compliant.
    pub people: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub snapshot_id: String,
    /// The API dialect the snapshot was read from (it decides what statuses mean: `vocab`).
    pub api_dialect: String,
    pub snapshot_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    pub run_at: String,
    pub people: u64,
    pub active: u64,
    pub inactive: u64,
    pub headcount: Vec<Headcount>,
    pub compliance_status: BTreeMap<String, u64>,
    pub compliance_by_department: Vec<DepartmentCompliance>,
    /// Real dialects: each person's detail is the check types they fail, comma-separated.
    pub non_compliant_active: PeopleList,
    /// Real dialects: why people are non-compliant, by failing check type (most first).
    /// Empty for guide snapshots, which carry no compliance checks.
    pub failing_checks: Vec<FailingCheck>,
    pub inactive_without_end_date: PeopleList,
    pub active_past_end_date: PeopleList,
    pub trainings: Vec<CourseCompletion>,
    /// Active people whose training list could not be fetched (left out above).
    pub training_unknown: u64,
    pub without_passed_background_check: PeopleList,
    pub background_check_unknown: u64,
    pub controls: u64,
    pub control_problems: Vec<ControlProblem>,
    pub control_problem_counts: BTreeMap<String, u64>,
    /// personnel_org (the committed table) or derived (computed now: older snapshot).
    pub org_source: String,
    pub dangling_manager: PeopleList,
    pub manager_cycles: PeopleList,
    /// v1/v2 snapshots: devices, policies and identities (`real_report`); absent for guide
    /// snapshots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub real: Option<super::real_report::RealFindings>,
}

/// Options of one report.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// People listed per list; 0 = all.
    pub limit: usize,
}

/// Compute the report of `snapshot` (`latest` or an id).
pub fn report(snaps: &Snapshots, snapshot: &str, opts: &ReportOptions) -> Result<Report, EtlError> {
    let m = snaps.get(snapshot)?;
    build(&snaps.root, m, opts)
}

fn build(root: &Path, m: &Manifest, opts: &ReportOptions) -> Result<Report, EtlError> {
    let what = format!("the report on snapshot {}", m.snapshot_id);
    let err = polars_err(&what);
    let limit = opts.limit;
    let v = Vocab::of(m);
    let personnel = |cols: &[&str]| scan(root, m, T::Personnel, cols);
    let snapshot_day = NaiveDate::parse_from_str(&m.snapshot_date, "%Y-%m-%d")
        .map(days_since_epoch)
        .map_err(|e| EtlError::new(crate::error::FailureKind::DataInvalid, format!("manifest snapshot_date: {e}")))?;

    // Headcount by employment type and active/inactive.
    let df = personnel(&["employment_type", "is_active"])?
        .group_by([label("employment_type").alias("employment_type")])
        .agg([len().alias("total"), inactive().cast(DataType::Int64).sum().alias("inactive")])
        .collect()
        .map_err(&err)?;
    let mut headcount: Vec<Headcount> = {
        let (t, total, inact) = (strs(&df, "employment_type"), ints(&df, "total"), ints(&df, "inactive"));
        let (t, total, inact) = (t.map_err(&err)?, total.map_err(&err)?, inact.map_err(&err)?);
        (0..df.height())
            .map(|i| Headcount {
                employment_type: t[i].unwrap_or(NONE_LABEL).to_string(),
                active: total[i] - inact[i],
                inactive: inact[i],
                total: total[i],
            })
            .collect()
    };
    headcount.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.employment_type.cmp(&b.employment_type)));
    let people_n: u64 = headcount.iter().map(|h| h.total).sum();
    let inactive_n: u64 = headcount.iter().map(|h| h.inactive).sum();

    // Compliance status by department (active people).
    let df = personnel(&["department", "compliance_status", "is_active"])?
        .filter(active())
        .group_by([label("department").alias("department"), label("compliance_status").alias("status")])
        .agg([len().alias("n")])
        .collect()
        .map_err(&err)?;
    let mut by_dept: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut compliance_status: BTreeMap<String, u64> = BTreeMap::new();
    {
        let (d, s, n) =
            (strs(&df, "department").map_err(&err)?, strs(&df, "status").map_err(&err)?, ints(&df, "n").map_err(&err)?);
        for i in 0..df.height() {
            let status = s[i].unwrap_or(NONE_LABEL).to_string();
            *by_dept.entry(d[i].unwrap_or(NONE_LABEL).to_string()).or_default().entry(status.clone()).or_default() +=
                n[i];
            *compliance_status.entry(status).or_default() += n[i];
        }
    }
    let mut compliance_by_department: Vec<DepartmentCompliance> = by_dept
        .into_iter()
        .map(|(department, statuses)| {
            let active: u64 = statuses.values().sum();
            let compliant = statuses.get(v.compliant).copied().unwrap_or(0);
            DepartmentCompliance { department, active, compliant_pct: pct(compliant, active), statuses }
        })
        .collect();
    compliance_by_department.sort_by(|a, b| b.active.cmp(&a.active).then_with(|| a.department.cmp(&b.department)));

    // Active people who are not compliant; in real dialects, with the check types they fail.
    let non_compliant = personnel(&[&PERSON_COLS[..], &["is_active", "compliance_status"]].concat())?
        .filter(active().and(v.is_non_compliant("compliance_status")));
    let (non_compliant_active, failing_checks) =
        if v.has_checks && m.tables.contains_key(T::PersonnelComplianceChecks.name()) {
            let failing = scan(root, m, T::PersonnelComplianceChecks, &["personnel_id", "type", "status"])?
                .filter(v.is_non_compliant("status").and(col("type").neq(lit("FULL_COMPLIANCE"))))
                .join(
                    non_compliant.clone().select([col("id")]),
                    [col("personnel_id")],
                    [col("id")],
                    JoinArgs::new(JoinType::Inner),
                )
                .select([col("personnel_id"), label("type").alias("check_type")]);
            let pairs = failing.unique(None, UniqueKeepStrategy::First).collect().map_err(&err)?;
            let (who, what) = (strs(&pairs, "personnel_id").map_err(&err)?, strs(&pairs, "check_type").map_err(&err)?);
            let mut by_person: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
            let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
            for (p, t) in who.iter().zip(&what) {
                let (p, t) = (p.unwrap_or_default(), t.unwrap_or(NONE_LABEL));
                by_person.entry(p).or_default().insert(t);
                *by_type.entry(t).or_default() += 1;
            }
            let mut failing_checks: Vec<FailingCheck> =
                by_type.into_iter().map(|(t, n)| FailingCheck { check_type: t.to_string(), people: n }).collect();
            failing_checks.sort_by(|a, b| b.people.cmp(&a.people).then_with(|| a.check_type.cmp(&b.check_type)));
            let mut list = people(&non_compliant.collect().map_err(&err)?).map_err(&err)?;
            for p in &mut list {
                p.detail = by_person.get(p.id.as_str()).map(|t| t.iter().copied().collect::<Vec<_>>().join(", "));
            }
            (PeopleList::cut(list, limit), failing_checks)
        } else {
            (people_list(&non_compliant.collect().map_err(&err)?, limit).map_err(&err)?, Vec::new())
        };

    // Offboarding gaps.
    let df = personnel(&[&PERSON_COLS[..], &["is_active", "end_date"]].concat())?
        .filter(inactive().and(col("end_date").is_null()))
        .collect()
        .map_err(&err)?;
    let inactive_without_end_date = people_list(&df, limit).map_err(&err)?;
    let df = personnel(&[&PERSON_COLS[..], &["is_active", "end_date"]].concat())?
        .filter(active().and(col("end_date").cast(DataType::Int32).lt(lit(snapshot_day))))
        .with_column(col("end_date").cast(DataType::String).alias("detail"))
        .collect()
        .map_err(&err)?;
    let active_past_end_date = people_list(&df, limit).map_err(&err)?;

    // Training completion per course among active people whose training list is known.
    let known = |fetch: &str| {
        personnel(&["id", "is_active", fetch])
            .map(|lf| lf.filter(active()).with_column(col(fetch).eq(lit("ok")).alias("known")))
    };
    let df = known("training_fetch_status")?
        .filter(col("known").not())
        .select([len().alias("n")])
        .collect()
        .map_err(&err)?;
    let training_unknown = ints(&df, "n").map_err(&err)?.first().copied().unwrap_or(0);
    let per_person_course = scan(root, m, T::PersonnelTraining, &["personnel_id", "name", "status"])?
        .join(
            known("training_fetch_status")?.filter(col("known")).select([col("id")]),
            [col("personnel_id")],
            [col("id")],
            JoinArgs::new(JoinType::Inner),
        )
        .group_by([col("personnel_id"), label("name").alias("course")])
        .agg([col("status").eq(lit(v.training_done)).fill_null(lit(false)).cast(DataType::Int32).max().alias("done")]);
    let df = per_person_course
        .clone()
        .group_by([col("course")])
        .agg([len().alias("assigned"), col("done").cast(DataType::Int64).sum().alias("completed")])
        .collect()
        .map_err(&err)?;
    let not_done = per_person_course
        .filter(col("done").eq(lit(0)))
        .join(personnel(&PERSON_COLS)?, [col("personnel_id")], [col("id")], JoinArgs::new(JoinType::Inner))
        .select([
            col("personnel_id").alias("id"),
            col("email"),
            col("first_name"),
            col("last_name"),
            col("department"),
            col("course"),
        ])
        .collect()
        .map_err(&err)?;
    let mut trainings = Vec::new();
    {
        let (c, a, d) = (
            strs(&df, "course").map_err(&err)?,
            ints(&df, "assigned").map_err(&err)?,
            ints(&df, "completed").map_err(&err)?,
        );
        let courses_of_not_done = strs(&not_done, "course").map_err(&err)?;
        let all_not_done = people(&not_done).map_err(&err)?;
        for i in 0..df.height() {
            let course = c[i].unwrap_or(NONE_LABEL).to_string();
            let mut list: Vec<PersonRef> = all_not_done
                .iter()
                .zip(&courses_of_not_done)
                .filter(|(_, c)| c.unwrap_or(NONE_LABEL) == course)
                .map(|(p, _)| p.clone())
                .collect();
            list.sort_by(|a, b| a.email.cmp(&b.email).then_with(|| a.id.cmp(&b.id)));
            let count = list.len() as u64;
            if limit > 0 {
                list.truncate(limit);
            }
            trainings.push(CourseCompletion {
                course,
                assigned: a[i],
                completed: d[i],
                completed_pct: pct(d[i], a[i]),
                not_completed: PeopleList { count, people: list },
            });
        }
    }
    trainings.sort_by(|a, b| a.course.cmp(&b.course));

    // Active people (check list known) without a passed (PASSED; OK in the real dialects)
    // background check.
    let df = known("background_check_fetch_status")?
        .filter(col("known").not())
        .select([len().alias("n")])
        .collect()
        .map_err(&err)?;
    let background_check_unknown = ints(&df, "n").map_err(&err)?.first().copied().unwrap_or(0);
    let passed = scan(root, m, T::PersonnelBackgroundChecks, &["personnel_id", "status"])?
        .filter(col("status").eq(lit(v.check_passed)))
        .group_by([col("personnel_id")])
        .agg([len().alias("passed")]);
    let df = personnel(&[&PERSON_COLS[..], &["is_active", "background_check_fetch_status"]].concat())?
        .filter(active().and(col("background_check_fetch_status").eq(lit("ok"))))
        .join(passed, [col("id")], [col("personnel_id")], JoinArgs::new(JoinType::Left))
        .filter(col("passed").is_null())
        .collect()
        .map_err(&err)?;
    let without_passed_background_check = people_list(&df, limit).map_err(&err)?;

    // Controls with no owner, or owned by an inactive or unknown person.
    let owners = personnel(&["id", "email", "is_active"])?.with_column(lit(true).alias("owner_known"));
    let df = scan(root, m, T::Controls, &["id", "name", "owner_id"])?
        .join(owners, [col("owner_id")], [col("id")], JoinArgs::new(JoinType::Left))
        .collect()
        .map_err(&err)?;
    let controls = df.height() as u64;
    let mut control_problems = Vec::new();
    {
        let id = strs(&df, "id").map_err(&err)?;
        let name = strs(&df, "name").map_err(&err)?;
        let owner = strs(&df, "owner_id").map_err(&err)?;
        let email = strs(&df, "email").map_err(&err)?;
        let known: Vec<Option<bool>> = df.column("owner_known").map_err(&err)?.bool().map_err(&err)?.iter().collect();
        let act: Vec<Option<bool>> = df.column("is_active").map_err(&err)?.bool().map_err(&err)?.iter().collect();
        for i in 0..df.height() {
            let problem = if owner[i].is_none() {
                "no_owner"
            } else if known[i] != Some(true) {
                "owner_unknown"
            } else if act[i] == Some(false) {
                "owner_inactive"
            } else {
                continue;
            };
            control_problems.push(ControlProblem {
                id: id[i].unwrap_or_default().to_string(),
                name: name[i].map(str::to_string),
                owner_id: owner[i].map(str::to_string),
                owner_email: email[i].map(str::to_string),
                problem: problem.to_string(),
            });
        }
    }
    control_problems.sort_by(|a, b| a.problem.cmp(&b.problem).then_with(|| a.id.cmp(&b.id)));
    let mut control_problem_counts = BTreeMap::new();
    for p in &control_problems {
        *control_problem_counts.entry(p.problem.clone()).or_insert(0u64) += 1;
    }
    if limit > 0 {
        control_problems.truncate(limit);
    }

    // Manager references that dangle or form a cycle.
    let (org_source, dangling_manager, manager_cycles) = org_anomalies(root, m, limit)?;
    let real = super::real_report::findings(root, m, limit, snapshot_day)?;

    Ok(Report {
        snapshot_id: m.snapshot_id.clone(),
        api_dialect: m.api_dialect.clone(),
        snapshot_date: m.snapshot_date.clone(),
        workspace: m.workspace.clone(),
        run_at: m.run_at.clone(),
        people: people_n,
        active: people_n - inactive_n,
        inactive: inactive_n,
        headcount,
        compliance_status,
        compliance_by_department,
        non_compliant_active,
        failing_checks,
        inactive_without_end_date,
        active_past_end_date,
        trainings,
        training_unknown,
        without_passed_background_check,
        background_check_unknown,
        controls,
        control_problems,
        control_problem_counts,
        org_source,
        dangling_manager,
        manager_cycles,
        real,
    })
}

/// Dangling manager references (detail: the unknown manager id) and people on cycles
/// (detail: the chain, `a > b > a`), from `personnel_org` when the snapshot has it; for
/// older snapshots the same graph code derives it now from their personnel files.
fn org_anomalies(root: &Path, m: &Manifest, limit: usize) -> Result<(String, PeopleList, PeopleList), EtlError> {
    let err = polars_err("reading personnel_org");
    let (source, org) = if m.tables.contains_key(T::PersonnelOrg.name()) {
        let df = scan(root, m, T::PersonnelOrg, &["id", "manager_id", "chain", "manager_dangling", "in_cycle"])?
            .filter(col("manager_dangling").or(col("in_cycle")))
            .collect()
            .map_err(&err)?;
        let ids = strs(&df, "id").map_err(&err)?;
        let managers = strs(&df, "manager_id").map_err(&err)?;
        let dangling: Vec<Option<bool>> =
            df.column("manager_dangling").map_err(&err)?.bool().map_err(&err)?.iter().collect();
        let chains = df.column("chain").map_err(&err)?.list().map_err(&err)?.clone();
        let mut rows = Vec::new();
        for i in 0..df.height() {
            let chain: Vec<String> = match chains.get_as_series(i) {
                Some(s) => s.str().map_err(&err)?.iter().map(|v| v.unwrap_or_default().to_string()).collect(),
                None => Vec::new(),
            };
            rows.push((
                ids[i].unwrap_or_default().to_string(),
                managers[i].map(str::to_string),
                dangling[i] == Some(true),
                chain,
            ));
        }
        ("personnel_org".to_string(), rows)
    } else {
        let files = table_files(root, m, T::Personnel).unwrap_or_default();
        let g = OrgGraph::from_personnel_files(&files)?;
        let rows = (0..g.len())
            .map(|i| g.row(i))
            .filter(|r| r.manager_dangling || r.in_cycle)
            .map(|r| (r.id, r.manager_id, r.manager_dangling, r.chain))
            .collect();
        ("derived".to_string(), rows)
    };
    // Names and emails from personnel.
    let ids: Vec<&str> = org.iter().map(|r| r.0.as_str()).collect();
    let wanted = DataFrame::new(ids.len(), vec![Column::new("id".into(), &ids)]).map_err(&err)?;
    let df = scan(root, m, T::Personnel, &PERSON_COLS)?
        .join(wanted.lazy(), [col("id")], [col("id")], JoinArgs::new(JoinType::Inner))
        .collect()
        .map_err(&err)?;
    let by_id: std::collections::HashMap<String, PersonRef> =
        people(&df).map_err(&err)?.into_iter().map(|p| (p.id.clone(), p)).collect();
    let person = |id: &str, detail: String| {
        let mut p = by_id.get(id).cloned().unwrap_or(PersonRef {
            id: id.to_string(),
            email: None,
            name: None,
            department: None,
            detail: None,
        });
        p.detail = Some(detail);
        p
    };
    let mut dangling = Vec::new();
    let mut cycles = Vec::new();
    for (id, manager, is_dangling, chain) in &org {
        if *is_dangling {
            dangling.push(person(id, manager.clone().unwrap_or_default()));
        } else {
            cycles.push(person(id, chain.join(" > ")));
        }
    }
    Ok((source, PeopleList::cut(dangling, limit), PeopleList::cut(cycles, limit)))
}

// ------------------------------------------------------------------------------------------
// Rendering
// ------------------------------------------------------------------------------------------

impl Report {
    pub fn to_doc(&self) -> Doc {
        let mut facts = vec![
            ("Snapshot".to_string(), format!("{} ({})", self.snapshot_id, self.snapshot_date)),
            ("Run time".to_string(), self.run_at.clone()),
        ];
        if let Some(w) = &self.workspace {
            facts.push(("Workspace".into(), w.clone()));
        }
        facts.push(("People".into(), format!("{} ({} active, {} inactive)", self.people, self.active, self.inactive)));
        let mut sections = Vec::new();

        let mut t = Table::new(&["employment type", "active", "inactive", "total"]);
        for h in &self.headcount {
            t.row(vec![h.employment_type.clone(), h.active.to_string(), h.inactive.to_string(), h.total.to_string()]);
        }
        t.row(vec!["all".into(), self.active.to_string(), self.inactive.to_string(), self.people.to_string()]);
        sections.push(
            Section::new("Headcount by employment type")
                .para("Active unless is_active is false (the API's default is true).")
                .chart(Chart {
                    title: "People by employment type (active / inactive)".into(),
                    series: vec!["active".into(), "inactive".into()],
                    rows: self
                        .headcount
                        .iter()
                        .map(|h| (h.employment_type.clone(), vec![h.active as f64, h.inactive as f64]))
                        .collect(),
                    percent: false,
                })
                .table(t),
        );

        let statuses: Vec<String> = {
            let mut s: Vec<String> = self.compliance_status.keys().cloned().collect();
            let v = Vocab::of_dialect(&self.api_dialect);
            s.sort_by_key(|k| (v.rank(k), k.clone()));
            s
        };
        let mut cols = vec!["department".to_string(), "active".to_string()];
        for s in &statuses {
            cols.push(s.clone());
            cols.push(format!("{s} %"));
        }
        let mut t = Table { columns: cols, rows: Vec::new(), more: 0 };
        for d in &self.compliance_by_department {
            let mut row = vec![d.department.clone(), d.active.to_string()];
            for s in &statuses {
                let n = d.statuses.get(s).copied().unwrap_or(0);
                row.push(n.to_string());
                row.push(format!("{:.1}%", pct(n, d.active)));
            }
            t.row(row);
        }
        let mut row = vec!["all".to_string(), self.active.to_string()];
        for s in &statuses {
            let n = self.compliance_status.get(s).copied().unwrap_or(0);
            row.push(n.to_string());
            row.push(format!("{:.1}%", pct(n, self.active)));
        }
        t.row(row);
        sections.push(
            Section::new("Compliance status by department (active people)")
                .chart(Chart {
                    title: "Share of active people by compliance status".into(),
                    series: statuses.clone(),
                    rows: self
                        .compliance_by_department
                        .iter()
                        .map(|d| {
                            (
                                d.department.clone(),
                                statuses
                                    .iter()
                                    .map(|s| pct(d.statuses.get(s).copied().unwrap_or(0), d.active))
                                    .collect(),
                            )
                        })
                        .collect(),
                    percent: true,
                })
                .table(t),
        );

        let v = Vocab::of_dialect(&self.api_dialect);
        let mut s = Section::new(format!(
            "Active people who are {}: {}",
            v.non_compliant.join(" or "),
            self.non_compliant_active.count
        ));
        if v.has_checks {
            s = s.para(
                "Status is the FULL_COMPLIANCE check; the detail lists the other compliance checks each person fails.",
            );
        }
        sections.push(s.table(people_table(&self.non_compliant_active, v.has_checks.then_some("failing checks"))));
        if !self.failing_checks.is_empty() {
            let mut t = Table::new(&["compliance check", "people failing it"]);
            for f in &self.failing_checks {
                t.row(vec![f.check_type.clone(), f.people.to_string()]);
            }
            sections.push(
                Section::new("Why people are not compliant: failing compliance checks")
                    .para("Active non-compliant people per check type they fail (a person may fail several).")
                    .table(t),
            );
        }
        sections.push(
            Section::new(format!(
                "Offboarding gaps: {} inactive without end_date, {} active past end_date",
                self.inactive_without_end_date.count, self.active_past_end_date.count
            ))
            .para(format!("Inactive (is_active = false) without an end_date: {}", self.inactive_without_end_date.count))
            .table(people_table(&self.inactive_without_end_date, None))
            .para(format!(
                "Still active although end_date is before the snapshot date ({}): {}",
                self.snapshot_date, self.active_past_end_date.count
            ))
            .table(people_table(&self.active_past_end_date, Some("end_date"))),
        );

        let mut t = Table::new(&["course", "assigned", "completed", "completed %", "not completed"]);
        for c in &self.trainings {
            t.row(vec![
                c.course.clone(),
                c.assigned.to_string(),
                c.completed.to_string(),
                format!("{:.1}%", c.completed_pct),
                c.not_completed.count.to_string(),
            ]);
        }
        let mut s = Section::new("Training completion (active people)")
            .para(format!(
                "Per course, among active people with at least one training row of it; completed = a {} row. {} active people whose training list could not be fetched are left out.",
                Vocab::of_dialect(&self.api_dialect).training_done,
                self.training_unknown
            ))
            .chart(Chart {
                title: "Completed % per course".into(),
                series: vec!["completed".into()],
                rows: self.trainings.iter().map(|c| (c.course.clone(), vec![c.completed_pct])).collect(),
                percent: true,
            })
            .table(t);
        for c in &self.trainings {
            s = s
                .para(format!("{}: {} of {} not completed", c.course, c.not_completed.count, c.assigned))
                .table(people_table(&c.not_completed, None));
        }
        sections.push(s);

        sections.push(
            Section::new(format!(
                "Active people without a passed background check: {}",
                self.without_passed_background_check.count
            ))
            .para(format!(
                "Passed = a {} background check. {} active people whose background checks could not be fetched are left out.",
                Vocab::of_dialect(&self.api_dialect).check_passed,
                self.background_check_unknown
            ))
            .table(people_table(&self.without_passed_background_check, None)),
        );

        let total_problems: u64 = self.control_problem_counts.values().sum();
        let mut t = Table::new(&["problem", "id", "name", "owner_id", "owner_email"]);
        for p in &self.control_problems {
            t.row(vec![
                p.problem.clone(),
                p.id.clone(),
                p.name.clone().unwrap_or_default(),
                p.owner_id.clone().unwrap_or_default(),
                p.owner_email.clone().unwrap_or_default(),
            ]);
        }
        t.more = total_problems - self.control_problems.len() as u64;
        let counts = ["no_owner", "owner_inactive", "owner_unknown"]
            .iter()
            .map(|k| format!("{k} {}", self.control_problem_counts.get(*k).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(", ");
        sections.push(
            Section::new(format!("Controls without an active owner: {total_problems} of {}", self.controls))
                .para(counts)
                .table(t),
        );

        sections.push(
            Section::new(format!(
                "Manager references: {} dangling, {} people on cycles",
                self.dangling_manager.count, self.manager_cycles.count
            ))
            .para(format!(
                "From {}. Dangling: manager_id names nobody in the snapshot. Cycles: the chain of managers comes back to the person.",
                if self.org_source == "derived" { "personnel (this snapshot predates personnel_org)" } else { "personnel_org" }
            ))
            .table(people_table(&self.dangling_manager, Some("unknown manager_id")))
            .table(people_table(&self.manager_cycles, Some("chain"))),
        );
        if let Some(real) = &self.real {
            sections.extend(real.sections());
        }
        Doc { title: format!("Drata compliance report — {}", self.snapshot_id), facts, sections }
    }
}
