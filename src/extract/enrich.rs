//! Enrichment: each listed person's training and background-check records and (v2) their
//! user's assigned policies, fetched concurrently (or, in the real dialects, taken from
//! what the listing carried: see `Api`).
//! The in-flight bound is the client's (one semaphore for every request); this stage only
//! decides how many people are being worked on at once, which bounds memory.
//!
//! Outcomes per child call: rows (fetched), gone (404: the person vanished after listing),
//! or failed (retries exhausted: marked on the person's row, never written as "no rows").
//! Anything else (auth, deadline, rate limit outlasting retries, a malformed body) fails
//! the run.

use crate::drata::dialect::Api;
use crate::drata::wire::Child;
use crate::error::{EtlError, FailureKind};
use crate::record::{BackgroundCheck, EnrichedPerson, FetchStatus, Person, PolicyAssignment, Training};

/// One person with everything fetched for them.
#[derive(Debug)]
pub struct Enriched {
    pub person: EnrichedPerson,
    pub trainings: Vec<Training>,
    pub background_checks: Vec<BackgroundCheck>,
    /// Empty where the dialect has no assigned-policies endpoint (`policies_fetch` `None`).
    pub policies: Vec<PolicyAssignment>,
}

fn settle<T>(what: &str, id: &str, r: Result<Child<T>, EtlError>) -> Result<(FetchStatus, Vec<T>), EtlError> {
    match r {
        Ok(Child::Rows(rows)) => Ok((FetchStatus::Ok, rows)),
        Ok(Child::Gone) => Ok((FetchStatus::Gone, Vec::new())),
        Err(e) if e.kind == FailureKind::Unavailable => {
            tracing::warn!(personnel_id = id, what, error = %e, "enrichment failed after retries; the person is marked failed");
            Ok((FetchStatus::Failed, Vec::new()))
        }
        Err(e) => Err(e),
    }
}

pub async fn enrich_person(api: &Api<'_>, person: Person) -> Result<Enriched, EtlError> {
    let list_fingerprint = person.fingerprint();
    let (t, b, p) = tokio::join!(api.training(&person), api.background_checks(&person), api.policies(&person));
    let fetched_at = chrono::Utc::now();
    let (training_fetch, mut trainings) = settle("training", &person.id, t)?;
    let (background_check_fetch, mut background_checks) = settle("background checks", &person.id, b)?;
    let (policies_fetch, mut policies) = match p {
        Some(r) => settle("assigned policies", &person.id, r).map(|(s, rows)| (Some(s), rows))?,
        None => (None, Vec::new()),
    };
    trainings.iter_mut().for_each(|r| r.enriched_at = Some(fetched_at));
    background_checks.iter_mut().for_each(|r| r.enriched_at = Some(fetched_at));
    policies.iter_mut().for_each(|r| r.enriched_at = Some(fetched_at));
    let person = EnrichedPerson {
        person,
        training_fetch,
        background_check_fetch,
        policies_fetch,
        list_fingerprint,
        enriched_at: None,
    };
    let enriched_at = (!person.any_fetch(FetchStatus::Failed)).then_some(fetched_at);
    Ok(Enriched { person: EnrichedPerson { enriched_at, ..person }, trainings, background_checks, policies })
}

/// How many people may fail enrichment before the run refuses to commit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailureBudget {
    Count(u64),
    Percent(f64),
}

impl FailureBudget {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            let v: f64 = p.trim().parse().map_err(|_| format!("'{s}' is not a percentage like 2.5%"))?;
            if !(0.0..=100.0).contains(&v) {
                return Err(format!("'{s}' must be between 0% and 100%"));
            }
            Ok(FailureBudget::Percent(v))
        } else {
            s.parse()
                .map(FailureBudget::Count)
                .map_err(|_| format!("'{s}' is not a count (e.g. 5) or a percentage (e.g. 1%)"))
        }
    }

    pub fn allows(&self, failed: u64, people: u64) -> bool {
        match *self {
            FailureBudget::Count(n) => failed <= n,
            FailureBudget::Percent(p) => people == 0 || (failed as f64) * 100.0 <= p * people as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_budget() {
        assert_eq!(FailureBudget::parse("0").unwrap(), FailureBudget::Count(0));
        assert_eq!(FailureBudget::parse("2.5%").unwrap(), FailureBudget::Percent(2.5));
        assert!(FailureBudget::parse("x").is_err());
        assert!(FailureBudget::parse("120%").is_err());
        assert!(FailureBudget::Count(0).allows(0, 10));
        assert!(!FailureBudget::Count(0).allows(1, 10));
        assert!(FailureBudget::Percent(10.0).allows(1, 10));
        assert!(!FailureBudget::Percent(10.0).allows(2, 10));
    }

    #[test]
    fn unavailable_child_is_marked_failed_others_fail_the_run() {
        let r: Result<Child<Training>, _> = Err(EtlError::new(FailureKind::Unavailable, "x"));
        assert_eq!(settle("t", "a", r).unwrap().0, FetchStatus::Failed);
        let r: Result<Child<Training>, _> = Ok(Child::Gone);
        assert_eq!(settle("t", "a", r).unwrap().0, FetchStatus::Gone);
        let r: Result<Child<Training>, _> = Err(EtlError::new(FailureKind::Auth, "x"));
        assert!(settle("t", "a", r).is_err());
    }
}
