//! Extract: page through the personnel list until it is complete and stable (`paging`),
//! then enrich each person with their child records under the shared concurrency bound
//! (`enrich`); resolve real-dialect managers from everyone's identities (`managers`).
//! Works on canonical records; knows nothing of Parquet.

pub mod enrich;
pub mod incremental;
pub mod managers;
pub mod paging;
