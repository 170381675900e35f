//! API tests: the real server over HTTP, each against SQLite and PostgreSQL.

mod attachments;
mod blobs;
mod common;
mod operations;
mod sdk;
mod tokens;
