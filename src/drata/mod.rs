//! The Drata API client: transport, retries and pacing (`client`, `retry`, `pacing`) shared
//! by every dialect, and one module per dialect mapping its wire JSON into
//! `crate::record`. Nothing here knows Arrow or Parquet.

pub mod client;
pub mod guide;
pub mod pacing;
pub mod retry;

pub use client::{ApiKey, ClientConfig, DrataClient, Endpoint};
