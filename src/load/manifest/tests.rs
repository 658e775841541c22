//! Unit tests of `load::manifest`, kept beside it so the module reads as code first.

use super::*;
use serde_json::{json, Value};

const SHA: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const AT: &str = "_snapshots/workspace=acme/20260304T050607Z/_manifest.json";

/// A manifest as `run` writes it: workspace acme, two tables, one file each.
fn good() -> Value {
    let file = |t: &str| {
        json!({"path": format!("{t}/workspace=acme/snapshot_date=2026-03-04/snapshot_id=20260304T050607Z/part-00000.parquet"),
               "rows": 3, "bytes": 100, "sha256": SHA})
    };
    json!({
        "format_version": 1, "run_id": "0123abcd", "snapshot_id": "20260304T050607Z",
        "snapshot_date": "2026-03-04", "workspace": "acme", "run_at": "2026-03-04T05:06:07Z",
        "started_at": "", "finished_at": "", "tool_version": "t", "api_dialect": "guide", "base_url": "",
        "tables": {"personnel": {"rows": 3, "files": [file("personnel")]},
                   "controls": {"rows": 3, "files": [file("controls")]}},
        "listing": serde_json::to_value(ListingStats::default()).unwrap(),
        "enrichment": serde_json::to_value(EnrichmentStats::default()).unwrap(),
        "api": serde_json::to_value(ApiStats::default()).unwrap(),
    })
}

fn parse(v: &Value, at: Option<&str>) -> Result<Manifest, ManifestError> {
    Manifest::parse(&serde_json::to_vec(v).unwrap(), "/out/x/_manifest.json", at)
}

/// `good()` with one change; the error must name `field`.
fn rejected(change: impl FnOnce(&mut Value), field: &str) -> ManifestError {
    let mut v = good();
    change(&mut v);
    let e = parse(&v, Some(AT)).expect_err(field);
    assert_eq!(e.field, field, "{e}");
    assert_eq!(e.from, "/out/x/_manifest.json");
    assert_eq!(e.clone().into_error().kind, FailureKind::DataInvalid);
    e
}

fn set_path(v: &mut Value, p: &str) {
    v["tables"]["personnel"]["files"][0]["path"] = p.into();
}

#[test]
fn what_run_writes_is_accepted() {
    let m = parse(&good(), Some(AT)).unwrap();
    assert_eq!(m.rows("personnel"), 3);
    let mut v = good();
    v.as_object_mut().unwrap().remove("workspace");
    for t in ["personnel", "controls"] {
        let p = v["tables"][t]["files"][0]["path"].as_str().unwrap().replace("workspace=acme/", "");
        v["tables"][t]["files"][0]["path"] = p.into();
    }
    parse(&v, Some("_snapshots/20260304T050607Z/_manifest.json")).unwrap();
    v["snapshot_id"] = "20260304T050607_250000Z".into();
    let p = "personnel/snapshot_date=2026-03-04/snapshot_id=20260304T050607_250000Z/part-00012.parquet";
    v["tables"] = json!({"personnel": {"rows": 1, "files": [{"path": p, "rows": 1, "bytes": 1, "sha256": SHA}]}});
    parse(&v, None).unwrap();
    // A Delta run's files carry its run id.
    let p =
        "personnel/snapshot_date=2026-03-04/snapshot_id=20260304T050607_250000Z/part-00012-0123456789abcdef.parquet";
    v["tables"] = json!({"personnel": {"rows": 1, "files": [{"path": p, "rows": 1, "bytes": 1, "sha256": SHA}]}});
    parse(&v, None).unwrap();
}

#[test]
fn file_paths_are_relative_and_stay_inside_their_partition() {
    let f = "tables.personnel.files[0].path";
    let e = rejected(|v| set_path(v, "/etc/passwd"), f);
    assert!(e.reason.contains("absolute"), "{e}");
    let e = rejected(|v| set_path(v, "../../x"), f);
    assert!(e.reason.contains("'..'"), "{e}");
    let base = "personnel/workspace=acme/snapshot_date=2026-03-04/snapshot_id=20260304T050607Z";
    let e = rejected(|v| set_path(v, &format!("{base}/../../../../../x/part-00000.parquet")), f);
    assert!(e.reason.contains("'..'"), "{e}");
    let e = rejected(|v| set_path(v, &format!("{base}//part-00000.parquet")), f);
    assert!(e.reason.contains("empty segment"), "{e}");
    let e = rejected(|v| set_path(v, &format!("{base}/./part-00000.parquet")), f);
    assert!(e.reason.contains("'.' segment"), "{e}");
    let e = rejected(|v| set_path(v, &format!("{base}\\part-00000.parquet")), f);
    assert!(e.reason.contains("backslash"), "{e}");
    let e = rejected(|v| set_path(v, &format!("{base}/part-0\u{0}.parquet")), f);
    assert!(e.reason.contains("NUL") && !e.to_string().contains('\0'), "{e}");
    let e = rejected(|v| set_path(v, "C:/x/part-00000.parquet"), f);
    assert!(e.reason.contains("':'"), "{e}");
    rejected(|v| set_path(v, ""), f);
    // Relative and clean, but another table's, workspace's, date's or snapshot's folder.
    for wrong in [
        "controls/workspace=acme/snapshot_date=2026-03-04/snapshot_id=20260304T050607Z/part-00000.parquet",
        "personnel/workspace=other/snapshot_date=2026-03-04/snapshot_id=20260304T050607Z/part-00000.parquet",
        "personnel/snapshot_date=2026-03-04/snapshot_id=20260304T050607Z/part-00000.parquet",
        "personnel/workspace=acme/snapshot_date=2026-03-05/snapshot_id=20260304T050607Z/part-00000.parquet",
        "personnel/workspace=acme/snapshot_date=2026-03-04/snapshot_id=20260101T000000Z/part-00000.parquet",
        "personnel/workspace=acme/snapshot_date=2026-03-04/snapshot_id=20260304T050607Z/sub/part-00000.parquet",
        "personnel/workspace=acme/snapshot_date=2026-03-04/snapshot_id=20260304T050607Z/notes.txt",
        "personnel/workspace=acme/snapshot_date=2026-03-04/snapshot_id=20260304T050607Z/part-00000-ABCDEF12.parquet",
        "personnel/workspace=acme/snapshot_date=2026-03-04/snapshot_id=20260304T050607Z/part-00000-abc.parquet",
        "personnel/workspace=acme/snapshot_date=2026-03-04/snapshot_id=20260304T050607Z/part-00000-0123456789abcdef-x.parquet",
        "personnel/workspace=acme/snapshot_date=2026-03-04/snapshot_id=20260304T050607Z/part--0123456789abcdef.parquet",
        "personnel/workspace=acme/snapshot_date=2026-03-04/snapshot_id=20260304T050607Z",
        "_snapshots/workspace=acme/20260304T050607Z/_manifest.json",
    ] {
        let e = rejected(|v| set_path(v, wrong), f);
        assert!(e.reason.contains("directly inside personnel/workspace=acme/"), "{wrong}: {e}");
    }
    let e = rejected(
        |v| {
            let dup = v["tables"]["personnel"]["files"][0].clone();
            v["tables"]["personnel"]["files"].as_array_mut().unwrap().push(dup);
        },
        "tables.personnel.files[1].path",
    );
    assert!(e.reason.contains("twice"), "{e}");
}

#[test]
fn ids_dates_workspaces_tables_and_run_ids_have_the_layout_formats() {
    for bad in ["../../etc", "", "20260304T050607", "20260304T050607Z/..", "2026030AT050607Z", "20261304T050607Z"] {
        rejected(|v| v["snapshot_id"] = bad.into(), "snapshot_id");
    }
    rejected(|v| v["snapshot_date"] = "2026-03-05".into(), "snapshot_date");
    rejected(|v| v["snapshot_date"] = "../x".into(), "snapshot_date");
    rejected(|v| v["snapshot_date"] = "2026-3-4".into(), "snapshot_date");
    for bad in ["../x", "a/b", "", "_x", "x y"] {
        rejected(|v| v["workspace"] = bad.into(), "workspace");
    }
    for bad in ["../../x", "", "a/b", "a.b"] {
        rejected(|v| v["run_id"] = bad.into(), "run_id");
    }
    let e = rejected(|v| v["tables"]["../../x"] = json!({"rows": 0, "files": []}), "tables");
    assert!(e.reason.contains("not a table"), "{e}");
    rejected(|v| v["tables"]["personnel"]["files"][0]["sha256"] = "ab".into(), "tables.personnel.files[0].sha256");
    rejected(|v| v["format_version"] = 2.into(), "format_version");
}

#[test]
fn a_manifest_lies_where_its_fields_place_it() {
    let e = parse(&good(), Some("_snapshots/workspace=acme/20990101T000000Z/_manifest.json")).unwrap_err();
    assert_eq!(e.field, "snapshot_id");
    assert!(e.reason.contains(AT), "{e}");
    let e = parse(&good(), Some("_snapshots/20260304T050607Z/_manifest.json")).unwrap_err();
    assert_eq!(e.field, "snapshot_id");
}

#[test]
fn documents_that_are_not_manifests_are_rejected_clearly() {
    for bytes in [&b""[..], b"null", b"[]", b"{", b"{\"format_version\": \"1\"}"] {
        let e = Manifest::parse(bytes, "s3://b/p/_manifest.json", None).unwrap_err();
        assert_eq!(e.field, "(document)");
        assert!(e.to_string().starts_with("manifest s3://b/p/_manifest.json rejected: "), "{e}");
    }
    let mut v = good();
    v["run_id"] = "x".repeat(100_000).into();
    let e = parse(&v, None).unwrap_err();
    assert!(e.to_string().len() < 1000, "a hostile value is not echoed whole");
}

fn hostile_string() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        Just("../../etc".to_string()),
        Just("/etc/passwd".to_string()),
        Just("..".to_string()),
        Just(".".to_string()),
        Just("a\\b".to_string()),
        Just("a\u{0}b".to_string()),
        Just("C:/x".to_string()),
        Just("\u{202e}\u{feff}é\u{1F600}".to_string()),
        Just(String::new()),
        Just("x".repeat(5000)),
        "\\PC{0,40}",
        ".{0,40}",
    ]
}

fn hostile_value() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        Just(serde_json::from_str::<Value>("1e308").unwrap()),
        hostile_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(8, 64, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(hostile_string(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer to a node of `v` (the places a mutation may hit).
fn pointers(v: &Value, here: String, out: &mut Vec<String>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                pointers(x, format!("{here}/{}", k.replace('~', "~0").replace('/', "~1")), out)
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{here}/{i}"), out)
            }
        }
        _ => {}
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

    /// Valid manifests, mutated at up to three places (a wrong type, a huge number,
    /// deep nesting, odd unicode, a hostile path), and raw bytes around them: the parser
    /// never panics; a rejection names the manifest and a field; an acceptance passes
    /// every rule again (so no hostile path slips through).
    #[test]
    fn mutated_manifests_never_panic_and_rejections_are_clear(
        picks in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), hostile_value()), 1..4),
        cut in proptest::prelude::any::<proptest::sample::Index>(),
        deep in 0usize..3000,
    ) {
        let mut v = good();
        for (at, new) in picks {
            let mut ps = Vec::new();
            pointers(&v, String::new(), &mut ps);
            let p = at.get(&ps).clone();
            if let Some(slot) = v.pointer_mut(&p) {
                *slot = new;
            }
        }
        let bytes = serde_json::to_vec(&v).unwrap();
        let nested = format!("{}{}", "[".repeat(deep), "]".repeat(deep));
        for doc in [bytes.clone(), bytes[..cut.index(bytes.len() + 1)].to_vec(), nested.into_bytes()] {
            match Manifest::parse(&doc, "s3://b/_snapshots/x/_manifest.json", Some(AT)) {
                Ok(m) => {
                    proptest::prop_assert!(m.check().is_ok());
                    for f in m.tables.values().flat_map(|t| &t.files) {
                        proptest::prop_assert!(check_relative(&f.path).is_ok() && !f.path.contains(".."));
                    }
                }
                Err(e) => {
                    let text = e.to_string();
                    proptest::prop_assert!(text.starts_with("manifest s3://b/_snapshots/x/_manifest.json rejected: "));
                    proptest::prop_assert!(!e.field.is_empty() && !e.reason.is_empty());
                    proptest::prop_assert!(text.len() < 2000, "{}", text.len());
                    proptest::prop_assert!(!text.contains('\0'));
                }
            }
        }
    }
}

#[test]
fn manifests_from_before_the_link_counts_are_accepted() {
    // Older runs wrote no unresolved_managers / unmatched_devices: they read as zero.
    let mut v = good();
    let listing = v["listing"].as_object_mut().unwrap();
    assert!(listing.remove("unresolved_managers").is_some() && listing.remove("unmatched_devices").is_some());
    let m = parse(&v, Some(AT)).unwrap();
    assert_eq!((m.listing.unresolved_managers, m.listing.unmatched_devices), (0, 0));
    v["listing"]["unresolved_managers"] = 3.into();
    assert_eq!(parse(&v, Some(AT)).unwrap().listing.unresolved_managers, 3);
}
