//! Unit tests of event building: names, namespaces, facets and the run id.

use super::*;
use crate::load::manifest::{FileEntry, TableEntry};
use std::collections::BTreeMap;

fn facts(out: &str, workspace: Option<&str>, dialect: Option<Dialect>) -> RunFacts {
    RunFacts {
        namespace: "drata-etl".into(),
        workspace: workspace.map(str::to_string),
        base_url: url::Url::parse("https://public-api.eu.drata.com/").unwrap(),
        out: out.into(),
        snapshot_id: "20260131T020000Z".into(),
        snapshot_date: "2026-01-31".into(),
        run_at: "2026-01-31T02:00:00Z".into(),
        dialect,
    }
}

fn manifest() -> Manifest {
    let file = |path: &str, rows, bytes| FileEntry { path: path.into(), rows, bytes, sha256: "0".repeat(64) };
    let mut tables = BTreeMap::new();
    tables.insert(
        "personnel".to_string(),
        TableEntry { rows: 7, files: vec![file("personnel/a.parquet", 5, 100), file("personnel/b.parquet", 2, 50)] },
    );
    tables.insert("controls".to_string(), TableEntry { rows: 0, files: vec![] });
    Manifest {
        format_version: crate::load::manifest::MANIFEST_FORMAT_VERSION,
        run_id: "abcdef0123456789".into(),
        snapshot_id: "20260131T020000Z".into(),
        snapshot_date: "2026-01-31".into(),
        workspace: None,
        run_at: "2026-01-31T02:00:00Z".into(),
        started_at: "2026-01-31T02:00:00.000Z".into(),
        finished_at: "2026-01-31T02:00:01.000Z".into(),
        tool_version: "0".into(),
        api_dialect: "v2".into(),
        base_url: "https://public-api.eu.drata.com".into(),
        tables,
        listing: Default::default(),
        enrichment: Default::default(),
        incremental: None,
        api: Default::default(),
    }
}

#[test]
fn run_ids_are_uuid_v7_and_time_ordered() {
    let a = new_run_id(1_700_000_000_000);
    let b = new_run_id(1_700_000_000_001);
    let re = |s: &str| {
        let parts: Vec<&str> = s.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), vec![8, 4, 4, 4, 12], "{s}");
        assert!(s.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        assert!(parts[2].starts_with('7'), "version 7: {s}");
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "RFC 9562 variant: {s}");
    };
    re(&a);
    re(&b);
    assert!(a < b, "{a} {b}");
    assert_eq!(&a[..8], "018bcfe5", "the first 48 bits are the milliseconds");
    assert_ne!(new_run_id(5), new_run_id(5));
}

#[test]
fn job_is_the_label_else_the_api_host() {
    assert_eq!(job_name(&facts("out", Some("acme"), None)), "acme");
    assert_eq!(job_name(&facts("out", None, None)), "public-api.eu.drata.com");
    let mut f = facts("out", None, None);
    f.base_url = url::Url::parse("http://127.0.0.1:8080/").unwrap();
    assert_eq!(job_name(&f), "127.0.0.1:8080");
}

#[test]
fn api_namespace_never_carries_credentials_or_query() {
    let u = url::Url::parse("https://user:secret@api.example.com:8443/public?token=abc").unwrap();
    assert_eq!(api_namespace(&u), "https://api.example.com:8443");
}

#[test]
fn output_locations() {
    assert_eq!(output_location(Path::new("s3://bucket/a/b/")), ("s3://bucket".into(), "a/b".into()));
    assert_eq!(output_location(Path::new("gs://bucket")), ("gs://bucket".into(), String::new()));
    assert_eq!(
        output_location(Path::new("abfss://data@acct.dfs.core.windows.net/x")),
        ("abfss://data@acct.dfs.core.windows.net".into(), "x".into())
    );
    assert_eq!(output_location(Path::new("/srv/out/")), ("file".into(), "/srv/out".into()));
    assert_eq!(output_location(Path::new("file:///srv/out")), ("file".into(), "/srv/out".into()));
    let (ns, rel) = output_location(Path::new("rel/out"));
    assert_eq!(ns, "file");
    assert!(rel.starts_with('/') && rel.ends_with("/rel/out"), "{rel}");
    assert_eq!(table_name("a/b", "personnel"), "a/b/personnel");
    assert_eq!(table_name("", "personnel"), "personnel");
    assert_eq!(table_name("/", "personnel"), "/personnel");
}

#[test]
fn schema_facet_follows_the_declared_columns() {
    for t in Table::ALL {
        let facet = schema_facet(t);
        let want = schema_for(t);
        let names: Vec<&str> =
            facet["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
        let declared: Vec<&str> = want.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, declared, "{}", t.name());
        // Types are spelled as schemas/<table>.json spells them.
        let doc: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{}/schemas/{}.json", env!("CARGO_MANIFEST_DIR"), t.name())).unwrap(),
        )
        .unwrap();
        let documented: Vec<&str> =
            doc["columns"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
        let types: Vec<&str> =
            facet["fields"].as_array().unwrap().iter().map(|f| f["type"].as_str().unwrap()).collect();
        assert_eq!(types, documented, "{}", t.name());
        assert_eq!(facet["fields"][0]["ordinal_position"], 1);
    }
    let p = schema_facet(Table::Personnel);
    let at = p["fields"].as_array().unwrap().iter().find(|f| f["name"] == "snapshot_at").unwrap();
    assert_eq!(at["type"], "timestamp[us, UTC]");
}

#[test]
fn start_names_the_job_and_the_forced_dialects_inputs() {
    let e = start(&facts("s3://b/p", Some("acme"), Some(Dialect::Guide)), "id-1", "2026-01-31T02:00:00.000Z");
    assert_eq!(e["eventType"], "START");
    assert_eq!(e["run"]["runId"], "id-1");
    assert_eq!(e["job"], json!({"namespace": "drata-etl", "name": "acme", "facets": e["job"]["facets"].clone()}));
    assert_eq!(e["job"]["facets"]["jobType"]["processingType"], "BATCH");
    let inputs: Vec<&str> = e["inputs"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(inputs, endpoint_families(Dialect::Guide));
    assert_eq!(e["inputs"][0]["namespace"], "https://public-api.eu.drata.com");
    assert_eq!(e["outputs"], json!([]));
    let f = &e["run"]["facets"][RUN_FACET_KEY];
    assert_eq!(f["snapshotId"], "20260131T020000Z");
    assert_eq!(f["workspace"], "acme");
    assert_eq!(e["run"]["facets"]["nominalTime"]["nominalStartTime"], "2026-01-31T02:00:00Z");
    // Unforced: no inputs yet (they come with the end event).
    let e = start(&facts("out", None, None), "id-1", "2026-01-31T02:00:00.000Z");
    assert_eq!(e["inputs"], json!([]));
}

#[test]
fn complete_lists_each_table_with_what_the_manifest_says() {
    let m = manifest();
    let ending = Ending::Committed { manifest: &m, manifest_path: "s3://b/p/_snapshots/x/_manifest.json" };
    let e = end(&facts("s3://b/p", None, None), "id-1", "2026-01-31T02:00:02.000Z", &ending);
    assert_eq!(e["eventType"], "COMPLETE");
    let outputs = e["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 2);
    assert_eq!(outputs[0]["namespace"], "s3://b");
    assert_eq!(outputs[0]["name"], "p/controls");
    assert_eq!(outputs[1]["name"], "p/personnel");
    assert_eq!(
        outputs[1]["outputFacets"]["outputStatistics"],
        json!({"_producer": PRODUCER, "_schemaURL": STATS_FACET, "rowCount": 7, "size": 150, "fileCount": 2})
    );
    assert_eq!(outputs[0]["outputFacets"]["outputStatistics"]["fileCount"], 0);
    assert_eq!(outputs[1]["facets"]["schema"], schema_facet(Table::Personnel));
    // The dialect comes from the manifest when --api did not force it.
    let inputs: Vec<&str> = e["inputs"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(inputs, endpoint_families(Dialect::V2));
    let f = &e["run"]["facets"][RUN_FACET_KEY];
    assert_eq!(f["manifest"], "s3://b/p/_snapshots/x/_manifest.json");
    assert_eq!(f["toolRunId"], "abcdef0123456789");
    assert_eq!(f["exitCode"], 0);
    assert!(e["run"]["facets"].get("errorMessage").is_none());
}

#[test]
fn fail_carries_exit_code_and_message_and_no_outputs() {
    let ending = Ending::Failed { exit_code: 77, kind: "auth", message: "the API refused the key (401)" };
    let e = end(&facts("out", None, Some(Dialect::V1)), "id-1", "2026-01-31T02:00:02.000Z", &ending);
    assert_eq!(e["eventType"], "FAIL");
    assert_eq!(e["outputs"], json!([]));
    let err = &e["run"]["facets"]["errorMessage"];
    assert_eq!(err["message"], "exit 77 (auth): the API refused the key (401)");
    assert_eq!(err["programmingLanguage"], "Rust");
    assert_eq!(e["run"]["facets"][RUN_FACET_KEY]["exitCode"], 77);
    assert_eq!(e["run"]["facets"][RUN_FACET_KEY]["errorKind"], "auth");
    assert_eq!(e["inputs"].as_array().unwrap().len(), endpoint_families(Dialect::V1).len());
}
