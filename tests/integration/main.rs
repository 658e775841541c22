//! Every integration test of drata-etl in one test binary: each file here is a module, so
//! the suite links every dependency once instead of once per file (link time and `target/`
//! size were the cost of fourteen binaries).
//!
//! Run one family with its module path, e.g. `scripts/test.sh --test integration hostile_api::`.
//! The end-to-end modules run the real `drata-etl` binary (`common::bin`) against servers
//! bound on 127.0.0.1:0: the embedded simulator (`common::start`) or ad-hoc misbehaving ones.

// Support modules.
mod common;
mod moto;
mod openapi;
#[cfg(feature = "analytics")]
mod queries;

// Test families.
mod airflow_dag;
#[cfg(feature = "analytics")]
mod analytics_e2e;
mod analytics_scale;
mod crash_e2e;
mod dbt_e2e;
mod deadline_e2e;
#[cfg(feature = "delta")]
mod delta_e2e;
#[cfg(feature = "delta")]
mod delta_store_e2e;
mod dialects_e2e;
#[cfg(feature = "analytics")]
mod history_e2e;
mod history_scale;
mod hostile_api;
mod identities_devices_e2e;
mod incremental_e2e;
mod interop;
mod key_command_e2e;
mod limiter_shapes_e2e;
mod lineage_e2e;
mod listing_behaviours;
mod object_store_e2e;
mod openapi_contract;
mod ops_e2e;
mod pipeline_e2e;
mod policies_e2e;
#[cfg(feature = "analytics")]
mod real_answers_e2e;
mod real_fields_e2e;
mod resilience_e2e;
mod shared_pace_e2e;
mod sim_api;
mod spark_e2e;
mod trust_read_back_e2e;
mod untrusted_api;
mod user_limits_e2e;
