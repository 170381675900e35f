//! attachd: a multi-tenant attachment server that speaks the DataTrails API.

pub mod api;
pub mod auth;
pub mod blob;
pub mod cli;
pub mod config;
pub mod error;
pub mod ids;
pub mod log;
pub mod metrics;
pub mod ratelimit;
pub mod repo;
pub mod scan;
pub mod scitt;
pub mod server;
pub mod sharing;
pub mod state;
pub mod store;
pub mod tenants;

pub use server::serve;
pub use state::AppState;
