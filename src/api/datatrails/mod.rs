//! The DataTrails dialect, as DataTrails' swagger files describe it: blobs, assets, events,
//! attachments, public assets, app registrations, tokens, tenancies and API keys.

pub(super) mod access;
pub(super) mod access_policies;
pub(super) mod apikeys;
pub(super) mod applications;
pub(super) mod assets;
pub(super) mod attachments;
pub(super) mod blobs;
pub(super) mod event_views;
pub(super) mod events;
pub(super) mod lookup;
pub(super) mod merklelog;
pub(super) mod public;
pub(super) mod scitt;
pub(super) mod subjects;
pub(super) mod tenancies;
pub(super) mod token;
