//! The "guide" dialect: the wire format of `drata-guide-api.md`, mapped into canonical
//! records.
//!
//! Liberal per record (explicit nulls, missing optional fields, a date-time where a date is
//! documented, numbers where strings are documented, unknown fields and enum values are all
//! kept), strict per response: a body that is not the documented envelope fails the run
//! with exit 65, because it means the API changed or the host is not the API; so does a
//! per-person answer whose `personnelId` names someone else.

use super::client::{DrataClient, Endpoint, Fetched};
use crate::error::{EtlError, FailureKind};
use crate::record::{parse_lenient_date, BackgroundCheck, Control, Person, Training};
use serde_json::{Map, Value};

/// One page of a list endpoint.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Records on the page that had no usable id (kept out, counted).
    pub invalid: u64,
    pub total: Option<u64>,
    /// The `limit` the server says it used.
    pub limit: Option<u64>,
    pub page: Option<u64>,
}

/// The result of a per-person child call.
#[derive(Debug)]
pub enum Child<T> {
    Rows(Vec<T>),
    /// 404: the person no longer exists.
    Gone,
}

pub(crate) fn shape_error(path: &str, what: &str) -> EtlError {
    EtlError::new(
        FailureKind::DataInvalid,
        format!(
            "GET {path} returned JSON that is not the documented response ({what}); the API may \
             have changed or --base-url may point at a different service. Nothing was committed"
        ),
    )
}

pub(crate) fn not_found_list(path: &str) -> EtlError {
    EtlError::new(
        FailureKind::Auth,
        format!(
            "GET {path} answered 404: this host does not serve the Drata public API at /public; \
             check --base-url (it should be the API host, e.g. https://public-api.drata.com)"
        ),
    )
}

/// A JSON 404 for a list page. On page 1 this host does not serve the list (77); on a later
/// page it is past the end of the list (some servers answer an out-of-range page so rather
/// than with an empty `data`): an empty page, and paging decides what that means.
pub(crate) fn list_page_not_found<T>(path: &str, page: u64) -> Result<Page<T>, EtlError> {
    if page <= 1 {
        return Err(not_found_list(path));
    }
    tracing::debug!(path, page, "a list page past the first answered 404: taken as past the end of the list");
    Ok(Page { items: Vec::new(), invalid: 0, total: None, limit: None, page: Some(page) })
}

/// A non-negative integer, also when sent as a float or a numeric string.
pub(crate) fn as_u64(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => {
            n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0).map(|f| f as u64))
        }
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Takes fields out of one JSON object; what is left (or does not fit) ends in `extra`.
pub(crate) struct Fields {
    pub(crate) map: Map<String, Value>,
    pub(crate) extra: Map<String, Value>,
}

impl Fields {
    pub(crate) fn new(map: Map<String, Value>) -> Self {
        Fields { map, extra: Map::new() }
    }

    /// A string column; numbers and booleans are kept as their text, objects go to extra.
    pub(crate) fn string(&mut self, key: &str) -> Option<String> {
        match self.map.remove(key)? {
            Value::Null => None,
            Value::String(s) => Some(s),
            v @ (Value::Number(_) | Value::Bool(_)) => Some(v.to_string()),
            other => {
                self.extra.insert(key.to_string(), other);
                None
            }
        }
    }

    pub(crate) fn date(&mut self, key: &str) -> Option<chrono::NaiveDate> {
        self.parsed(key, parse_lenient_date)
    }

    /// A text value parsed by `parse`; text that does not parse, and non-text values, go
    /// to extra so nothing the API sent is lost.
    pub(crate) fn parsed<T>(&mut self, key: &str, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
        match self.map.remove(key)? {
            Value::Null => None,
            Value::String(s) => {
                let v = parse(&s);
                if v.is_none() {
                    self.extra.insert(key.to_string(), Value::String(s));
                }
                v
            }
            other => {
                self.extra.insert(key.to_string(), other);
                None
            }
        }
    }

    pub(crate) fn bool(&mut self, key: &str) -> Option<bool> {
        match self.map.remove(key)? {
            Value::Null => None,
            Value::Bool(b) => Some(b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            other => {
                self.extra.insert(key.to_string(), other);
                None
            }
        }
    }

    /// Any JSON value, as compact JSON text.
    pub(crate) fn json(&mut self, key: &str) -> Option<String> {
        match self.map.remove(key)? {
            Value::Null => None,
            v => Some(v.to_string()),
        }
    }

    /// Everything not taken, as one JSON object (or `None` when nothing is left).
    pub(crate) fn extra(mut self) -> Option<String> {
        self.extra.extend(std::mem::take(&mut self.map));
        if self.extra.is_empty() {
            None
        } else {
            Some(Value::Object(self.extra).to_string())
        }
    }
}

/// Map one listed personnel record. `None` when it has no usable id.
pub fn person_from_wire(v: Value) -> Option<Person> {
    let Value::Object(map) = v else { return None };
    let mut f = Fields::new(map);
    let id = f.string("id").filter(|s| !s.trim().is_empty())?;
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
    let mut f = match v {
        Value::Object(map) => Fields::new(map),
        other => {
            let mut f = Fields::new(Map::new());
            f.extra.insert("value".into(), other);
            f
        }
    };
    Training {
        personnel_id: personnel_id.to_string(),
        ordinal,
        name: f.string("name"),
        status: f.string("status"),
        completed_at: f.date("completedAt"),
        extra: f.extra(),
        enriched_at: None,
    }
}

fn background_check_from_wire(personnel_id: &str, ordinal: i32, v: Value) -> BackgroundCheck {
    let mut f = match v {
        Value::Object(map) => Fields::new(map),
        other => {
            let mut f = Fields::new(Map::new());
            f.extra.insert("value".into(), other);
            f
        }
    };
    BackgroundCheck {
        personnel_id: personnel_id.to_string(),
        ordinal,
        status: f.string("status"),
        completed_at: f.date("completedAt"),
        extra: f.extra(),
        enriched_at: None,
    }
}

pub fn control_from_wire(v: Value) -> Option<Control> {
    let Value::Object(map) = v else { return None };
    let mut f = Fields::new(map);
    let id = f.string("id").filter(|s| !s.trim().is_empty())?;
    let owner_id = f.string("ownerId");
    Some(Control {
        id,
        name: f.string("name"),
        status: f.string("status"),
        owner_ids: owner_id.iter().cloned().collect(),
        owner_id,
        extra: f.extra(),
        owner_user_ids: Vec::new(),
    })
}

/// Split a list envelope `{data, total, page, limit}` into mapped items.
pub fn parse_page<T>(path: &str, body: Value, map: impl Fn(Value) -> Option<T>) -> Result<Page<T>, EtlError> {
    let Value::Object(mut obj) = body else {
        return Err(shape_error(path, "expected an object with a data array"));
    };
    let data = match obj.remove("data") {
        Some(Value::Array(a)) => a,
        Some(Value::Null) | None => return Err(shape_error(path, "no data array")),
        Some(_) => return Err(shape_error(path, "data is not an array")),
    };
    let mut items = Vec::with_capacity(data.len());
    let mut invalid = 0;
    for v in data {
        match map(v) {
            Some(t) => items.push(t),
            None => invalid += 1,
        }
    }
    Ok(Page {
        items,
        invalid,
        total: as_u64(obj.get("total")),
        limit: as_u64(obj.get("limit")),
        page: as_u64(obj.get("page")),
    })
}

/// The child array of a per-person response; an object without it is a shape error.
pub(crate) fn child_array(path: &str, body: Value, key: &str) -> Result<Vec<Value>, EtlError> {
    match body {
        Value::Object(mut obj) => match obj.remove(key) {
            Some(Value::Array(a)) => Ok(a),
            Some(Value::Null) => Ok(Vec::new()),
            _ => Err(shape_error(path, &format!("no {key} array"))),
        },
        // Some servers answer a bare array; accept it.
        Value::Array(a) => Ok(a),
        _ => Err(shape_error(path, &format!("expected an object with {key}"))),
    }
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

/// An id from the API as one URL path segment of `route` (which names the segment `{id}`),
/// percent-encoded. An empty id, `.` or `..` is refused (65): encoding leaves them as they
/// are and the URL parser resolves dot segments away, so person `..` would fetch another
/// endpoint (`/public/personnel/../training` is `/public/training`) and its answer would be
/// written as that person's data.
pub(crate) fn path_segment(what: &str, id: &str, route: &str) -> Result<String, EtlError> {
    if id.trim().is_empty() || id == "." || id == ".." {
        return Err(EtlError::new(
            FailureKind::DataInvalid,
            format!(
                "the API listed a {what} record with id {id:?}, which cannot name it in GET {route}: as a path \
                 segment it would address a different endpoint. The record is malformed; nothing was committed. \
                 Report it to Drata"
            ),
        ));
    }
    Ok(url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>().replace('+', "%20"))
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

    #[test]
    fn ids_are_escaped_in_paths() {
        let route = "/public/personnel/{id}/training";
        assert_eq!(path_segment("personnel", "a/b c", route).unwrap(), "a%2Fb%20c");
        // Whatever else an id holds, it stays one segment under the route it was put in.
        let base = url::Url::parse("http://127.0.0.1:1").unwrap();
        for id in ["...", "..x", ". ", " ..", "%2e%2e", "%2E", "./", "../x", "?page=2", "#a", "a\\..", "é"] {
            let seg = path_segment("personnel", id, route).unwrap();
            let mut url = base.clone();
            url.set_path(&format!("/public/personnel/{seg}/training"));
            let segs: Vec<_> = url.path_segments().unwrap().collect();
            assert_eq!(segs.len(), 4, "{id:?} -> {url}");
            assert_eq!((segs[0], segs[1], segs[3]), ("public", "personnel", "training"), "{id:?} -> {url}");
        }
    }

    #[test]
    fn dot_and_empty_ids_are_malformed_records() {
        // Why: the URL parser resolves dot segments, so these would address another endpoint.
        let mut url = url::Url::parse("http://127.0.0.1:1").unwrap();
        url.set_path("/public/personnel/../training");
        assert_eq!(url.path(), "/public/training");
        for id in ["..", ".", "", "  "] {
            let e = path_segment("personnel", id, "/public/personnel/{id}/training").unwrap_err();
            assert_eq!(e.kind, FailureKind::DataInvalid, "{id:?}");
            assert_eq!(e.kind.exit_code(), 65);
            assert!(e.message.contains(&format!("personnel record with id {id:?}")), "{}", e.message);
            assert!(e.message.contains("/public/personnel/{id}/training"), "{}", e.message);
        }
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
