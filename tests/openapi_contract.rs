//! Contract test (issue 6): the simulator's real-v2 face against Drata's published v2
//! OpenAPI spec, so the simulator cannot drift from the real contract.
//!
//! The spec is read at test time from `../shared/reference/drata-openapi-v2.json` (relative
//! to the crate root; it is never copied into the project; `$DRATA_ETL_OPENAPI_SPEC` names
//! another place, and then only that). A checkout without it fails, unless
//! `DRATA_ETL_SKIP_OPENAPI_CONTRACT=1` asks to skip (a loud SKIPPED warning, nothing
//! checked); a spec that is there but unreadable fails. The simulator runs on `127.0.0.1:0` in v2 mode; every v2
//! endpoint the pipeline calls is called with the pipeline's own queries (every page of
//! every listing), plus the error bodies the simulator produces (400, 401, 402, 403, 404,
//! 412), and each JSON body is validated against the response schema the spec declares for
//! that operation and status. All violations are reported at once, each with its JSON path.
//!
//! `openapi` below is a small OpenAPI 3.0 schema validator ($ref into the document, type,
//! properties, required, items, enum, nullable, allOf/oneOf/anyOf, additionalProperties,
//! formats date-time and date checked loosely). Its own tests prove it catches violations,
//! so the contract test cannot pass vacuously.

mod common;

use common::{sim_config, start, KEY};
use drata_etl::sim::{AccountFault, ApiKeySpec, RunningSim, SimConfig, SimDialect};
use openapi::{Options, Spec};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

mod openapi {
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
                    None if ts != ps => out.push(Violation {
                        path: "request".into(),
                        message: format!("{path} does not match {template}"),
                    }),
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
                    let what = if v.is_null() {
                        "null, and the schema is not nullable".into()
                    } else {
                        type_name(v).to_string()
                    };
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
            let v =
                json!({"data": [], "owner": {"id": 1, "email": "e", "firstName": null, "nickname": "x"}, "next": 1});
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
}

/// Names the spec's path; when set, only that path is tried (a wrong path fails, it does
/// not fall back to another copy).
const SPEC_ENV: &str = "DRATA_ETL_OPENAPI_SPEC";
/// Set to 1 to run without the spec: the contract tests then check nothing and say so on
/// stderr. Without it a missing spec fails every contract test.
const SKIP_ENV: &str = "DRATA_ETL_SKIP_OPENAPI_CONTRACT";

/// Where the spec may live when `$DRATA_ETL_OPENAPI_SPEC` is not set: beside the project
/// (`../shared/reference/`, as in CI), else the workspace's shared folder
/// (`/work/shared/reference/`); never inside the project.
fn default_spec_candidates() -> Vec<PathBuf> {
    vec![
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/drata-openapi-v2.json"),
        PathBuf::from("/work/shared/reference/drata-openapi-v2.json"),
    ]
}

/// The spec's path: `explicit` when given (and then only it), else the first default
/// candidate that is a file. Not found: an error naming every place tried, unless `skip`
/// (then `None`, and the caller says loudly that nothing was checked).
fn locate_spec(explicit: Option<PathBuf>, skip: bool, defaults: Vec<PathBuf>) -> Result<Option<PathBuf>, String> {
    let candidates = match explicit {
        Some(p) => vec![p],
        None => defaults,
    };
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(Some(found.clone()));
    }
    let tried = candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    if skip {
        return Ok(None);
    }
    Err(format!(
        "Drata's v2 OpenAPI spec was not found at {tried}: put the shared reference folder beside the project (../shared/reference/drata-openapi-v2.json), set {SPEC_ENV} to the spec's path, or set {SKIP_ENV}=1 to run without the contract checks"
    ))
}

/// The spec, read once per test binary. Not found: every contract test fails, unless
/// `$DRATA_ETL_SKIP_OPENAPI_CONTRACT=1` (then they say so loudly on stderr and check
/// nothing); found but unreadable: fails.
fn spec() -> Option<&'static Spec> {
    static SPEC: OnceLock<Result<Option<Spec>, String>> = OnceLock::new();
    let found = SPEC.get_or_init(|| {
        let skip = std::env::var_os(SKIP_ENV).is_some_and(|v| v == "1");
        let Some(path) = locate_spec(std::env::var_os(SPEC_ENV).map(PathBuf::from), skip, default_spec_candidates())?
        else {
            eprintln!(
                "\n*** WARNING: openapi_contract SKIPPED ({SKIP_ENV}=1): Drata's v2 OpenAPI spec was not found, NOTHING was checked against it ***\n"
            );
            return Ok(None);
        };
        Spec::load(&path).map(Some).map_err(|e| format!("cannot use Drata's v2 OpenAPI spec at {}: {e}", path.display()))
    });
    match found {
        Ok(spec) => spec.as_ref(),
        Err(e) => panic!("{e}"),
    }
}

/// The spec inside a test that already checked it is there.
fn the_spec() -> &'static Spec {
    spec().expect("checked at the start of the test")
}

/// Success bodies: every property must be one the spec declares (the simulator must not
/// invent contract). Error bodies are checked by the schema alone: the spec's
/// `ExceptionResponseDto` (401/403/412) omits the `name` the real API is documented to send
/// elsewhere (`reference/drata-real-api.md`, section 1), so "undeclared" would be wrong there.
const STRICT: Options = Options { undeclared_properties: true };
const ERRORS: Options = Options { undeclared_properties: false };

/// Calls the simulator and collects every contract violation of every response.
struct Contract<'a> {
    sim: &'a RunningSim,
    http: reqwest::Client,
    key: Option<&'a str>,
    violations: Vec<String>,
    /// Responses validated, by spec operation and status (proof the test checked something).
    checked: Vec<(String, u16)>,
}

impl<'a> Contract<'a> {
    fn new(sim: &'a RunningSim) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("http client");
        Contract { sim, http, key: Some(KEY), violations: Vec::new(), checked: Vec::new() }
    }

    /// GET `/public/v2{path_q}`, require `status` and JSON, validate the body against the
    /// schema the spec gives operation `template` for that status (or, for a status the
    /// operation does not declare, against every schema the spec uses for that status).
    async fn get(&mut self, template: &str, path_q: &str, status: u16) -> Value {
        // The request itself: every parameter the operation declares, with a valid value.
        let (path, query) = path_q.split_once('?').unwrap_or((path_q, ""));
        if status < 300 {
            for v in the_spec().request_violations(template, "get", path, query) {
                self.violations.push(format!("GET {path_q} ({template}) request: {v}"));
            }
        }
        let url = format!("{}/public/v2{path_q}", self.sim.base_url());
        let mut req = self.http.get(&url);
        if let Some(k) = self.key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("GET {path_q}: {e}"));
        let got = resp.status().as_u16();
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let text = resp.text().await.unwrap_or_else(|e| panic!("GET {path_q}: body: {e}"));
        assert_eq!(got, status, "GET {path_q}: status {got}, body {text}");
        assert!(ct.starts_with("application/json"), "GET {path_q}: content-type {ct:?}");
        let body: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path_q}: not JSON ({e}): {text}"));
        let schemas = match the_spec().response_schema(template, "get", status) {
            Some(s) => vec![s.clone()],
            None => the_spec().schemas_for_status(status),
        };
        assert!(!schemas.is_empty(), "the spec has no response schema for {status} anywhere (GET {template})");
        for schema in &schemas {
            let opts = if status < 300 { STRICT } else { ERRORS };
            for v in the_spec().validate(schema, &body, opts) {
                self.violations.push(format!("GET {path_q} ({template}, {status}) against {schema}: {v}"));
            }
        }
        self.checked.push((template.to_string(), status));
        body
    }

    /// Every page of a cursor listing the way the pipeline pages it: `first` on the first
    /// call, then `cursor` added to `rest`. Returns every item.
    async fn listing(&mut self, template: &str, path: &str, first: &str, rest: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut query = first.to_string();
        loop {
            let body = self.get(template, &format!("{path}?{query}"), 200).await;
            items.extend(body["data"].as_array().cloned().unwrap_or_default());
            match body["pagination"]["cursor"].as_str() {
                Some(c) => {
                    assert!(seen.insert(c.to_string()), "GET {path}: cursor {c} repeated");
                    let c: String = url::form_urlencoded::byte_serialize(c.as_bytes()).collect();
                    query = format!("{rest}&cursor={c}");
                }
                None => return items,
            }
        }
    }

    fn finish(self, what: &str) {
        assert!(
            self.violations.is_empty(),
            "{what}: {} contract violation(s) against Drata's v2 OpenAPI spec:\n{}",
            self.violations.len(),
            self.violations.join("\n"),
        );
    }
}

fn v2_config(personnel: usize) -> SimConfig {
    SimConfig { dialect: SimDialect::V2, controls: 30, ..sim_config(personnel) }
}

#[test]
fn a_missing_spec_fails_unless_skipping_is_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nonexistent.json");
    let present = tmp.path().join("spec.json");
    std::fs::write(&present, "{}").unwrap();

    // Named explicitly but missing: an error, even though a default candidate exists.
    let e = locate_spec(Some(missing.clone()), false, vec![present.clone()]).unwrap_err();
    assert!(e.contains(&missing.display().to_string()) && e.contains(SKIP_ENV), "{e}");
    // No default candidate there either: an error naming both places.
    let e = locate_spec(None, false, vec![missing.clone(), tmp.path().join("other.json")]).unwrap_err();
    assert!(e.contains("nonexistent.json") && e.contains("other.json"), "{e}");
    // Skipping only when asked for.
    assert_eq!(locate_spec(Some(missing.clone()), true, vec![]), Ok(None));
    // Found: the explicit path, else the first default candidate that exists.
    assert_eq!(locate_spec(Some(present.clone()), false, vec![]), Ok(Some(present.clone())));
    assert_eq!(locate_spec(None, false, vec![missing, present.clone()]), Ok(Some(present)));
}

/// The whole test binary run as CI would run it, with the spec pointed at a missing file:
/// the contract test fails (and passes, loudly skipped, only with the opt-out variable).
#[test]
fn the_contract_test_fails_when_the_spec_path_is_missing() {
    if std::env::var_os("DRATA_ETL_CONTRACT_CHILD").is_some() {
        return; // the child below runs only the named test, but never recurse
    }
    let run = |skip: bool| {
        let mut c = std::process::Command::new(std::env::current_exe().unwrap());
        c.args(["the_spec_is_read_from_the_shared_reference_folder", "--exact", "--nocapture"])
            .env(SPEC_ENV, "/nonexistent/drata-openapi-v2.json")
            .env("DRATA_ETL_CONTRACT_CHILD", "1")
            .env_remove(SKIP_ENV);
        if skip {
            c.env(SKIP_ENV, "1");
        }
        c.output().unwrap()
    };
    let failed = run(false);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    let stdout = String::from_utf8_lossy(&failed.stdout);
    assert!(!failed.status.success(), "passed without the spec:\n{stdout}\n{stderr}");
    assert!(stderr.contains("/nonexistent/drata-openapi-v2.json") && stderr.contains("was not found"), "{stderr}");
    let skipped = run(true);
    let stderr = String::from_utf8_lossy(&skipped.stderr);
    assert!(skipped.status.success(), "{stderr}");
    assert!(stderr.contains("SKIPPED") && stderr.contains("NOTHING was checked"), "{stderr}");
    // The child really ran the test (not zero tests matched).
    assert!(
        String::from_utf8_lossy(&skipped.stdout).contains("1 passed"),
        "{}",
        String::from_utf8_lossy(&skipped.stdout)
    );
}

#[test]
fn the_spec_is_read_from_the_shared_reference_folder() {
    let Some(s) = spec() else { return };
    // The operations the pipeline uses exist, with the schemas the contract test relies on.
    for (path, schema) in [
        ("/personnel", "PersonnelResponsePublicV2Dto"),
        ("/users", "UsersResponsePublicV2Dto"),
        ("/users/{userId}/documents", "UserDocumentsResponsePublicV2Dto"),
        ("/workspaces", "WorkspacesResponsePublicV2Dto"),
        ("/workspaces/{workspaceId}/controls", "ControlsResponsePublicV2Dto"),
        ("/workspaces/{workspaceId}/controls/{controlId}/owners", "ControlOwnersResponsePublicV2Dto"),
    ] {
        let got = s.response_schema(path, "get", 200).unwrap_or_else(|| panic!("no 200 schema for GET {path}"));
        assert_eq!(got["$ref"], format!("#/components/schemas/{schema}"));
    }
    // The real spec is not vacuous to the validator: a documented page with one wrong type
    // and one missing required field fails with both paths.
    let schema = s.response_schema("/personnel", "get", 200).unwrap();
    let mut page = serde_json::json!({"data": [{"id": 42, "userId": 7, "employmentStatus": "CURRENT_EMPLOYEE",
        "startedAt": "2023-02-01T00:00:00.000Z", "statusUpdatedAt": null, "createdAt": "2023-02-01T00:00:00.000Z",
        "updatedAt": "2023-02-01T00:00:00.000Z"}], "pagination": {"cursor": null}});
    assert!(s.validate(schema, &page, STRICT).is_empty());
    page["data"][0]["userId"] = Value::from("7");
    page["data"][0].as_object_mut().unwrap().remove("employmentStatus");
    let got: Vec<String> = s.validate(schema, &page, STRICT).iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            "$.data[0]: missing required property \"employmentStatus\"".to_string(),
            "$.data[0].userId: expected number, got string".to_string(),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_v2_responses_follow_the_openapi_spec() {
    if spec().is_none() {
        return;
    }
    let sim = start(v2_config(75)).await;
    let mut c = Contract::new(&sim);

    // Personnel: the auto-detection probe, the total probe, and the full listing as the
    // pipeline pages it (user and compliance checks expanded, totalCount on page one).
    let probe = c.get("/personnel", "/personnel?size=1&expand%5B%5D=user", 200).await;
    assert!(probe["data"][0]["user"].is_object() && probe["data"][0].get("complianceChecks").is_none(), "{probe}");
    let total = c.get("/personnel", "/personnel?size=1&includeTotalCount=true", 200).await;
    assert_eq!(total["pagination"]["totalCount"], 75);
    assert!(total["data"][0].get("user").is_none(), "user only with expand[]=user: {total}");
    let expand = "size=20&expand%5B%5D=user&expand%5B%5D=complianceChecks";
    let people = c.listing("/personnel", "/personnel", &format!("{expand}&includeTotalCount=true"), expand).await;
    assert_eq!(people.len(), 75);
    assert!(people.iter().all(|p| p["user"].is_object() && p["complianceChecks"].is_array()));
    let exclusions =
        people.iter().flat_map(|p| p["complianceChecks"].as_array().unwrap()).filter(|c| c["exclusion"].is_object());
    assert!(exclusions.count() > 0, "EXCLUDED checks with their exclusion are exercised");

    // Users with background checks and identities (the pipeline's one join listing).
    let users_q = "size=20&expand%5B%5D=backgroundChecks&expand%5B%5D=identities";
    let users = c.listing("/users", "/users", users_q, users_q).await;
    assert_eq!(users.len(), 75);
    let with = |k: &str| users.iter().filter(|u| u[k].as_array().is_some_and(|a| !a.is_empty())).count();
    assert!(with("backgroundChecks") > 0 && with("identities") > 0, "the join data is exercised");

    // Each user's SEC_TRAINING documents.
    let mut documents = 0;
    for u in &users {
        let path = format!("/users/{}/documents", u["id"]);
        let q = "type=SEC_TRAINING&size=50";
        documents += c.listing("/users/{userId}/documents", &path, q, q).await.len();
    }
    assert!(documents > 0, "documents are exercised");

    // Workspaces, their controls with owners expanded, and the full owner lists.
    let workspaces = c.listing("/workspaces", "/workspaces", "size=20", "size=20").await;
    assert!(!workspaces.is_empty());
    let probe = c.get("/workspaces", "/workspaces?size=1", 200).await;
    assert_eq!(probe["data"].as_array().map(Vec::len), Some(1));
    let mut long_owner_lists = 0;
    for ws in &workspaces {
        let path = format!("/workspaces/{}/controls", ws["id"]);
        let q = "size=20&expand%5B%5D=owners";
        let controls = c.listing("/workspaces/{workspaceId}/controls", &path, q, q).await;
        assert_eq!(controls.len(), 30);
        for ctl in &controls {
            let total = ctl["owners"]["totalCount"].as_u64().expect("owners expanded");
            long_owner_lists += usize::from(total > 10);
            let path = format!("/workspaces/{}/controls/{}/owners", ws["id"], ctl["id"]);
            let owners =
                c.listing("/workspaces/{workspaceId}/controls/{controlId}/owners", &path, "size=50", "size=50").await;
            assert_eq!(owners.len() as u64, total);
        }
    }
    assert!(long_owner_lists > 0, "controls with more than ten owners are exercised");

    // Error bodies: 400, 404 (declared by the controls operations; for documents, which
    // declare none, every 404 schema the spec uses), 401 (no key, wrong key). 402, 403 and
    // 412: the next test.
    c.get("/personnel", "/personnel?size=0", 400).await;
    c.get("/personnel", "/personnel?cursor=not-a-cursor", 400).await;
    c.get("/workspaces/{workspaceId}/controls", "/workspaces/999/controls", 404).await;
    c.get("/workspaces/{workspaceId}/controls/{controlId}/owners", "/workspaces/1/controls/99999/owners", 404).await;
    c.get("/users/{userId}/documents", "/users/1/documents?type=SEC_TRAINING", 404).await;
    c.key = None;
    c.get("/personnel", "/personnel", 401).await;
    c.key = Some("not-the-key");
    c.get("/users", "/users", 401).await;
    let checked = c.checked.len();
    c.finish("the v2 simulator");
    sim.shutdown().await;
    assert!(checked > 100, "only {checked} responses were validated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_v2_refusals_follow_the_openapi_spec() {
    if spec().is_none() {
        return;
    }
    // 403: a key without the personnel scope.
    let mut cfg = v2_config(3);
    cfg.keys.push(ApiKeySpec::new("controls-only", &[drata_etl::sim::SCOPE_CONTROLS_READ]));
    let sim = start(cfg).await;
    let mut c = Contract::new(&sim);
    c.key = Some("controls-only");
    c.get("/personnel", "/personnel", 403).await;
    c.get("/users", "/users?expand%5B%5D=backgroundChecks", 403).await;
    let checked = c.checked.len();
    c.finish("403");
    sim.shutdown().await;
    assert_eq!(checked, 2);

    // 402 (plan) and 412 (terms) on every operation the pipeline calls.
    for (fault, status) in [(AccountFault::PlanUpgradeRequired, 402), (AccountFault::TermsNotAccepted, 412)] {
        let sim = start(SimConfig { account_fault: Some(fault), ..v2_config(3) }).await;
        let mut c = Contract::new(&sim);
        c.get("/personnel", "/personnel?size=1&expand%5B%5D=user", status).await;
        c.get("/users", "/users?expand%5B%5D=backgroundChecks", status).await;
        c.get("/users/{userId}/documents", "/users/100001/documents?type=SEC_TRAINING", status).await;
        c.get("/workspaces", "/workspaces", status).await;
        c.get("/workspaces/{workspaceId}/controls", "/workspaces/1/controls?expand%5B%5D=owners", status).await;
        c.get("/workspaces/{workspaceId}/controls/{controlId}/owners", "/workspaces/1/controls/1/owners", status).await;
        c.finish(&format!("{fault:?}"));
        sim.shutdown().await;
    }
}
