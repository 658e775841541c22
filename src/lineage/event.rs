//! OpenLineage run events (spec 2-0-2) as JSON: what one run read and wrote, built from
//! facts the run already has (its options at the start, its committed manifest at the end).
//! Pure functions, no I/O: delivery is `lineage::mod`'s job.
//!
//! Naming (OpenLineage's naming conventions): the job is `{namespace}/{workspace label}`,
//! or the API's host (and port) for an unlabelled run, since the key, not the host, picks
//! the workspace, a host serving several unlabelled workspaces needs `--workspace` or its own
//! `--openlineage-namespace`. Inputs are the API endpoint families the dialect reads, in the
//! namespace `scheme://host[:port]` of the base URL (never its credentials or query).
//! Outputs are the table folders: namespace `file` and the absolute folder path for a local
//! root, `s3://bucket` (`gs://`, `az://container`, `abfss://container@account...`) and the
//! object-key prefix for a store. Column types are written as `schemas/<table>.json`
//! spells them, from the same declaration the writers use (`load::batch`).

use crate::drata::dialect::Dialect;
use crate::load::batch::{schema_for, type_name};
use crate::load::layout::Table;
use crate::load::Manifest;
use arrow::datatypes::{DataType, Field};
use serde_json::{json, Map, Value};
use std::path::Path;

/// Who wrote the events (a URI, as the spec asks; no public home page is assumed).
pub const PRODUCER: &str = concat!("urn:drata-etl:", env!("CARGO_PKG_VERSION"));
const RUN_EVENT: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const SCHEMA_FACET: &str = "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet";
const STATS_FACET: &str = "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet";
const ERROR_FACET: &str =
    "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";
const NOMINAL_FACET: &str =
    "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet";
const JOB_TYPE_FACET: &str = "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet";
/// The run facet of this tool, described by `schemas/openlineage/DrataEtlRunFacet.json`.
pub const RUN_FACET_KEY: &str = "drata_etl";
/// Its `$id` names the file; fields are only ever added (as table columns are).
pub const RUN_FACET: &str = "urn:drata-etl:schemas/openlineage/DrataEtlRunFacet.json#/$defs/DrataEtlRunFacet";

/// What is known of a run when it starts, and stays true to its end.
#[derive(Debug, Clone)]
pub struct RunFacts {
    /// The OpenLineage job namespace (`--openlineage-namespace`).
    pub namespace: String,
    /// The workspace label, if the run has one.
    pub workspace: Option<String>,
    /// The API base URL (validated: scheme and host).
    pub base_url: url::Url,
    /// `--out` as given: a folder or an object-store URL.
    pub out: std::path::PathBuf,
    pub snapshot_id: String,
    pub snapshot_date: String,
    /// The logical run time (RFC 3339), the run's nominal start.
    pub run_at: String,
    /// The dialect when `--api` forces one (else known only from the committed manifest).
    pub dialect: Option<Dialect>,
}

/// The end of a run as the events tell it.
pub enum Ending<'a> {
    Committed { manifest: &'a Manifest, manifest_path: &'a str },
    Failed { exit_code: i32, kind: &'a str, message: &'a str },
}

/// A random UUIDv7 (time-ordered, as the spec recommends for run ids): 48 bits of Unix
/// milliseconds, the version, then random bits with the RFC 9562 variant.
pub fn new_run_id(now_ms: u64) -> String {
    use rand::Rng;
    let mut b: [u8; 16] = rand::thread_rng().gen();
    b[..6].copy_from_slice(&now_ms.to_be_bytes()[2..]);
    b[6] = 0x70 | (b[6] & 0x0f);
    b[8] = 0x80 | (b[8] & 0x3f);
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// The job's name: the workspace label, else the API's host and port.
pub fn job_name(facts: &RunFacts) -> String {
    match &facts.workspace {
        Some(w) => w.clone(),
        None => host_port(&facts.base_url),
    }
}

fn host_port(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("unknown");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// The inputs' namespace: scheme, host and port of the API (never userinfo, path or query).
pub fn api_namespace(base_url: &url::Url) -> String {
    format!("{}://{}", base_url.scheme(), host_port(base_url))
}

/// The endpoint families each dialect reads (path templates; ids never appear).
pub fn endpoint_families(dialect: Dialect) -> &'static [&'static str] {
    match dialect {
        Dialect::Guide => &[
            "/public/personnel",
            "/public/personnel/{id}/training",
            "/public/personnel/{id}/background-checks",
            "/public/controls",
        ],
        Dialect::V1 => {
            &["/public/personnel", "/public/users/{id}/documents", "/public/controls", "/public/controls/{id}/owners"]
        }
        Dialect::V2 => &[
            "/public/v2/personnel",
            "/public/v2/users",
            "/public/v2/devices",
            "/public/v2/users/{id}/documents",
            "/public/v2/users/{id}/assigned-policies",
            "/public/v2/workspaces",
            "/public/v2/workspaces/{workspaceId}/controls",
            "/public/v2/workspaces/{workspaceId}/controls/{id}/owners",
        ],
    }
}

/// The outputs' namespace and the name of the root: (`file`, absolute folder) for a local
/// root, (`scheme://authority`, key prefix) for an object store.
pub fn output_location(out: &Path) -> (String, String) {
    let text = out.to_string_lossy();
    if text.contains("://") {
        if let Ok(url) = url::Url::parse(&text) {
            if url.scheme() == "file" {
                if let Ok(p) = url.to_file_path() {
                    return local_location(&p);
                }
            } else {
                // `Output::parse` refused credentials and queries; a user part is an
                // abfs[s] container. Password and query are dropped all the same.
                let user = url.username();
                let authority = if user.is_empty() { host_port(&url) } else { format!("{user}@{}", host_port(&url)) };
                let prefix = url.path().trim_matches('/').to_string();
                return (format!("{}://{authority}", url.scheme()), prefix);
            }
        }
    }
    local_location(out)
}

fn local_location(p: &Path) -> (String, String) {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let text = abs.to_string_lossy().trim_end_matches('/').to_string();
    ("file".into(), if text.is_empty() { "/".into() } else { text })
}

/// A table's dataset name under the output root.
pub fn table_name(root: &str, table: &str) -> String {
    match root {
        "" => table.to_string(),
        "/" => format!("/{table}"),
        r => format!("{r}/{table}"),
    }
}

fn field_json(f: &Field, position: usize) -> Value {
    let mut o = json!({"name": f.name(), "type": type_name(f.data_type()), "ordinal_position": position});
    // A list of structs carries its struct's fields, as the facet's nested `fields` allow.
    let nested = match f.data_type() {
        DataType::Struct(fields) => Some(fields),
        DataType::List(item) => match item.data_type() {
            DataType::Struct(fields) => Some(fields),
            _ => None,
        },
        _ => None,
    };
    if let Some(fields) = nested {
        o["fields"] = fields.iter().enumerate().map(|(i, f)| field_json(f, i + 1)).collect();
    }
    o
}

/// The `schema` dataset facet of a table: its columns in file order (partition keys are in
/// the path, not the files, and are not columns here).
pub fn schema_facet(table: Table) -> Value {
    let schema = schema_for(table);
    let fields: Vec<Value> = schema.fields().iter().enumerate().map(|(i, f)| field_json(f, i + 1)).collect();
    json!({"_producer": PRODUCER, "_schemaURL": SCHEMA_FACET, "fields": fields})
}

fn run_facet(facts: &RunFacts, extra: Map<String, Value>) -> Value {
    let mut o = Map::new();
    o.insert("_producer".into(), PRODUCER.into());
    o.insert("_schemaURL".into(), RUN_FACET.into());
    o.insert("snapshotId".into(), facts.snapshot_id.clone().into());
    o.insert("snapshotDate".into(), facts.snapshot_date.clone().into());
    if let Some(w) = &facts.workspace {
        o.insert("workspace".into(), w.clone().into());
    }
    o.extend(extra);
    Value::Object(o)
}

fn inputs(facts: &RunFacts, dialect: Option<Dialect>) -> Vec<Value> {
    let ns = api_namespace(&facts.base_url);
    dialect
        .map(endpoint_families)
        .unwrap_or_default()
        .iter()
        .map(|name| json!({"namespace": ns, "name": name}))
        .collect()
}

fn event(event_type: &str, event_time: &str, run_id: &str, facts: &RunFacts, run_facets: Value) -> Value {
    json!({
        "eventType": event_type,
        "eventTime": event_time,
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT,
        "run": {"runId": run_id, "facets": run_facets},
        "job": {
            "namespace": facts.namespace,
            "name": job_name(facts),
            "facets": {"jobType": {
                "_producer": PRODUCER, "_schemaURL": JOB_TYPE_FACET,
                "processingType": "BATCH", "integration": "DRATA_ETL", "jobType": "JOB",
            }},
        },
    })
}

fn nominal(facts: &RunFacts) -> Value {
    json!({"_producer": PRODUCER, "_schemaURL": NOMINAL_FACET, "nominalStartTime": facts.run_at})
}

/// The START event: the job, the run's snapshot, and the inputs when `--api` names them.
pub fn start(facts: &RunFacts, run_id: &str, event_time: &str) -> Value {
    let facets = json!({"nominalTime": nominal(facts), RUN_FACET_KEY: run_facet(facts, Map::new())});
    let mut e = event("START", event_time, run_id, facts, facets);
    e["inputs"] = inputs(facts, facts.dialect).into();
    e["outputs"] = json!([]);
    e
}

/// The COMPLETE or FAIL event. COMPLETE lists every committed table with its schema and
/// what the manifest says was written; FAIL carries the exit code and message (already
/// scrubbed of secrets by the caller) and no outputs: nothing was committed.
pub fn end(facts: &RunFacts, run_id: &str, event_time: &str, ending: &Ending<'_>) -> Value {
    match ending {
        Ending::Committed { manifest, manifest_path } => {
            let mut extra = Map::new();
            extra.insert("manifest".into(), (*manifest_path).into());
            extra.insert("toolRunId".into(), manifest.run_id.clone().into());
            extra.insert("apiDialect".into(), manifest.api_dialect.clone().into());
            extra.insert("exitCode".into(), 0.into());
            let facets = json!({"nominalTime": nominal(facts), RUN_FACET_KEY: run_facet(facts, extra)});
            let mut e = event("COMPLETE", event_time, run_id, facts, facets);
            let dialect = Dialect::from_name(&manifest.api_dialect).or(facts.dialect);
            e["inputs"] = inputs(facts, dialect).into();
            let (ns, root) = output_location(&facts.out);
            let outputs: Vec<Value> = manifest
                .tables
                .iter()
                .map(|(name, entry)| {
                    let mut facets = Map::new();
                    if let Some(t) = Table::ALL.iter().find(|t| t.name() == name) {
                        facets.insert("schema".into(), schema_facet(*t));
                    }
                    json!({
                        "namespace": ns,
                        "name": table_name(&root, name),
                        "facets": facets,
                        "outputFacets": {"outputStatistics": {
                            "_producer": PRODUCER, "_schemaURL": STATS_FACET,
                            "rowCount": entry.rows,
                            "size": entry.files.iter().map(|f| f.bytes).sum::<u64>(),
                            "fileCount": entry.files.len(),
                        }},
                    })
                })
                .collect();
            e["outputs"] = outputs.into();
            e
        }
        Ending::Failed { exit_code, kind, message } => {
            let mut extra = Map::new();
            extra.insert("exitCode".into(), (*exit_code).into());
            extra.insert("errorKind".into(), (*kind).into());
            let facets = json!({
                "nominalTime": nominal(facts),
                RUN_FACET_KEY: run_facet(facts, extra),
                "errorMessage": {
                    "_producer": PRODUCER, "_schemaURL": ERROR_FACET,
                    "message": format!("exit {exit_code} ({kind}): {message}"),
                    "programmingLanguage": "Rust",
                },
            });
            let mut e = event("FAIL", event_time, run_id, facts, facets);
            e["inputs"] = inputs(facts, facts.dialect).into();
            e["outputs"] = json!([]);
            e
        }
    }
}

#[cfg(test)]
mod tests;
