//! A small validator for OpenAPI 3.0 schemas (the subset Drata's spec uses for the
//! responses the pipeline reads).

use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

/// Nested `$ref`/composition levels beyond this are reported as a cycle.
const MAX_DEPTH: usize = 128;

/// A parsed OpenAPI document.
pub struct Spec {
    doc: Value,
}

/// One way a value breaks its schema: where (a JSON path like `$.data[3].user.email`)
/// and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Checks beyond what the schema itself demands.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Report object properties no schema declares even where `additionalProperties`
    /// is not given (the spec's DTOs list every field the API returns, so a property
    /// they do not declare is the simulator inventing contract).
    pub undeclared_properties: bool,
}

impl Spec {
    pub fn new(doc: Value) -> Spec {
        Spec { doc }
    }

    /// Read and parse the spec; the error says what is wrong and where.
    pub fn load(path: &Path) -> Result<Spec, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
        if !doc.get("openapi").and_then(Value::as_str).is_some_and(|v| v.starts_with("3.")) {
            return Err(format!("{} is not an OpenAPI 3 document", path.display()));
        }
        Ok(Spec { doc })
    }

    /// The JSON response schema of `method path` (a spec path template such as
    /// `/workspaces/{workspaceId}/controls`) for `status`, if the spec declares one.
    pub fn response_schema(&self, path: &str, method: &str, status: u16) -> Option<&Value> {
        self.doc
            .get("paths")?
            .get(path)?
            .get(method)?
            .get("responses")?
            .get(status.to_string())?
            .get("content")?
            .get("application/json")?
            .get("schema")
    }

    /// Every distinct `$ref` schema some GET operation of the spec declares for
    /// `status`, for statuses an operation does not declare itself.
    pub fn schemas_for_status(&self, status: u16) -> Vec<Value> {
        let mut refs = BTreeSet::new();
        let paths = self.doc.get("paths").and_then(Value::as_object);
        for item in paths.into_iter().flat_map(|p| p.values()) {
            let schema = item
                .get("get")
                .and_then(|op| op.get("responses"))
                .and_then(|r| r.get(status.to_string()))
                .and_then(|r| r.pointer("/content/application~1json/schema/$ref"))
                .and_then(Value::as_str);
            if let Some(r) = schema {
                refs.insert(r.to_string());
            }
        }
        refs.into_iter().map(|r| serde_json::json!({ "$ref": r })).collect()
    }

    /// Every way a request breaks the parameters of `method template`: a path or query
    /// parameter the operation does not declare, or a value its schema rejects (query
    /// text is read as the schema's type; `name[]` arrays are checked item by item).
    /// Paths of violations read `path.{name}` and `query.{name}`.
    pub fn request_violations(&self, template: &str, method: &str, path: &str, query: &str) -> Vec<Violation> {
        let mut out = Vec::new();
        let Some(params) = self
            .doc
            .get("paths")
            .and_then(|p| p.get(template))
            .and_then(|p| p.get(method))
            .map(|op| op.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default())
        else {
            let message = format!("the spec has no operation {} {template}", method.to_uppercase());
            return vec![Violation { path: "request".into(), message }];
        };
        let params: Vec<Value> = params
            .iter()
            .map(|p| p.get("$ref").and_then(Value::as_str).and_then(|r| self.resolve(r)).unwrap_or(p).clone())
            .collect();
        let param = |name: &str, place: &str| {
            params.iter().find(|p| p["name"] == name && p["in"] == place).map(|p| p["schema"].clone())
        };
        let check = |place: &str, name: &str, raw: &str, out: &mut Vec<Violation>| {
            let at = format!("{place}.{name}");
            let Some(schema) = param(name, place) else {
                out.push(Violation { path: at, message: "not a parameter of this operation".into() });
                return;
            };
            let schema = match schema.get("type").and_then(Value::as_str) {
                Some("array") => schema.get("items").cloned().unwrap_or(Value::Null),
                _ => schema,
            };
            let value = self.typed(&schema, raw);
            out.extend(self.validate(&schema, &value, Options::default()).into_iter().map(|mut v| {
                v.path = v.path.replacen('$', &at, 1);
                v
            }));
        };
        let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
        if t.len() != p.len() {
            out.push(Violation { path: "request".into(), message: format!("{path} does not match {template}") });
        }
        for (ts, ps) in t.iter().zip(&p) {
            match ts.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
                Some(name) => check("path", name, ps, &mut out),
                None if ts != ps => {
                    out.push(Violation { path: "request".into(), message: format!("{path} does not match {template}") })
                }
                None => {}
            }
        }
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            check("query", &k, &v, &mut out);
        }
        out
    }

    /// Request text as the JSON value a schema of that type means.
    fn typed(&self, schema: &Value, raw: &str) -> Value {
        let schema = match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => self.resolve(r).unwrap_or(schema),
            None => schema,
        };
        let as_number = || raw.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number);
        match schema.get("type").and_then(Value::as_str) {
            Some("number" | "integer") => as_number().unwrap_or_else(|| Value::String(raw.into())),
            Some("boolean") => match raw {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => Value::String(raw.into()),
            },
            _ => Value::String(raw.into()),
        }
    }

    /// Resolve a local `$ref` (`#/components/schemas/Name`).
    fn resolve(&self, reference: &str) -> Option<&Value> {
        let pointer = reference.strip_prefix('#')?;
        self.doc.pointer(pointer)
    }

    /// Every violation of `schema` by `value`.
    pub fn validate(&self, schema: &Value, value: &Value, opts: Options) -> Vec<Violation> {
        let mut w = Walker { spec: self, opts, out: Vec::new() };
        w.check(schema, value, "$", &BTreeSet::new(), 0);
        w.out
    }

    /// Property names `schema` declares, through `$ref` and `allOf`.
    fn declared(&self, schema: &Value, depth: usize) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        if depth > MAX_DEPTH {
            return out;
        }
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            return self.resolve(r).map(|s| self.declared(s, depth + 1)).unwrap_or_default();
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            out.extend(props.keys().cloned());
        }
        for branch in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            out.extend(self.declared(branch, depth + 1));
        }
        out
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "number" => v.is_number(),
        "integer" => v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => true, // a type this validator does not know: not its business
    }
}

/// `YYYY-MM-DD`, a real calendar date.
fn is_date(s: &str) -> bool {
    s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

/// Loosely RFC 3339: a calendar date, `T`, a time of day, optional fraction and zone.
fn is_date_time(s: &str) -> bool {
    if chrono::DateTime::parse_from_rfc3339(s).is_ok() {
        return true;
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .any(|f| chrono::NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), f).is_ok())
}

struct Walker<'a> {
    spec: &'a Spec,
    opts: Options,
    out: Vec<Violation>,
}

impl Walker<'_> {
    fn report(&mut self, path: &str, message: impl Into<String>) {
        self.out.push(Violation { path: path.to_string(), message: message.into() });
    }

    /// Validate `v` at `path`; `inherited` are property names an enclosing `allOf`
    /// declares (so a branch does not call its siblings' properties undeclared).
    fn check(&mut self, schema: &Value, v: &Value, path: &str, inherited: &BTreeSet<String>, depth: usize) {
        if depth > MAX_DEPTH {
            return self.report(path, "schema nests too deep (a $ref cycle?)");
        }
        let Some(s) = schema.as_object() else {
            if schema == &Value::Bool(false) {
                self.report(path, "no value is allowed here");
            }
            return;
        };
        // OpenAPI 3.0: a $ref replaces the whole schema object (siblings are ignored).
        if let Some(r) = s.get("$ref") {
            let Some(target) = r.as_str().and_then(|r| self.spec.resolve(r)) else {
                return self.report(path, format!("unresolvable $ref {r}"));
            };
            return self.check(target, v, path, inherited, depth + 1);
        }
        let nullable = s.get("nullable").and_then(Value::as_bool).unwrap_or(false);
        if v.is_null() && nullable {
            return;
        }
        if let Some(t) = s.get("type").and_then(Value::as_str) {
            if !has_type(v, t) {
                let what =
                    if v.is_null() { "null, and the schema is not nullable".into() } else { type_name(v).to_string() };
                return self.report(path, format!("expected {t}, got {what}"));
            }
        }
        if let Some(allowed) = s.get("enum").and_then(Value::as_array) {
            if !allowed.contains(v) {
                let shown: Vec<String> = allowed.iter().take(12).map(Value::to_string).collect();
                let more = if allowed.len() > 12 { ", ..." } else { "" };
                self.report(path, format!("{v} is not one of [{}{more}]", shown.join(", ")));
            }
        }
        if let Some(n) = v.as_f64() {
            if let Some(min) = s.get("minimum").and_then(Value::as_f64).filter(|m| n < *m) {
                self.report(path, format!("{v} is less than the minimum {min}"));
            }
            if let Some(max) = s.get("maximum").and_then(Value::as_f64).filter(|m| n > *m) {
                self.report(path, format!("{v} is more than the maximum {max}"));
            }
        }
        if let (Some(f), Some(text)) = (s.get("format").and_then(Value::as_str), v.as_str()) {
            match f {
                "date-time" if !is_date_time(text) => self.report(path, format!("{text:?} is not a date-time")),
                "date" if !is_date(text) => self.report(path, format!("{text:?} is not a date (YYYY-MM-DD)")),
                _ => {}
            }
        }
        let mut declared = self.spec.declared(schema, depth);
        declared.extend(inherited.iter().cloned());
        if let Some(obj) = v.as_object() {
            self.check_object(s, obj, path, &declared, depth);
        }
        if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
            for (i, x) in arr.iter().enumerate() {
                self.check(items, x, &format!("{path}[{i}]"), &BTreeSet::new(), depth + 1);
            }
        }
        for branch in s.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            self.check(branch, v, path, &declared, depth + 1);
        }
        for (key, exactly_one) in [("oneOf", true), ("anyOf", false)] {
            let Some(branches) = s.get(key).and_then(Value::as_array) else { continue };
            let results: Vec<Vec<Violation>> = branches
                .iter()
                .map(|b| {
                    let mut sub = Walker { spec: self.spec, opts: self.opts, out: Vec::new() };
                    sub.check(b, v, path, &declared, depth + 1);
                    sub.out
                })
                .collect();
            let passing = results.iter().filter(|r| r.is_empty()).count();
            if passing == 0 {
                let why: Vec<String> = results.iter().enumerate().map(|(i, r)| format!("#{i}: {}", r[0])).collect();
                self.report(path, format!("matches none of the {key} schemas ({})", why.join("; ")));
            } else if exactly_one && passing > 1 {
                self.report(path, format!("matches {passing} of the oneOf schemas, not exactly one"));
            }
        }
    }

    fn check_object(
        &mut self,
        s: &serde_json::Map<String, Value>,
        obj: &serde_json::Map<String, Value>,
        path: &str,
        declared: &BTreeSet<String>,
        depth: usize,
    ) {
        let props = s.get("properties").and_then(Value::as_object);
        for key in s.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !obj.contains_key(key) {
                self.report(path, format!("missing required property {key:?}"));
            }
        }
        if let Some(props) = props {
            for (k, sub) in props {
                if let Some(x) = obj.get(k) {
                    self.check(sub, x, &format!("{path}.{k}"), &BTreeSet::new(), depth + 1);
                }
            }
        }
        // Which keys nothing declares, and what to do with them.
        let additional = s.get("additionalProperties");
        let strict = match additional {
            Some(Value::Bool(false)) => true,
            Some(Value::Bool(true)) | Some(Value::Object(_)) => false,
            // Only where this schema itself declares properties: composition wrappers
            // leave the check to the branches that do.
            _ => self.opts.undeclared_properties && !declared.is_empty() && props.is_some(),
        };
        for (k, x) in obj {
            if declared.contains(k) {
                continue;
            }
            if let Some(extra @ Value::Object(_)) = additional {
                self.check(extra, x, &format!("{path}.{k}"), &BTreeSet::new(), depth + 1);
            } else if strict {
                let why = if additional == Some(&Value::Bool(false)) {
                    "additionalProperties is false"
                } else {
                    "the schema does not declare it"
                };
                self.report(&format!("{path}.{k}"), format!("undeclared property ({why})"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A miniature spec exercising every keyword the validator knows.
    fn spec() -> Spec {
        Spec::new(json!({
            "openapi": "3.0.0",
            "paths": {},
            "components": {"schemas": {
                "User": {"type": "object", "required": ["id", "email", "firstName"], "properties": {
                    "id": {"type": "number"},
                    "email": {"type": "string"},
                    "firstName": {"type": "string", "nullable": true},
                    "createdAt": {"type": "string", "format": "date-time"},
                    "birthday": {"type": "string", "format": "date", "nullable": true},
                    "status": {"type": "string", "enum": ["A", "B"]},
                    "tags": {"type": "array", "items": {"type": "string"}},
                }},
                "Page": {"type": "object", "required": ["data"], "properties": {
                    "data": {"type": "array", "items": {"$ref": "#/components/schemas/User"}},
                    "owner": {"nullable": true, "allOf": [{"$ref": "#/components/schemas/User"}]},
                }},
                "Closed": {"type": "object", "additionalProperties": false, "properties": {"a": {"type": "integer"}}},
                "Either": {"oneOf": [{"type": "string"}, {"type": "number"}]},
                "Any": {"anyOf": [{"type": "string"}, {"type": "boolean"}]},
            }}
        }))
    }

    fn run(name: &str, v: Value, opts: Options) -> Vec<String> {
        let s = spec();
        let schema = json!({ "$ref": format!("#/components/schemas/{name}") });
        s.validate(&schema, &v, opts).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn catches_a_wrong_type_and_a_missing_required_field() {
        let bad = json!({"data": [
            {"id": 1, "email": "a@x", "firstName": null},
            {"id": "2", "firstName": "B"},
        ]});
        let got = run("Page", bad, Options::default());
        assert_eq!(
            got,
            vec![
                "$.data[1]: missing required property \"email\"".to_string(),
                "$.data[1].id: expected number, got string".to_string(),
            ],
        );
    }

    #[test]
    fn accepts_a_valid_document() {
        let good = json!({"data": [{"id": 1.5, "email": "a@x", "firstName": null, "createdAt": "2025-01-01T00:00:00.000Z",
                                    "birthday": "1990-02-28", "status": "A", "tags": ["x"]}],
                          "owner": null});
        assert_eq!(run("Page", good, Options { undeclared_properties: true }), Vec::<String>::new());
    }

    #[test]
    fn checks_nullable_enum_items_formats_and_allof() {
        let v = json!({"data": [{"id": 1, "email": null, "firstName": "A", "createdAt": "2025-01-01",
                                 "birthday": "2025-02-30", "status": "C", "tags": [1]}],
                       "owner": {"id": 2, "email": "b@x"}});
        assert_eq!(
            run("Page", v, Options::default()),
            vec![
                "$.data[0].email: expected string, got null, and the schema is not nullable".to_string(),
                "$.data[0].createdAt: \"2025-01-01\" is not a date-time".to_string(),
                "$.data[0].birthday: \"2025-02-30\" is not a date (YYYY-MM-DD)".to_string(),
                "$.data[0].status: \"C\" is not one of [\"A\", \"B\"]".to_string(),
                "$.data[0].tags[0]: expected string, got integer".to_string(),
                "$.owner: missing required property \"firstName\"".to_string(),
            ],
        );
    }

    #[test]
    fn additional_properties_and_undeclared_properties() {
        assert_eq!(run("Closed", json!({"a": 1}), Options::default()), Vec::<String>::new());
        assert_eq!(
            run("Closed", json!({"a": 1.5, "b": 2}), Options::default()),
            vec![
                "$.a: expected integer, got number".to_string(),
                "$.b: undeclared property (additionalProperties is false)".to_string(),
            ],
        );
        let v = json!({"data": [], "owner": {"id": 1, "email": "e", "firstName": null, "nickname": "x"}, "next": 1});
        assert!(run("Page", v.clone(), Options::default()).is_empty());
        assert_eq!(
            run("Page", v, Options { undeclared_properties: true }),
            vec![
                "$.owner.nickname: undeclared property (the schema does not declare it)".to_string(),
                "$.next: undeclared property (the schema does not declare it)".to_string(),
            ],
        );
    }

    #[test]
    fn one_of_and_any_of() {
        assert!(run("Either", json!("x"), Options::default()).is_empty());
        assert_eq!(run("Either", json!(true), Options::default()).len(), 1);
        assert!(run("Any", json!(false), Options::default()).is_empty());
        let got = run("Any", json!(3), Options::default());
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("$: matches none of the anyOf schemas"), "{got:?}");
    }

    #[test]
    fn requests_are_checked_against_the_parameters() {
        let s = Spec::new(json!({"openapi": "3.0.0", "components": {"schemas": {
            "Expand": {"type": "string", "enum": ["user", "checks"]}}},
        "paths": {"/things/{thingId}": {"get": {"parameters": [
            {"name": "thingId", "in": "path", "schema": {"type": "number"}},
            {"name": "size", "in": "query", "schema": {"type": "number", "minimum": 1, "maximum": 500}},
            {"name": "includeTotalCount", "in": "query", "schema": {"type": "boolean"}},
            {"name": "expand[]", "in": "query", "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Expand"}}},
        ]}}}}));
        let ok = s.request_violations(
            "/things/{thingId}",
            "get",
            "/things/12",
            "size=500&includeTotalCount=true&expand%5B%5D=user&expand[]=checks",
        );
        assert!(ok.is_empty(), "{ok:?}");
        let bad: Vec<String> = s
            .request_violations(
                "/things/{thingId}",
                "get",
                "/things/x",
                "size=501&expand[]=roles&sort=name&includeTotalCount=yes",
            )
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            bad,
            vec![
                "path.thingId: expected number, got string".to_string(),
                "query.size: 501.0 is more than the maximum 500".to_string(),
                "query.expand[]: \"roles\" is not one of [\"user\", \"checks\"]".to_string(),
                "query.sort: not a parameter of this operation".to_string(),
                "query.includeTotalCount: expected boolean, got string".to_string(),
            ]
        );
        assert_eq!(s.request_violations("/nope", "get", "/nope", "").len(), 1);
    }

    #[test]
    fn unresolvable_refs_are_violations() {
        let s = spec();
        let got = s.validate(&json!({"$ref": "#/components/schemas/Nope"}), &json!({}), Options::default());
        assert_eq!(got.len(), 1);
        assert!(got[0].message.contains("unresolvable"));
    }
}
