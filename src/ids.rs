//! Newtype ids, parsed once at the edge and written as DataTrails resource names.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An id that does not parse: says which kind and what was given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what} id: {given:?} is not a uuid")]
pub struct IdError {
    pub what: String,
    pub given: String,
}

macro_rules! resource_id {
    ($name:ident, $prefix:literal, $what:literal) => {
        #[doc = concat!("The id of a ", $what, ", written `", $prefix, "/<uuid>`.")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            /// `prefix/<uuid>`, as DataTrails names the resource.
            pub fn identity(&self) -> String {
                format!("{}/{}", $prefix, self.0)
            }

            /// Parses a bare uuid as found in a URL path.
            pub fn parse_bare(s: &str) -> Result<Self, IdError> {
                parse_uuid(s, $what).map(Self)
            }

            /// Parses `prefix/<uuid>`.
            pub fn parse_identity(s: &str) -> Option<Self> {
                s.strip_prefix(concat!($prefix, "/"))
                    .and_then(strict_uuid)
                    .map(Self)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}/{}", $prefix, self.0)
            }
        }
    };
}

resource_id!(TenantId, "tenant", "tenant");
resource_id!(BlobId, "blobs", "blob");
resource_id!(AppId, "applications", "application");
resource_id!(AssetId, "assets", "asset");
resource_id!(EventId, "events", "event");
resource_id!(ApiKeyId, "apikeys", "API key");

/// Accepts only the canonical hyphenated form, as DataTrails writes ids.
fn strict_uuid(s: &str) -> Option<Uuid> {
    if s.len() != 36 {
        return None;
    }
    Uuid::try_parse(s).ok()
}

/// A bare uuid from a URL path, or why not, naming `what`.
pub fn parse_uuid(s: &str, what: &str) -> Result<Uuid, IdError> {
    strict_uuid(s).ok_or_else(|| IdError {
        what: what.to_string(),
        given: s.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_round_trip() {
        let id = BlobId::new();
        assert_eq!(BlobId::parse_identity(&id.identity()), Some(id));
        assert_eq!(BlobId::parse_identity(&id.0.to_string()), None);
        assert_eq!(TenantId::parse_identity(&id.identity()), None);
        assert!(BlobId::parse_bare("not-a-uuid").is_err());
        assert!(BlobId::parse_bare(&id.0.simple().to_string()).is_err());
    }
}
