//! The verifiable event log, in DataTrails' merklelog format: every event is a leaf of
//! its tenant's Merkle Mountain Range, kept in massifs, and signed seals of the log's
//! state let anyone check offline that an event is in it and that it only grew.

pub mod anchor;
pub mod audit;
pub mod prove;
pub mod sealer;
pub mod seallog;
pub mod signing;
pub mod startup;
pub mod state;
pub mod trust;
pub mod verify;
