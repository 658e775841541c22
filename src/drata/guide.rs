//! The "guide" dialect: the requests of `drata-guide-api.md`, and its records mapped into
//! canonical records with the shared wire toolkit (`wire`).
//!
//! Flat records with string ids, offset pages (`{data, total, page, limit}`), and one
//! per-person call each for training and background checks; a per-person answer whose
//! `personnelId` names someone else fails the run with exit 65. Knows no other dialect and
//! nothing of Parquet.

use super::client::{DrataClient, Endpoint, Fetched};
use super::wire::{child_array, fields_of, list_page_not_found, listed_record, parse_page, path_segment, Child, Page};
use crate::error::{EtlError, FailureKind};
use crate::record::{BackgroundCheck, Control, Person, Training};
use serde_json::Value;

/// Map one listed personnel record. `None` when it has no usable id.
pub fn person_from_wire(v: Value) -> Option<Person> {
    let (id, mut f) = listed_record(v)?;
    Some(Person {
        id,
        email: f.string("email"),
        first_name: f.string("firstName"),
        last_name: f.string("lastName"),
        title: f.string("title"),
        department: f.string("department"),
        employment_type: f.string("employmentType"),
        start_date: f.date("startDate"),
        end_date: f.date("endDate"),
        is_active: f.bool("isActive"),
        role: f.string("role"),
        manager_id: f.string("managerId"),
        compliance_status: f.string("complianceStatus"),
        training_status: f.json("trainingStatus"),
        external_id: f.string("externalId"),
        extra: f.extra(),
        ..Person::default()
    })
}

fn training_from_wire(personnel_id: &str, ordinal: i32, v: Value) -> Training {
    let mut f = fields_of(v);
    Training {
        personnel_id: personnel_id.to_string(),
        ordinal,
        name: f.string("name"),
        status: f.string("status"),
        completed_at: f.date("completedAt"),
        extra: f.extra(),
        ..Default::default()
    }
}

fn background_check_from_wire(personnel_id: &str, ordinal: i32, v: Value) -> BackgroundCheck {
    let mut f = fields_of(v);
    BackgroundCheck {
        personnel_id: personnel_id.to_string(),
        ordinal,
        status: f.string("status"),
        completed_at: f.date("completedAt"),
        extra: f.extra(),
        ..Default::default()
    }
}

pub fn control_from_wire(v: Value) -> Option<Control> {
    let (id, mut f) = listed_record(v)?;
    let owner_id = f.string("ownerId");
    Some(Control {
        id,
        name: f.string("name"),
        status: f.string("status"),
        owner_ids: owner_id.iter().cloned().collect(),
        owner_id,
        extra: f.extra(),
        ..Control::default()
    })
}

/// A per-person body whose `personnelId` names someone else (a cache or gateway in front of
/// the API mixing up responses) must never be written under the person asked about: 65.
/// A missing or null `personnelId` is accepted (the field is informative, not required).
pub(crate) fn check_child_owner(path: &str, body: &Value, id: &str) -> Result<(), EtlError> {
    let named = match body.get("personnelId") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if named.trim() == id.trim() {
        return Ok(());
    }
    Err(EtlError::new(
        FailureKind::DataInvalid,
        format!(
            "GET {path} answered with the records of personnelId {named}, not {id}: the API (or a cache \
             or gateway in front of it) mixed up responses. Nothing was committed; retry later, and \
             report it to Drata if it persists"
        ),
    ))
}

/// The guide dialect's operations.
pub struct GuideApi<'a> {
    pub client: &'a DrataClient,
}

impl<'a> GuideApi<'a> {
    pub async fn personnel_page(&self, page: u64, limit: u64) -> Result<Page<Person>, EtlError> {
        let path = "/public/personnel";
        let q = [("page", page.to_string()), ("limit", limit.to_string())];
        match self.client.get_json(Endpoint::PersonnelList, path, &q).await? {
            Fetched::Json(v) => parse_page(path, v, person_from_wire),
            Fetched::NotFound => list_page_not_found(path, page),
        }
    }

    pub async fn controls_page(&self, page: u64, limit: u64) -> Result<Page<Control>, EtlError> {
        let path = "/public/controls";
        let q = [("page", page.to_string()), ("limit", limit.to_string())];
        match self.client.get_json(Endpoint::ControlsList, path, &q).await? {
            Fetched::Json(v) => parse_page(path, v, control_from_wire),
            Fetched::NotFound => list_page_not_found(path, page),
        }
    }

    pub async fn training(&self, id: &str) -> Result<Child<Training>, EtlError> {
        let path =
            format!("/public/personnel/{}/training", path_segment("personnel", id, "/public/personnel/{id}/training")?);
        match self.client.get_json(Endpoint::Training, &path, &[]).await? {
            Fetched::NotFound => Ok(Child::Gone),
            Fetched::Json(v) => {
                check_child_owner(&path, &v, id)?;
                let rows = child_array(&path, v, "trainings")?;
                Ok(Child::Rows(
                    rows.into_iter().enumerate().map(|(i, v)| training_from_wire(id, i as i32, v)).collect(),
                ))
            }
        }
    }

    pub async fn background_checks(&self, id: &str) -> Result<Child<BackgroundCheck>, EtlError> {
        let path = format!(
            "/public/personnel/{}/background-checks",
            path_segment("personnel", id, "/public/personnel/{id}/background-checks")?
        );
        match self.client.get_json(Endpoint::BackgroundChecks, &path, &[]).await? {
            Fetched::NotFound => Ok(Child::Gone),
            Fetched::Json(v) => {
                check_child_owner(&path, &v, id)?;
                let rows = child_array(&path, v, "backgroundChecks")?;
                Ok(Child::Rows(
                    rows.into_iter().enumerate().map(|(i, v)| background_check_from_wire(id, i as i32, v)).collect(),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn person_mapping_is_liberal() {
        let p = person_from_wire(json!({
            "id": "u1", "email": "zoë@example.com", "firstName": "Zoë", "lastName": null,
            "employmentType": "INTERN", "startDate": "2024-03-01T09:00:00Z", "endDate": "soon",
            "isActive": "false", "managerId": 42, "trainingStatus": {"completed": 2},
            "location": "Berlin"
        }))
        .unwrap();
        assert_eq!(p.id, "u1");
        assert_eq!(p.first_name.as_deref(), Some("Zoë"));
        assert_eq!(p.last_name, None);
        assert_eq!(p.employment_type.as_deref(), Some("INTERN"));
        assert_eq!(p.start_date.unwrap().to_string(), "2024-03-01");
        assert_eq!(p.end_date, None);
        assert_eq!(p.is_active, Some(false));
        assert_eq!(p.manager_id.as_deref(), Some("42"));
        assert_eq!(p.training_status.as_deref(), Some(r#"{"completed":2}"#));
        let extra: Value = serde_json::from_str(p.extra.as_deref().unwrap()).unwrap();
        assert_eq!(extra, json!({"endDate": "soon", "location": "Berlin"}));
    }

    #[test]
    fn records_without_id_are_counted_not_fatal() {
        let page = parse_page(
            "/p",
            json!({"data": [{"id": "a"}, {"email": "x"}, 7, {"id": ""}], "total": "4", "limit": 100.0}),
            person_from_wire,
        )
        .unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.invalid, 3);
        assert_eq!(page.total, Some(4));
        assert_eq!(page.limit, Some(100));
    }

    #[test]
    fn wrong_envelope_is_data_invalid() {
        for body in [json!([1]), json!({"items": []}), json!({"data": {}}), json!("x")] {
            let e = parse_page("/p", body, person_from_wire).unwrap_err();
            assert_eq!(e.kind, FailureKind::DataInvalid);
        }
    }

    #[test]
    fn child_rows_keep_retakes_apart() {
        let rows = child_array("/t", json!({"personnelId": "a", "trainings": [{"name": "SA", "completedAt": "2025-01-01"}, {"name": "SA", "completedAt": "2025-06-01", "score": 9}]}), "trainings").unwrap();
        let t: Vec<_> = rows.into_iter().enumerate().map(|(i, v)| training_from_wire("a", i as i32, v)).collect();
        assert_eq!(t[0].ordinal, 0);
        assert_eq!(t[1].ordinal, 1);
        assert_eq!(t[1].extra.as_deref(), Some(r#"{"score":9}"#));
        assert_eq!(child_array("/t", json!({"trainings": null}), "trainings").unwrap().len(), 0);
        assert!(child_array("/t", json!({"other": []}), "trainings").is_err());
    }

    #[test]
    fn child_answers_for_someone_else_are_rejected() {
        assert!(check_child_owner("/t", &json!({"personnelId": "a", "trainings": []}), "a").is_ok());
        assert!(check_child_owner("/t", &json!({"personnelId": 42, "trainings": []}), "42").is_ok());
        assert!(check_child_owner("/t", &json!({"personnelId": null}), "a").is_ok());
        assert!(check_child_owner("/t", &json!([]), "a").is_ok());
        let e = check_child_owner("/t", &json!({"personnelId": "b", "trainings": []}), "a").unwrap_err();
        assert_eq!(e.kind, FailureKind::DataInvalid);
        assert!(e.message.contains("personnelId b, not a"), "{}", e.message);
    }

    // Structure-aware generators for every parsed input are in `super::proptests`; raw
    // bytes still cover the JSON layer itself.
    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                let _ = parse_page("/p", v.clone(), person_from_wire);
                let _ = parse_page("/p", v.clone(), control_from_wire);
                let _ = child_array("/t", v, "trainings");
            }
        }
    }
}
