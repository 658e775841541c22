//! Which API dialect a host speaks (guide, real v1, real v2), how to tell with cheap probes,
//! and `Api`: the one interface the pipeline, the preflight and `extract` call, dispatching
//! to the dialect's module (`guide`, `v1`, `v2`; the real dialects' shared training rows
//! from `real`). Callers see pages, paging styles and records, never a dialect module. An
//! enum, not a trait object: three dialects, known at compile time.
//!
//! Detection (`--api auto`): `GET /public/v2/personnel?size=1&expand[]=user` answering the
//! `{data, pagination}` envelope means v2; otherwise `GET /public/personnel?page=1&limit=1`
//! decides between v1 (numeric ids, a nested `user`, `complianceChecks`) and the guide (flat
//! records with string ids). Key problems (401, 402, 412) end detection with their error;
//! a 403 on v2 (the key may lack the v2 permission) falls through to the v1/guide probe.

use super::client::{DrataClient, Endpoint, Fetched};
use super::guide::GuideApi;
use super::real;
use super::v1::V1Api;
use super::v2::V2Api;
use super::wire::{not_found_list, Child, CursorPage, Page};
use crate::error::{EtlError, FailureKind};
use crate::record::{BackgroundCheck, Control, Person, PolicyAssignment, Training};
use serde::Serialize;

/// The API dialect a host speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// `reference/drata-guide-api.md` (and the simulator's default).
    Guide,
    /// Drata's real v1 (`/public/...`).
    V1,
    /// Drata's real v2 (`/public/v2/...`).
    V2,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Guide => "guide",
            Dialect::V1 => "v1",
            Dialect::V2 => "v2",
        }
    }

    pub fn from_name(s: &str) -> Option<Dialect> {
        match s.trim().to_ascii_lowercase().as_str() {
            "guide" => Some(Dialect::Guide),
            "v1" => Some(Dialect::V1),
            "v2" => Some(Dialect::V2),
            _ => None,
        }
    }
}

/// The dialect a run uses: `Some` when forced with `--api`, `None` for auto-detection.
pub type ApiChoice = Option<Dialect>;

/// Is this error about the key or account (so probing another path will not help)?
fn is_key_problem(e: &EtlError) -> bool {
    e.kind == FailureKind::Auth && matches!(e.status, Some(401 | 402 | 412))
}

/// Decide the dialect with at most two cheap requests.
pub async fn detect(client: &DrataClient) -> Result<Dialect, EtlError> {
    let v2_query = [("size", "1".to_string()), ("expand[]", "user".to_string())];
    match client.get_json(Endpoint::PersonnelList, "/public/v2/personnel", &v2_query).await {
        Ok(Fetched::Json(v)) if super::v2::looks_like_v2(&v) => return Ok(Dialect::V2),
        Ok(_) => {} // 404 (no v2 here) or another JSON shape
        Err(e) if is_key_problem(&e) => return Err(e),
        // 403 (the key may lack the v2 permission) or a wrong host: the v1/guide probe
        // below reports the host's answer for its own path.
        Err(e) if e.kind == FailureKind::Auth => {}
        // Unavailable, or rate limits outlasting retries: the same would happen on v1.
        Err(e) => return Err(e),
    }
    let path = "/public/personnel";
    let q = [("page", "1".to_string()), ("limit", "1".to_string())];
    match client.get_json(Endpoint::PersonnelList, path, &q).await? {
        Fetched::Json(v) => Ok(if super::v1::looks_like_v1(path, &v)? { Dialect::V1 } else { Dialect::Guide }),
        Fetched::NotFound => Err(not_found_list(path)),
    }
}

/// The forced dialect, or the detected one.
pub async fn resolve(client: &DrataClient, choice: ApiChoice) -> Result<Dialect, EtlError> {
    match choice {
        Some(d) => Ok(d),
        None => detect(client).await,
    }
}

/// One dialect's operations behind one interface.
pub enum Api<'a> {
    Guide(GuideApi<'a>),
    V1(V1Api<'a>),
    V2(V2Api<'a>),
}

/// How a dialect pages its personnel and controls lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// `page`/`limit` pages (guide, v1): `personnel_page`, `controls_page`.
    Offset,
    /// Cursor pages (v2): `personnel_cursor_page`, `cursor_controls`.
    Cursor,
}

/// One page of the personnel list as a probe sees it, whatever the paging style.
#[derive(Debug)]
pub struct ProbePage {
    pub items: Vec<Person>,
    pub total: Option<u64>,
    /// The page size the server says it used (offset dialects only).
    pub limit: Option<u64>,
}

impl<'a> Api<'a> {
    pub fn new(dialect: Dialect, client: &'a DrataClient) -> Self {
        match dialect {
            Dialect::Guide => Api::Guide(GuideApi { client }),
            Dialect::V1 => Api::V1(V1Api { client }),
            Dialect::V2 => Api::V2(V2Api::new(client)),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Api::Guide(_) => Dialect::Guide,
            Api::V1(_) => Dialect::V1,
            Api::V2(_) => Dialect::V2,
        }
    }

    /// How this dialect pages its lists.
    pub fn paging(&self) -> Paging {
        match self {
            Api::Guide(_) | Api::V1(_) => Paging::Offset,
            Api::V2(_) => Paging::Cursor,
        }
    }

    /// An offset page of personnel (guide and v1; v2 pages by cursor: `personnel_cursor_page`).
    pub async fn personnel_page(&self, page: u64, limit: u64) -> Result<Page<Person>, EtlError> {
        match self {
            Api::Guide(g) => g.personnel_page(page, limit).await,
            Api::V1(a) => a.personnel_page(page, limit).await,
            Api::V2(_) => Err(EtlError::new(FailureKind::Usage, "internal: v2 has no offset pages")),
        }
    }

    /// A cursor page of personnel (v2 only), users joined.
    pub async fn personnel_cursor_page(&self, cursor: Option<&str>, size: u64) -> Result<CursorPage<Person>, EtlError> {
        match self {
            Api::V2(a) => a.personnel_page(cursor, size, true).await,
            _ => Err(EtlError::new(FailureKind::Usage, "internal: only v2 pages by cursor")),
        }
    }

    /// The personnel list's current total, asked after a cursor walk (v2 only; `None`
    /// elsewhere or when not sent).
    pub async fn personnel_total(&self) -> Result<Option<u64>, EtlError> {
        match self {
            Api::V2(a) => a.personnel_total().await,
            _ => Ok(None),
        }
    }

    /// An offset page of controls (guide and v1).
    pub async fn controls_page(&self, page: u64, limit: u64) -> Result<Page<Control>, EtlError> {
        match self {
            Api::Guide(g) => g.controls_page(page, limit).await,
            Api::V1(a) => a.controls_page(page, limit).await,
            Api::V2(_) => Err(EtlError::new(FailureKind::Usage, "internal: v2 has no offset pages")),
        }
    }

    /// Every control with every owner's user id, and how many items had no id (v2 only:
    /// the cursor dialect lists controls per workspace).
    pub async fn cursor_controls(&self, page_size: u64) -> Result<(Vec<Control>, u64), EtlError> {
        match self {
            Api::V2(a) => a.controls(page_size).await,
            _ => Err(EtlError::new(FailureKind::Usage, "internal: only v2 pages by cursor")),
        }
    }

    /// Fill in owners the control list does not carry (v1: one call per control, under the
    /// client's concurrency bound).
    pub async fn complete_owners(&self, controls: &mut [Control]) -> Result<(), EtlError> {
        if let Api::V1(a) = self {
            let ids = futures::future::try_join_all(controls.iter().map(|c| a.control_owner_ids(&c.id))).await?;
            for (c, ids) in controls.iter_mut().zip(ids) {
                c.owner_user_ids = ids;
            }
        }
        Ok(())
    }

    /// Page 1 of personnel for the preflight (no joins, nothing spilled).
    pub async fn probe_personnel(&self, page_size: u64) -> Result<ProbePage, EtlError> {
        match self {
            Api::V2(a) => {
                let p = a.personnel_page(None, page_size, false).await?;
                Ok(ProbePage { items: p.rows.items, total: p.rows.total, limit: None })
            }
            other => {
                let p = other.personnel_page(1, page_size).await?;
                Ok(ProbePage { items: p.items, total: p.total, limit: p.limit })
            }
        }
    }

    /// Proof the controls list is readable: the number of controls if the dialect says.
    pub async fn probe_controls(&self) -> Result<Option<u64>, EtlError> {
        match self {
            Api::V2(a) => a.probe_controls().await,
            other => other.controls_page(1, 1).await.map(|p| p.total),
        }
    }

    /// Devices the dialect listed apart from the people (v2's `/devices`) whose person is
    /// not among those `listed`: counted, never written under an invented person. Zero
    /// where devices come embedded in each person (v1) or not at all (the guide).
    pub fn unmatched_devices(&self, listed: impl Fn(&str) -> bool) -> u64 {
        match self {
            Api::V2(a) => a.unmatched_devices(listed),
            _ => 0,
        }
    }

    /// A person's training rows.
    pub async fn training(&self, person: &Person) -> Result<Child<Training>, EtlError> {
        match self {
            Api::Guide(g) => g.training(&person.id).await,
            Api::V1(a) => real::training(person, |u| a.training_documents(u)).await,
            Api::V2(a) => real::training(person, |u| a.training_documents(u)).await,
        }
    }

    /// The devices listing answers (v2, which lists devices apart: `GET /devices`); `None`
    /// where devices come with the personnel records (v1) or not at all (the guide).
    pub async fn probe_devices(&self) -> Option<Result<(), EtlError>> {
        match self {
            Api::V2(a) => Some(a.probe_devices().await),
            _ => None,
        }
    }

    /// The page size to ask for when the user set none: v2's largest (its cursor pages are
    /// read one after another); the offset dialects keep the built-in default (their
    /// servers cap pages anyway: v1 at 50).
    pub fn preferred_page_size(&self) -> Option<u64> {
        matches!(self, Api::V2(_)).then_some(super::v2::MAX_SIZE)
    }

    /// Whether this dialect documents per-user policy acceptance (only v2 does:
    /// `GET /users/{userId}/assigned-policies`; the guide and v1 references have none).
    pub fn has_policies(&self) -> bool {
        matches!(self, Api::V2(_))
    }

    /// A person's assigned policies: `None` where the dialect has no such endpoint. A
    /// person without a user has none to ask for; a user that is gone (404) makes the
    /// person gone, as for training documents.
    pub async fn policies(&self, person: &Person) -> Option<Result<Child<PolicyAssignment>, EtlError>> {
        let Api::V2(a) = self else { return None };
        let Some(user) = person.user_id.as_deref() else { return Some(Ok(Child::Rows(Vec::new()))) };
        Some(a.assigned_policies(user).await.map(|c| match c {
            Child::Rows(items) => Child::Rows(super::policies::assignments_from_wire(&person.id, user, items)),
            Child::Gone => Child::Gone,
        }))
    }

    /// A person's background checks: from the listing when it carried them, else fetched.
    pub async fn background_checks(&self, person: &Person) -> Result<Child<BackgroundCheck>, EtlError> {
        match (&person.listed_background_checks, self) {
            (Some(rows), _) => Ok(Child::Rows(rows.clone())),
            (None, Api::Guide(g)) => g.background_checks(&person.id).await,
            (None, _) => Ok(Child::Rows(Vec::new())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for d in [Dialect::Guide, Dialect::V1, Dialect::V2] {
            assert_eq!(Dialect::from_name(d.name()), Some(d));
        }
        assert_eq!(Dialect::from_name("v3"), None);
    }
}
