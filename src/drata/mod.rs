//! The Drata API client: transport, retries and pacing (`client`, `retry`, `pacing`), the
//! wire toolkit (`wire`) and paging guards (`walk`) shared by every dialect, the record
//! mapping the real API's versions share (`real`), one module per dialect (`guide`, `v1`,
//! `v2`: its requests, paging and records; none imports another), the permission each
//! endpoint needs (`permissions`), the v2 assigned-policies mapping (`policies`), and `dialect`, the one
//! interface (`Api`) the rest of the crate calls. Everything maps wire JSON into
//! `crate::record`; nothing here knows Arrow, Parquet or where a snapshot is written.

pub mod client;
pub mod dialect;
pub mod guide;
pub mod pacing;
pub mod permissions;
pub mod policies;
#[cfg(test)]
mod proptests;
pub mod real;
pub mod retry;
pub mod v1;
pub mod v2;
pub mod walk;
pub mod wire;

pub use client::{ApiKey, ClientConfig, DrataClient, Endpoint};
pub use dialect::{Api, Dialect};
