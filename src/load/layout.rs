//! The output layout: table names, snapshot ids and the Hive-partitioned paths readers glob.
//!
//! `OUT/<table>/snapshot_date=YYYY-MM-DD/snapshot_id=<id>/part-NNNNN.parquet`, all in UTC.
//! Snapshot ids avoid characters that object stores, Hive or Windows dislike (no colons).

use chrono::{DateTime, NaiveDate, SecondsFormat, Timelike, Utc};
use std::path::{Path, PathBuf};

/// The tables every snapshot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Personnel,
    PersonnelTraining,
    PersonnelBackgroundChecks,
    Controls,
}

impl Table {
    pub const ALL: [Table; 4] = [
        Table::Personnel,
        Table::PersonnelTraining,
        Table::PersonnelBackgroundChecks,
        Table::Controls,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Personnel => "personnel",
            Table::PersonnelTraining => "personnel_training",
            Table::PersonnelBackgroundChecks => "personnel_background_checks",
            Table::Controls => "controls",
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Which snapshot a run writes: derived from the run time only, so a rerun with the same
/// `--run-at` targets (and replaces) the same partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotKey {
    pub run_at: DateTime<Utc>,
    pub id: String,
    pub date: NaiveDate,
}

impl SnapshotKey {
    pub fn from_run_at(run_at: DateTime<Utc>) -> Self {
        // Whole seconds unless the caller asked for sub-second precision.
        let id = if run_at.nanosecond() == 0 {
            run_at.format("%Y%m%dT%H%M%SZ").to_string()
        } else {
            run_at.format("%Y%m%dT%H%M%S%.6fZ").to_string().replace('.', "_")
        };
        SnapshotKey { run_at, id, date: run_at.date_naive() }
    }

    pub fn run_at_rfc3339(&self) -> String {
        self.run_at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    /// `<table>/snapshot_date=…/snapshot_id=…`, relative to the output root.
    pub fn partition_dir(&self, table: Table) -> PathBuf {
        Path::new(table.name())
            .join(format!("snapshot_date={}", self.date.format("%Y-%m-%d")))
            .join(format!("snapshot_id={}", self.id))
    }
}

/// The name of the `n`th data file of a table within a snapshot.
pub fn part_file_name(n: usize) -> String {
    format!("part-{n:05}.parquet")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_ids_have_no_colons() {
        let t = DateTime::parse_from_rfc3339("2026-03-04T05:06:07Z").unwrap().to_utc();
        let k = SnapshotKey::from_run_at(t);
        assert_eq!(k.id, "20260304T050607Z");
        assert_eq!(
            k.partition_dir(Table::Personnel),
            PathBuf::from("personnel/snapshot_date=2026-03-04/snapshot_id=20260304T050607Z")
        );
        let t = DateTime::parse_from_rfc3339("2026-03-04T23:06:07.25-02:00").unwrap().to_utc();
        let k = SnapshotKey::from_run_at(t);
        assert_eq!(k.id, "20260305T010607_250000Z");
        assert_eq!(k.date.to_string(), "2026-03-05");
        assert!(!k.id.contains(':'));
    }

    #[test]
    fn table_names_round_trip() {
        for t in Table::ALL {
            assert_eq!(Table::from_name(t.name()), Some(t));
        }
    }
}
