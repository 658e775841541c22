//! What a snapshot's status values mean, per API dialect: which `compliance_status` is
//! compliant or not, which training row is done, which background check passed. Every
//! answer (`report`, `diff`, history) asks here instead of comparing to a literal, so the
//! same question gets the right answer on a guide, v1 or v2 snapshot.
//!
//! The columns keep the API's values verbatim; only their meaning differs:
//! - guide: `COMPLIANT` / `NON_COMPLIANT` / `PENDING`; trainings `COMPLETED`; checks `PASSED`.
//! - real v1/v2: the FULL_COMPLIANCE check's `PASS` / `FAIL` / `MISCONFIGURED` / `EXCLUDED`
//!   (MISCONFIGURED is counted non-compliant: the person fails until it is fixed; EXCLUDED is
//!   neither: the person is out of the check's scope); a training row is its check's status,
//!   done when `PASS`; a background check passed when `OK` (v2's enum: PENDING, OK, ISSUE,
//!   CANCELED, EXPIRED, OUT_OF_SCOPE).

use crate::load::Manifest;
use polars::prelude::*;

/// The status values of one dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vocab {
    /// `compliance_status` values that are compliant.
    pub compliant: &'static str,
    /// `compliance_status` values that are not compliant, in the order lists show them.
    pub non_compliant: &'static [&'static str],
    /// `compliance_status` values that are undecided (neither of the above).
    pub pending: &'static [&'static str],
    /// A `personnel_training.status` that means done.
    pub training_done: &'static str,
    /// A `personnel_background_checks.status` that means passed.
    pub check_passed: &'static str,
    /// Real dialects: the compliance checks say why (`personnel_compliance_checks`).
    pub has_checks: bool,
}

const GUIDE: Vocab = Vocab {
    compliant: "COMPLIANT",
    non_compliant: &["NON_COMPLIANT"],
    pending: &["PENDING"],
    training_done: "COMPLETED",
    check_passed: "PASSED",
    has_checks: false,
};

const REAL: Vocab = Vocab {
    compliant: "PASS",
    non_compliant: &["FAIL", "MISCONFIGURED"],
    pending: &["EXCLUDED"],
    training_done: "PASS",
    check_passed: "OK",
    has_checks: true,
};

/// Every dialect's vocabulary: answers over a history may span snapshots of several
/// dialects (a workspace moved from the guide to v2), whose values never collide.
pub const ALL: [Vocab; 2] = [GUIDE, REAL];

/// `column` holds a compliant status in any dialect.
pub fn any_compliant(column: &str) -> Expr {
    ALL.iter().fold(lit(false), |acc, v| acc.or(col(column).eq(lit(v.compliant)))).fill_null(lit(false))
}

/// `column` holds a done training status in any dialect.
pub fn any_training_done(column: &str) -> Expr {
    ALL.iter().fold(lit(false), |acc, v| acc.or(col(column).eq(lit(v.training_done)))).fill_null(lit(false))
}

/// `column` holds a passed background-check status in any dialect.
pub fn any_check_passed(column: &str) -> Expr {
    ALL.iter().fold(lit(false), |acc, v| acc.or(col(column).eq(lit(v.check_passed)))).fill_null(lit(false))
}

/// `column` holds a non-compliant status in any dialect.
pub fn any_non_compliant(column: &str) -> Expr {
    ALL.iter().fold(lit(false), |acc, v| acc.or(v.is_non_compliant(column)))
}

impl Vocab {
    /// The vocabulary of the dialect a snapshot was written from (an unknown dialect name
    /// reads as the guide's: the manifest parser admits only known ones).
    pub fn of(m: &Manifest) -> Vocab {
        Vocab::of_dialect(&m.api_dialect)
    }

    pub fn of_dialect(dialect: &str) -> Vocab {
        match dialect {
            "v1" | "v2" => REAL,
            _ => GUIDE,
        }
    }

    /// `column` holds a non-compliant status.
    pub fn is_non_compliant(&self, column: &str) -> Expr {
        let any = self.non_compliant.iter().fold(lit(false), |acc, v| acc.or(col(column).eq(lit(*v))));
        any.fill_null(lit(false))
    }

    /// Order of statuses in tables: compliant, non-compliant ones, pending ones, anything
    /// else, then none.
    pub fn rank(&self, s: &str) -> u8 {
        if s == self.compliant {
            0
        } else if self.non_compliant.contains(&s) {
            1
        } else if self.pending.contains(&s) {
            2
        } else if s == super::people::NONE_LABEL {
            4
        } else {
            3
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_dialect_names_its_own_values() {
        let g = Vocab::of_dialect("guide");
        assert_eq!((g.compliant, g.training_done, g.check_passed), ("COMPLIANT", "COMPLETED", "PASSED"));
        for d in ["v1", "v2"] {
            let r = Vocab::of_dialect(d);
            assert_eq!((r.compliant, r.training_done, r.check_passed), ("PASS", "PASS", "OK"));
            assert!(r.non_compliant.contains(&"MISCONFIGURED") && !r.non_compliant.contains(&"EXCLUDED"));
        }
        let mut s = vec!["(none)", "EXCLUDED", "X", "FAIL", "PASS"];
        let r = Vocab::of_dialect("v2");
        s.sort_by_key(|k| (r.rank(k), *k));
        assert_eq!(s, ["PASS", "FAIL", "EXCLUDED", "X", "(none)"]);
    }

    #[test]
    fn non_compliant_expression_matches_every_failing_value() {
        let df = df!("s" => [Some("FAIL"), Some("MISCONFIGURED"), Some("PASS"), None]).unwrap();
        let out = df.lazy().select([Vocab::of_dialect("v1").is_non_compliant("s").alias("nc")]).collect().unwrap();
        let got: Vec<Option<bool>> = out.column("nc").unwrap().bool().unwrap().iter().collect();
        assert_eq!(got, [Some(true), Some(true), Some(false), Some(false)]);
    }
}
