//! Structure-aware property tests of everything this crate parses from outside: list pages
//! of each dialect (guide `{data,total,page,limit}`, v1 the same envelope with nested users
//! and compliance checks, v2 `{data,pagination:{cursor,totalCount}}`), per-person child
//! bodies, the `--config` TOML file, and rate-limit headers (`Retry-After`,
//! `X-RateLimit-*`, `RateLimit-*`, structured `RateLimit`).
//!
//! Random bytes almost never parse, so they test only the JSON parser. Here each input is
//! generated valid, then mutated where parsers break: a field turned into another type, a
//! huge, negative or fractional number, deep nesting, odd Unicode, NaN-like strings,
//! duplicated keys. The properties: no panic (also when accepted records become Arrow
//! rows), and every rejection is an error that says what was wrong (the request path and
//! the shape problem, the config key).
//!
//! Cases per target: `CASES` (a few seconds each in a debug build); `PROPTEST_CASES`
//! overrides it for a longer local soak.

use super::{guide, real, retry, v1, v2, walk, wire};
use crate::error::FailureKind;
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

const CASES: u32 = 2000;

fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    Config { cases, failure_persistence: None, ..Config::default() }
}

// ---------------------------------------------------------------------------------------
// Values that break parsers
// ---------------------------------------------------------------------------------------

/// Strings a field may hold that are not what it documents.
fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(" ".to_string()),
        Just(".".to_string()),
        Just("..".to_string()),
        Just("NaN".to_string()),
        Just("-Infinity".to_string()),
        Just("1e400".to_string()),
        Just("-0".to_string()),
        Just("18446744073709551616".to_string()),
        Just("9999-99-99T99:99:99Z".to_string()),
        Just("+275760-09-13T00:00:00Z".to_string()),
        Just("0000-00-00".to_string()),
        Just("262143-12-31".to_string()),
        Just("-262143-01-01".to_string()),
        Just("+262143-12-31T23:59:59.999999999+23:59".to_string()),
        Just("2024-02-29T24:00:00Z".to_string()),
        Just("\u{feff}2025-01-01".to_string()),
        Just("\u{202e}\u{0}\u{1f600}e\u{301}".to_string()),
        Just("a/b?c#d%2F..".to_string()),
        "\\PC{0,24}",
    ]
}

/// Numbers at and past the edges of every integer and float type.
fn odd_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(-1)),
        Just(json!(0)),
        Just(json!(1e308)),
        Just(json!(-1e308)),
        Just(json!(0.5)),
        Just(json!(f64::MIN_POSITIVE)),
        Just(json!(4294967296u64)),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite()).prop_map(Value::from),
    ]
}

/// Any value a field might be replaced with.
fn wrong_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        odd_number(),
        odd_string().prop_map(Value::String),
        Just(json!([])),
        Just(json!({})),
        Just(json!([null, 1, "x", {}])),
        (1usize..300).prop_map(nested),
    ]
}

/// `depth` levels of arrays and objects around a number.
fn nested(depth: usize) -> Value {
    let mut v = json!(1);
    for i in 0..depth {
        v = if i % 2 == 0 { json!([v]) } else { json!({ "k": v }) };
    }
    v
}

/// One change to a valid document.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the value at the `pick`-th node (pre-order) with this value.
    Replace(usize, Value),
    /// Remove the `pick`-th key of the `pick`-th object.
    Remove(usize),
    /// Add an unknown key with this value to the `pick`-th object.
    Add(usize, String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), wrong_value()).prop_map(|(p, v)| Mutation::Replace(p, v)),
        1 => any::<usize>().prop_map(Mutation::Remove),
        1 => (any::<usize>(), odd_string(), wrong_value()).prop_map(|(p, k, v)| Mutation::Add(p, k, v)),
    ]
}

fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_nodes).sum(),
        Value::Object(o) => o.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// The `n`-th node in pre-order (0 is the root).
fn node_mut(v: &mut Value, n: usize) -> Option<&mut Value> {
    fn walk<'a>(v: &'a mut Value, n: &mut usize) -> Option<&'a mut Value> {
        if *n == 0 {
            return Some(v);
        }
        *n -= 1;
        match v {
            Value::Array(a) => a.iter_mut().find_map(|c| walk(c, n)),
            Value::Object(o) => o.values_mut().find_map(|c| walk(c, n)),
            _ => None,
        }
    }
    let mut n = n;
    walk(v, &mut n)
}

fn objects(v: &Value) -> usize {
    usize::from(v.is_object())
        + match v {
            Value::Array(a) => a.iter().map(objects).sum(),
            Value::Object(o) => o.values().map(objects).sum(),
            _ => 0,
        }
}

fn object_mut(v: &mut Value, n: usize) -> Option<&mut Map<String, Value>> {
    fn walk<'a>(v: &'a mut Value, n: &mut usize) -> Option<&'a mut Map<String, Value>> {
        if v.is_object() {
            if *n == 0 {
                return v.as_object_mut();
            }
            *n -= 1;
        }
        match v {
            Value::Array(a) => a.iter_mut().find_map(|c| walk(c, n)),
            Value::Object(o) => o.values_mut().find_map(|c| walk(c, n)),
            _ => None,
        }
    }
    let mut n = n;
    walk(v, &mut n)
}

fn apply(doc: &mut Value, m: &Mutation) {
    match m {
        Mutation::Replace(pick, with) => {
            let n = pick % count_nodes(doc);
            if let Some(node) = node_mut(doc, n) {
                *node = with.clone();
            }
        }
        Mutation::Remove(pick) => {
            let count = objects(doc);
            if count > 0 {
                if let Some(o) = object_mut(doc, pick % count) {
                    if let Some(k) = o.keys().nth(pick % o.len().max(1)).cloned() {
                        o.remove(&k);
                    }
                }
            }
        }
        Mutation::Add(pick, key, with) => {
            let count = objects(doc);
            if count > 0 {
                if let Some(o) = object_mut(doc, pick % count) {
                    o.insert(key.clone(), with.clone());
                }
            }
        }
    }
}

/// A valid document with up to four mutations, and as wire text with maybe a duplicated
/// top-level key (`{"data": <wrong>, ...rest}`: JSON parsers keep one of the two).
fn mutated(valid: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    (
        valid,
        prop::collection::vec(mutation(), 0..4),
        prop::option::of(("data|total|limit|page|pagination", wrong_value())),
    )
        .prop_map(|(mut doc, ms, dup)| {
            for m in &ms {
                apply(&mut doc, m);
            }
            let Some((key, value)) = dup else { return doc };
            let text = doc.to_string();
            let Some(rest) = text.strip_prefix('{') else { return doc };
            let sep = if rest == "}" { "" } else { "," };
            let wire = format!("{{{}:{value}{sep}{rest}", Value::String(key));
            // Nesting past serde_json's recursion limit (128) does not parse back: such a
            // body never reaches a dialect parser, so keep the Value as it is.
            serde_json::from_str(&wire).unwrap_or(doc)
        })
}

// ---------------------------------------------------------------------------------------
// Valid documents of each dialect
// ---------------------------------------------------------------------------------------

fn id() -> impl Strategy<Value = Value> {
    prop_oneof![(1u64..1_000_000).prop_map(Value::from), "[a-z0-9-]{1,12}".prop_map(Value::String)]
}

fn date() -> impl Strategy<Value = Value> {
    (1990i32..2040, 1u32..13, 1u32..29).prop_map(|(y, m, d)| json!(format!("{y:04}-{m:02}-{d:02}")))
}

fn timestamp() -> impl Strategy<Value = Value> {
    (1990i32..2040, 1u32..13, 1u32..29, 0u32..24)
        .prop_map(|(y, m, d, h)| json!(format!("{y:04}-{m:02}-{d:02}T{h:02}:00:00.000Z")))
}

fn guide_person() -> impl Strategy<Value = Value> {
    (id(), "[a-z]{1,8}", date(), any::<bool>(), prop::option::of(date())).prop_map(|(id, name, start, active, end)| {
        json!({"id": id, "email": format!("{name}@example.com"), "firstName": name, "lastName": "Q",
               "title": "Engineer", "department": "R&D", "employmentType": "FULL_TIME", "startDate": start,
               "endDate": end, "isActive": active, "role": "EMPLOYEE", "managerId": null,
               "complianceStatus": "COMPLIANT", "trainingStatus": {"securityAwareness": "COMPLETE"},
               "externalId": "E-1"})
    })
}

fn page_envelope(items: Vec<Value>, page: u64, limit: u64, total: u64) -> Value {
    json!({"data": items, "page": page, "limit": limit, "total": total})
}

fn guide_page() -> impl Strategy<Value = Value> {
    (prop::collection::vec(guide_person(), 0..6), 1u64..50, 1u64..101, 0u64..10_000)
        .prop_map(|(items, p, l, t)| page_envelope(items, p, l, t))
}

fn compliance_check() -> impl Strategy<Value = Value> {
    (
        1u64..1000,
        timestamp(),
        prop::sample::select(vec!["SECURITY_TRAINING", "HIPAA_TRAINING", "BG_CHECK", "OFFBOARDING"]),
    )
        .prop_map(|(id, at, kind)| {
            json!({"id": id, "type": kind, "status": "PASS", "checkFrequency": "YEARLY", "completionDate": at,
                   "expiresAt": at, "lastCheckedAt": at})
        })
}

fn v1_person() -> impl Strategy<Value = Value> {
    (1u64..1_000_000, "[a-z]{1,8}", date(), prop::collection::vec(compliance_check(), 0..3)).prop_map(
        |(id, name, start, checks)| {
            json!({"id": id, "employmentStatus": "CURRENT_EMPLOYEE", "startDate": start, "separationDate": null,
                   "user": {"id": id + 7, "email": format!("{name}@example.com"), "firstName": name,
                            "lastName": "Q", "jobTitle": "Engineer",
                            "identities": [{"identityId": "x", "connectionType": "HRIS", "externalId": "E-9"}],
                            "backgroundChecks": [{"status": "COMPLETED", "completedAt": start}]},
                   "devices": [{"id": id * 10, "appsCount": 3, "screenLockTime": 60, "lastCheckedAt": start,
                                "encryptionExplanation": {"why": start}, "identifiers": [{"type": "MAC", "identifier": name}],
                                "complianceChecks": checks.clone()}],
                   "complianceChecks": checks})
        },
    )
}

fn v1_page() -> impl Strategy<Value = Value> {
    (prop::collection::vec(v1_person(), 0..5), 1u64..50, 1u64..51, 0u64..10_000)
        .prop_map(|(items, p, l, t)| page_envelope(items, p, l, t))
}

fn v2_person() -> impl Strategy<Value = Value> {
    (1u64..1_000_000, "[a-z]{1,8}", timestamp(), prop::collection::vec(compliance_check(), 0..3)).prop_map(
        |(id, name, at, checks)| {
            json!({"id": id, "userId": id + 7, "employmentStatus": "CURRENT_EMPLOYEE", "startedAt": at,
                   "separatedAt": null, "statusUpdatedAt": null, "createdAt": at, "updatedAt": at,
                   "user": {"id": id + 7, "email": format!("{name}@example.com"), "firstName": name, "lastName": "Q"},
                   "complianceChecks": checks})
        },
    )
}

fn v2_control() -> impl Strategy<Value = Value> {
    (1u64..1000, "[A-Z]{2}-[0-9]{1,3}", prop::collection::vec(1u64..1000, 0..4), 0u64..20).prop_map(
        |(id, name, owners, total)| {
            json!({"id": id, "name": name, "code": name,
                   "owners": {"data": owners.iter().map(|o| json!({"id": o})).collect::<Vec<_>>(), "totalCount": total}})
        },
    )
}

fn cursor_envelope(items: Vec<Value>, cursor: Option<String>, total: Option<u64>) -> Value {
    let mut pagination = json!({"cursor": cursor});
    if let Some(t) = total {
        pagination["totalCount"] = json!(t);
    }
    json!({"data": items, "pagination": pagination})
}

fn v2_page(item: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    (prop::collection::vec(item, 0..5), prop::option::of("[A-Za-z0-9=]{1,16}"), prop::option::of(0u64..10_000))
        .prop_map(|(items, c, t)| cursor_envelope(items, c, t))
}

fn child_body() -> impl Strategy<Value = Value> {
    (id(), prop::collection::vec(date(), 0..4)).prop_map(|(id, dates)| {
        json!({"personnelId": id, "trainings": dates.iter().map(|d| json!({"name": "SA", "status": "COMPLETE", "completedAt": d})).collect::<Vec<_>>()})
    })
}

// ---------------------------------------------------------------------------------------
// What an acceptance and a rejection must look like
// ---------------------------------------------------------------------------------------

/// Accepted records go on to become Arrow rows: whatever a field held (a date in year
/// 262143, a timestamp with a 23:59 offset), building every table's batch must not panic.
fn rows_build(people: &[crate::record::Person], controls: &[crate::record::Control]) {
    use crate::load::batch::to_batch;
    use crate::record::{EnrichedPerson, FetchStatus};
    const AT: i64 = 1_767_225_600_000_000;
    let enriched: Vec<EnrichedPerson> = people
        .iter()
        .map(|p| EnrichedPerson {
            list_fingerprint: p.fingerprint(),
            person: p.clone(),
            training_fetch: FetchStatus::Ok,
            background_check_fetch: FetchStatus::Ok,
            policies_fetch: None,
            enriched_at: None,
        })
        .collect();
    to_batch(&enriched, AT);
    let trainings: Vec<_> =
        people.iter().flat_map(|p| real::trainings_from_checks(p, vec![json!({"name": 1})])).collect();
    to_batch(&trainings, AT);
    let checks: Vec<_> = people.iter().flat_map(|p| p.compliance_checks.clone()).collect();
    to_batch(&checks, AT);
    let bg: Vec<_> = people.iter().flat_map(|p| p.listed_background_checks.clone().unwrap_or_default()).collect();
    to_batch(&bg, AT);
    let identities: Vec<_> = people.iter().flat_map(|p| p.identities.clone()).collect();
    to_batch(&identities, AT);
    let devices: Vec<_> = people.iter().flat_map(|p| p.devices.clone()).collect();
    let device_checks: Vec<_> = devices.iter().flat_map(|d| d.checks.clone()).collect();
    to_batch(&devices, AT);
    to_batch(&device_checks, AT);
    to_batch(controls, AT);
}

// ---------------------------------------------------------------------------------------
// What a rejection must look like
// ---------------------------------------------------------------------------------------

/// A rejected body: exit 65, the request path, and what about the shape was wrong.
fn assert_shape_error(e: &crate::error::EtlError, path: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(e.kind, FailureKind::DataInvalid);
    prop_assert!(e.message.contains(&format!("GET {path}")), "no path: {}", e.message);
    prop_assert!(e.message.contains("not the documented response ("), "no reason: {}", e.message);
    let reason = e.message.split("response (").nth(1).unwrap_or("").split(')').next().unwrap_or("");
    prop_assert!(!reason.trim().is_empty(), "empty reason: {}", e.message);
    Ok(())
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn guide_pages(body in mutated(guide_page())) {
        let input = body.clone();
        match wire::parse_page("/public/personnel", body.clone(), guide::person_from_wire) {
            Ok(page) => {
                // Accepted: the envelope was there, and every item is either kept or counted.
                let n = input["data"].as_array().map_or(0, Vec::len) as u64;
                prop_assert_eq!(page.items.len() as u64 + page.invalid, n);
                prop_assert!(page.items.iter().all(|p| !p.id.trim().is_empty()));
                rows_build(&page.items, &[]);
            }
            Err(e) => assert_shape_error(&e, "/public/personnel")?,
        }
        match wire::parse_page("/public/controls", body.clone(), guide::control_from_wire) {
            Ok(page) => rows_build(&[], &page.items),
            Err(e) => assert_shape_error(&e, "/public/controls")?,
        }
        if let Err(e) = v1::looks_like_v1("/public/personnel", &body) {
            assert_shape_error(&e, "/public/personnel")?;
        }
    }

    #[test]
    fn guide_child_bodies(body in mutated(child_body())) {
        if let Err(e) = wire::child_array("/public/personnel/a/trainings", body.clone(), "trainings") {
            assert_shape_error(&e, "/public/personnel/a/trainings")?;
            prop_assert!(e.message.contains("trainings"), "{}", e.message);
        }
        if let Err(e) = guide::check_child_owner("/t", &body, "a") {
            prop_assert_eq!(e.kind, FailureKind::DataInvalid);
            prop_assert!(e.message.contains("personnelId") && e.message.contains("not a"), "{}", e.message);
        }
    }

    #[test]
    fn v1_pages(body in mutated(v1_page())) {
        match wire::parse_page("/public/personnel", body.clone(), v1::person_from_wire) {
            Ok(page) => {
                prop_assert!(page.items.iter().all(|p| !p.id.trim().is_empty()));
                rows_build(&page.items, &[]);
            }
            Err(e) => assert_shape_error(&e, "/public/personnel")?,
        }
        if let Err(e) = wire::parse_page("/public/controls", body, v1::control_from_wire) {
            assert_shape_error(&e, "/public/controls")?;
        }
    }

    #[test]
    fn v2_personnel_pages(body in mutated(v2_page(v2_person())), title in odd_string()) {
        let mut users = HashMap::new();
        users.insert("8".to_string(), v2::UserInfo { job_title: Some(title.clone()), background_checks: vec![crate::record::BackgroundCheck { status: Some(title.clone()), extra: Some("{\"odd\":[]}".into()), ..Default::default() }], external_id: None, identities: Vec::new(), details: Default::default() });
        let users = v2::Joins { users, ..Default::default() };
        match v2::parse_cursor_page("/public/v2/personnel", body.clone(), |v| v2::person_from_wire(v, &users)) {
            Ok(page) => {
                rows_build(&page.rows.items, &[]);
                if let Some(c) = &page.cursor {
                    prop_assert!(!c.is_empty());
                }
                // A cursor guard takes any cursor once, and refuses it the second time
                // (unless it is the cursor just sent: an echo ends the list).
                let mut guard = walk::CursorGuard::default();
                if let Some(c) = page.cursor.clone() {
                    prop_assert!(guard.next("/p", None, Some(c.clone())).is_ok());
                    let e = guard.next("/p", None, Some(c.clone())).unwrap_err();
                    prop_assert!(e.message.contains("already returned"), "{}", e.message);
                    prop_assert_eq!(guard.next("/p", Some(&c), Some(c.clone())).unwrap(), None);
                }
            }
            Err(e) => assert_shape_error(&e, "/public/v2/personnel")?,
        }
        let _ = v2::looks_like_v2(&body);
    }

    #[test]
    fn v2_control_pages(body in mutated(v2_page(v2_control()))) {
        match v2::parse_cursor_page("/public/v2/workspaces/1/controls", body, |v| v2::control_from_wire(v, "1")) {
            Ok(page) => rows_build(&[], &page.rows.items.into_iter().map(|(c, _)| c).collect::<Vec<_>>()),
            Err(e) => assert_shape_error(&e, "/public/v2/workspaces/1/controls")?,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Rate-limit headers
// ---------------------------------------------------------------------------------------

/// A header value: valid forms, then the same with odd numbers and text.
fn header_value() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        (0u64..100_000).prop_map(|n| n.to_string()),
        (0.0f64..1e6).prop_map(|f| f.to_string()),
        Just("1e400".to_string()),
        Just("-1".to_string()),
        Just("NaN".to_string()),
        Just("inf".to_string()),
        Just(u64::MAX.to_string()),
        Just("99999999999999999999999".to_string()),
        Just("1700000000".to_string()),
        Just("1700000000000".to_string()),
        Just("4102444800000".to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
    ];
    let date = (0u64..8_000_000_000)
        .prop_map(|s| httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(s % 253_402_300_799)));
    prop_oneof![
        4 => number.clone(),
        2 => date,
        2 => (number.clone(), number.clone(), number.clone()).prop_map(|(l, r, t)| format!("limit={l}, remaining={r}, reset={t}")),
        2 => prop::collection::vec((number.clone(), number), 1..4).prop_map(|ps| {
            ps.iter().enumerate().map(|(i, (r, t))| format!("\"p{i}\";r={r};t={t}")).collect::<Vec<_>>().join(", ")
        }),
        1 => odd_string(),
        1 => Just("r=;t=;;,,=,\"\";\u{0}".to_string()),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let names = prop::sample::select(vec![
        "retry-after",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "ratelimit-remaining",
        "ratelimit-reset",
        "x-rate-limit-remaining",
        "x-rate-limit-reset",
        "ratelimit",
        "date",
    ]);
    prop::collection::vec((names.prop_map(str::to_string), header_value()), 0..8)
}

proptest! {
    #![proptest_config(config(CASES * 2))]

    #[test]
    fn rate_limit_headers(headers in headers(), now_secs in 0u64..8_000_000_000) {
        const HOUR: Duration = Duration::from_secs(3600);
        let local = SystemTime::UNIX_EPOCH + Duration::from_secs(now_secs);
        let get = |name: &str| headers.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let now = retry::server_clock(get("date").as_deref(), local);
        for (name, value) in &headers {
            if let Some(d) = retry::parse_retry_after(value, now) {
                prop_assert!(d <= HOUR, "{}: {} -> {:?}", name, value, d);
            }
            if let Some(d) = retry::parse_rate_limit_reset(value, now) {
                prop_assert!(d <= HOUR, "{}: {} -> {:?}", name, value, d);
            }
        }
        if let Some((remaining, reset)) = retry::parse_rate_limit_quota(get, now) {
            prop_assert!(remaining.is_finite() && remaining >= 0.0, "remaining {}", remaining);
            prop_assert!(reset <= HOUR, "reset {:?}", reset);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The --config file
// ---------------------------------------------------------------------------------------

/// A valid config file's `key = value` lines.
fn config_lines() -> impl Strategy<Value = Vec<(String, toml::Value)>> {
    let valid: Vec<(&str, toml::Value)> = vec![
        ("out", toml::Value::String("data".into())),
        ("page_size", toml::Value::Integer(50)),
        ("concurrency", toml::Value::Integer(4)),
        ("request_timeout", toml::Value::String("5s".into())),
        ("deadline", toml::Value::String("50m".into())),
        ("max_rps", toml::Value::Float(8.0)),
        ("max_retries", toml::Value::Integer(5)),
        ("max_failed_enrichments", toml::Value::String("1%".into())),
        ("incremental", toml::Value::Boolean(true)),
        ("refresh_after", toml::Value::String("24h".into())),
        ("lock_lease", toml::Value::String("2m".into())),
        ("upload_part_size", toml::Value::Integer(8 << 20)),
        ("log_format", toml::Value::String("json".into())),
        ("workspace", toml::Value::String("acme".into())),
    ];
    prop::sample::subsequence(valid.clone(), 0..valid.len())
        .prop_map(|v| v.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn toml_wrong() -> impl Strategy<Value = toml::Value> {
    prop_oneof![
        any::<i64>().prop_map(toml::Value::Integer),
        any::<f64>().prop_map(toml::Value::Float),
        Just(toml::Value::Float(f64::NAN)),
        Just(toml::Value::Float(f64::INFINITY)),
        Just(toml::Value::Float(1e20)),
        Just(toml::Value::Float(1e-300)),
        any::<bool>().prop_map(toml::Value::Boolean),
        odd_string().prop_map(toml::Value::String),
        Just(toml::Value::Array(vec![toml::Value::Integer(1)])),
        Just(toml::Value::Table(toml::Table::new())),
        Just(toml::Value::Datetime("1979-05-27T07:32:00Z".parse().unwrap())),
    ]
}

#[derive(Debug, Clone)]
enum TomlMutation {
    /// Give the `pick`-th line another value.
    Value(usize, toml::Value),
    /// Rename the `pick`-th line's key (unknown, secret or dashed).
    Key(usize, String),
    /// Repeat the `pick`-th line (a TOML error) or repeat it dashed (a setting given twice).
    Duplicate(usize, bool),
    /// Raw text appended: not TOML, deep inline tables.
    Raw(String),
}

fn toml_mutation() -> impl Strategy<Value = TomlMutation> {
    prop_oneof![
        4 => (any::<usize>(), toml_wrong()).prop_map(|(p, v)| TomlMutation::Value(p, v)),
        1 => (any::<usize>(), prop_oneof![odd_string(), Just("api_key".to_string()), Just("page-size".to_string()), Just("Page_Size".to_string())])
            .prop_map(|(p, k)| TomlMutation::Key(p, k)),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(p, d)| TomlMutation::Duplicate(p, d)),
        1 => prop_oneof![
            Just("x = {a = {b = {c = {d = {e = 1}}}}}".to_string()),
            (1usize..200).prop_map(|n| format!("deep = {}1{}", "[".repeat(n), "]".repeat(n))),
            Just("= 1".to_string()),
            Just("page_size = 1e".to_string()),
            Just("out = \"unterminated".to_string()),
            Just("[section]\npage_size = 1".to_string()),
            odd_string(),
        ].prop_map(TomlMutation::Raw),
    ]
}

fn render_toml(lines: &[(String, toml::Value)], mutations: &[TomlMutation]) -> String {
    let mut lines: Vec<(String, String)> = lines.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
    let mut raw = Vec::new();
    for m in mutations {
        let n = lines.len();
        match m {
            TomlMutation::Value(p, v) if n > 0 => {
                // `toml::Value` prints NaN and inf as TOML's nan/inf.
                lines[p % n].1 = v.to_string();
            }
            TomlMutation::Key(p, k) if n > 0 => lines[p % n].0 = toml::Value::String(k.clone()).to_string(),
            TomlMutation::Duplicate(p, dashed) if n > 0 => {
                let (k, v) = lines[p % n].clone();
                let k = if *dashed { k.replace('_', "-") } else { k };
                lines.push((k, v));
            }
            TomlMutation::Raw(text) => raw.push(text.clone()),
            _ => {}
        }
    }
    let mut text: String = lines.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
    for r in raw {
        text.push_str(&r);
        text.push('\n');
    }
    text
}

proptest! {
    // Each case parses the whole command line twice or three times (clap in a debug
    // build), so fewer cases than the pure parsers, still well over a thousand.
    #![proptest_config(config(CASES / 2 + 500))]

    #[test]
    fn config_files(lines in config_lines(), mutations in prop::collection::vec(toml_mutation(), 0..4)) {
        use crate::cli::file::{parse, ParseError};
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("etl.toml");
        let text = render_toml(&lines, &mutations);
        std::fs::write(&path, &text).unwrap();
        let path_text = path.to_str().unwrap();
        match parse(["drata-etl", "run", "--config", path_text]) {
            Ok((cli, _)) => {
                let crate::cli::Command::Run(args) = cli.command else { panic!("run parses as run") };
                // Whatever the file let through is within the documented ranges.
                prop_assert!(crate::cli::resolve::check_tuning(&args.tuning).is_ok(), "{:?}", args.tuning);
            }
            Err(ParseError::Config(e)) => {
                prop_assert_eq!(e.kind, FailureKind::Usage);
                prop_assert!(e.message.starts_with("config file ") && e.message.contains(path_text), "{}", e.message);
                // It says what: the key (backquoted), the line of a TOML error, or a table.
                let what = e.message.contains('`') || e.message.contains(" at line ") || e.message.contains("not valid TOML");
                prop_assert!(what, "says neither the key nor the line: {}", e.message);
                // Never the file's text (it may hold a pasted secret): no odd value echoed
                // unless clap names it as the rejected value.
                prop_assert!(!e.message.contains("sekrit"));
            }
            Err(ParseError::Clap(e)) => prop_assert!(false, "argv is fixed, yet clap failed: {}", e),
        }
    }
}

#[test]
fn mutations_reach_every_node() {
    // The mutator is not vacuous: replacing node n changes the document for every n.
    let doc = json!({"data": [{"id": 1, "user": {"email": "a"}}], "total": 1});
    for n in 0..count_nodes(&doc) {
        let mut d = doc.clone();
        apply(&mut d, &Mutation::Replace(n, json!("X-marker")));
        assert!(d.to_string().contains("X-marker"), "node {n}");
    }
    let mut d = doc.clone();
    apply(&mut d, &Mutation::Add(1, "k".into(), json!(null)));
    assert_eq!(d["data"][0]["k"], Value::Null);
}

#[test]
fn generated_inputs_are_both_accepted_and_rejected() {
    // Neither all valid (the mutations would test nothing) nor all broken (the parsers'
    // accepting paths would go untested).
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut tally = |accepted: &mut dyn FnMut(&mut TestRunner) -> bool| {
        let ok = (0..400).filter(|_| accepted(&mut runner)).count();
        assert!((40..=360).contains(&ok), "{ok} of 400 accepted");
    };
    let guide_pages = mutated(guide_page());
    tally(&mut |r| wire::parse_page("/p", guide_pages.new_tree(r).unwrap().current(), guide::person_from_wire).is_ok());
    let v2_pages = mutated(v2_page(v2_person()));
    tally(&mut |r| {
        v2::parse_cursor_page("/p", v2_pages.new_tree(r).unwrap().current(), v2::person_without_join).is_ok()
    });
    let files = (config_lines(), prop::collection::vec(toml_mutation(), 0..4));
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("etl.toml");
    tally(&mut |r| {
        let (lines, ms) = files.new_tree(r).unwrap().current();
        std::fs::write(&path, render_toml(&lines, &ms)).unwrap();
        crate::cli::file::parse(["drata-etl", "run", "--config", path.to_str().unwrap()]).is_ok()
    });
}
