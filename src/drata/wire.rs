//! The wire toolkit every dialect maps its JSON with: the page and child-call shapes the
//! `Api` interface returns (`Page`, `CursorPage`, `Child`), the offset list envelope
//! `{data, total, page, limit}` (`parse_page`), `Fields` (takes columns out of one JSON
//! object and keeps whatever is left in `extra`), ids as URL path segments, and the errors
//! for a body that is not the documented response.
//!
//! Liberal per record (explicit nulls, missing optional fields, a date-time where a date is
//! documented, numbers where strings are documented, unknown fields and enum values are all
//! kept), strict per response: a body that is not the documented envelope fails the run
//! with exit 65, because it means the API changed or the host is not the API.
//!
//! Knows no dialect (no paths, no field names of one API) and nothing of Arrow or Parquet.

use crate::error::{EtlError, FailureKind};
use crate::record::{parse_lenient_date, parse_lenient_timestamp};
use serde_json::{Map, Value};

/// One page of an offset-paged list endpoint.
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

/// One page of a cursor-paged list: its records (`limit` and `page` are never set), and
/// the next page's cursor, `None` at the end.
#[derive(Debug)]
pub struct CursorPage<T> {
    pub rows: Page<T>,
    pub cursor: Option<String>,
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

/// The fields of one child record; a record that is not an object is kept whole in extra
/// under `value`.
pub(crate) fn fields_of(v: Value) -> Fields {
    match v {
        Value::Object(map) => Fields::new(map),
        other => {
            let mut f = Fields::new(Map::new());
            f.extra.insert("value".into(), other);
            f
        }
    }
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

    /// A date-time column in UTC; unparsable text goes to extra.
    pub(crate) fn timestamp(&mut self, key: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        self.parsed(key, parse_lenient_timestamp)
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

    /// A whole number that fits an `i32` (also sent as a float like `30.0` or as numeric
    /// text); anything else goes to extra.
    pub(crate) fn i32(&mut self, key: &str) -> Option<i32> {
        let v = self.map.remove(key)?;
        let n = match &v {
            Value::Null => return None,
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        match n.and_then(|n| i32::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                self.extra.insert(key.to_string(), v);
                None
            }
        }
    }

    /// A value documented as free-form (text or an object): text as sent, anything else as
    /// compact JSON text.
    pub(crate) fn text_or_json(&mut self, key: &str) -> Option<String> {
        match self.map.remove(key)? {
            Value::Null => None,
            Value::String(s) => Some(s),
            v => Some(v.to_string()),
        }
    }

    /// Any JSON value, as compact JSON text.
    pub(crate) fn json(&mut self, key: &str) -> Option<String> {
        match self.map.remove(key)? {
            Value::Null => None,
            v => Some(v.to_string()),
        }
    }

    /// A nested object taken out whole (`None` when absent or null; non-objects go to extra).
    pub(crate) fn object(&mut self, key: &str) -> Option<Map<String, Value>> {
        match self.map.remove(key)? {
            Value::Null => None,
            Value::Object(m) => Some(m),
            other => {
                self.extra.insert(key.to_string(), other);
                None
            }
        }
    }

    /// A nested array taken out whole (`None` when absent or null; non-arrays go to extra).
    pub(crate) fn array(&mut self, key: &str) -> Option<Vec<Value>> {
        match self.map.remove(key)? {
            Value::Null => None,
            Value::Array(a) => Some(a),
            other => {
                self.extra.insert(key.to_string(), other);
                None
            }
        }
    }

    /// Keep a leftover value under `key` in extra.
    pub(crate) fn keep(&mut self, key: &str, v: Value) {
        self.extra.insert(key.to_string(), v);
    }

    /// A list of strings (numbers kept as their text); a list holding anything else, or a
    /// non-list, goes to extra whole.
    pub(crate) fn str_list(&mut self, key: &str) -> Option<Vec<String>> {
        match self.map.remove(key)? {
            Value::Null => None,
            Value::Array(a) => {
                let texts: Option<Vec<String>> = a
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .collect();
                if texts.is_none() {
                    self.extra.insert(key.to_string(), Value::Array(a));
                }
                texts
            }
            other => {
                self.extra.insert(key.to_string(), other);
                None
            }
        }
    }

    /// A nested object's fields, mapped by `take`; whatever it leaves is kept in extra under
    /// `key`. A non-object value goes to extra whole.
    pub(crate) fn nested<T>(&mut self, key: &str, take: impl FnOnce(&mut Fields) -> T) -> Option<T> {
        let map = self.object(key)?;
        let mut inner = Fields::new(map);
        let out = take(&mut inner);
        inner.extra.extend(std::mem::take(&mut inner.map));
        if !inner.extra.is_empty() {
            self.extra.insert(key.to_string(), Value::Object(inner.extra));
        }
        Some(out)
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

/// A listed record's id and the rest of its fields; `None` when it is not an object or has
/// no usable id (absent, null, blank, or neither text nor a number), which the listing
/// counts as invalid rather than failing on (`map_items`).
pub(crate) fn listed_record(v: Value) -> Option<(String, Fields)> {
    let Value::Object(map) = v else { return None };
    let mut f = Fields::new(map);
    let id = f.string("id").filter(|s| !s.trim().is_empty())?;
    Some((id, f))
}

/// Map the records of a `data` array; those `map` refuses (no usable id) are counted, not
/// kept.
pub(crate) fn map_items<T>(data: Vec<Value>, mut map: impl FnMut(Value) -> Option<T>) -> (Vec<T>, u64) {
    let mut items = Vec::with_capacity(data.len());
    let mut invalid = 0;
    for v in data {
        match map(v) {
            Some(t) => items.push(t),
            None => invalid += 1,
        }
    }
    (items, invalid)
}

/// Split an offset list envelope `{data, total, page, limit}` into mapped items.
pub fn parse_page<T>(path: &str, body: Value, map: impl Fn(Value) -> Option<T>) -> Result<Page<T>, EtlError> {
    let Value::Object(mut obj) = body else {
        return Err(shape_error(path, "expected an object with a data array"));
    };
    let data = match obj.remove("data") {
        Some(Value::Array(a)) => a,
        Some(Value::Null) | None => return Err(shape_error(path, "no data array")),
        Some(_) => return Err(shape_error(path, "data is not an array")),
    };
    let (items, invalid) = map_items(data, map);
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_listed_record_needs_a_usable_id() {
        let (id, f) = listed_record(json!({"id": 42, "name": "a"})).unwrap();
        assert_eq!((id.as_str(), f.extra().as_deref()), ("42", Some(r#"{"name":"a"}"#)));
        assert_eq!(listed_record(json!({"id": "u1"})).unwrap().0, "u1");
        for no_id in
            [json!({"id": ""}), json!({"id": "  "}), json!({"id": null}), json!({"id": {"x": 1}}), json!({}), json!(7)]
        {
            assert!(listed_record(no_id.clone()).is_none(), "{no_id}");
        }
        let (items, invalid) = map_items(vec![json!({"id": "a"}), json!({"id": ""}), json!([])], listed_record);
        assert_eq!((items.len(), invalid), (1, 2));
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
}
