//! API tests: the real server over HTTP, each against SQLite and PostgreSQL.

mod apikeys;
mod attachments;
mod blobs;
mod common;
mod contract;
mod fuzz;
mod hostile;
mod identity;
mod isolation;
mod limits;
mod lists;
mod log_tampering;
mod mediapocket;
mod merklelog;
mod navarik;
mod oidc;
mod openapi;
mod operations;
mod outage;
mod ranges;
mod scale_out;
mod scanning;
mod sdk;
mod store_migration;
mod sweeping;
mod tenancies;
pub mod tokens;
