//! The Drata API client: transport, retries and pacing (`client`, `retry`, `pacing`) shared
//! by every dialect, and one module per dialect mapping its wire JSON into
//! `crate::record`. Nothing here knows Arrow or Parquet.

pub mod client;
pub mod dialect;
pub mod guide;
pub mod pacing;
#[cfg(test)]
mod proptests;
pub mod retry;
pub mod v1;
pub mod v2;
pub mod walk;

pub use client::{ApiKey, ClientConfig, DrataClient, Endpoint};
pub use dialect::{Api, Dialect};
