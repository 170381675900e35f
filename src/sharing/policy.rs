//! Access policies as data: their filters (which assets) and permissions (who reads which
//! attributes), checked when a policy is stored and evaluated when another tenant reads.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::repo::{Event, Filter, FilterField, FilterValue, TermField};

/// One term of a filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Term {
    /// `attributes.<key>=<value>` (or `!=`); `*` for any value.
    Attribute {
        key: String,
        value: Option<String>,
        equal: bool,
    },
    /// `behaviours=<name>`: the asset has this behaviour.
    Behaviour(String),
    /// `public=true|false`. Public assets match no filter, so `true` matches nothing.
    Public(bool),
}

impl Term {
    /// Reads a term as DataTrails writes one.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(rest) = text.strip_prefix("attributes.") {
            // The key runs to the first `=` (or `!=`), and holds neither.
            let Some(at) = rest.find('=') else {
                return Err(format!("{text:?} has no = or !="));
            };
            let (key, equal) = match rest[..at].strip_suffix('!') {
                Some(key) => (key, false),
                None => (&rest[..at], true),
            };
            let value = &rest[at + 1..];
            if key.is_empty() || key.contains('!') {
                return Err(format!("{text:?} names no attribute"));
            }
            let value = (value != "*").then(|| value.to_string());
            return Ok(Self::Attribute {
                key: key.to_string(),
                value,
                equal,
            });
        }
        if let Some(name) = text.strip_prefix("behaviours=").filter(|name| !name.is_empty()) {
            return Ok(Self::Behaviour(name.to_string()));
        }
        match text {
            "public=true" => Ok(Self::Public(true)),
            "public=false" => Ok(Self::Public(false)),
            _ => Err(format!(
                "{text:?} is not attributes.<key>=<value>, attributes.<key>!=<value>, behaviours=<name> or public=true|false"
            )),
        }
    }

    fn matches(&self, asset: &AssetView) -> bool {
        match self {
            Self::Attribute { key, value, equal } => {
                let found = asset.attributes.get(key);
                let holds = match (found, value) {
                    (None, _) => false,
                    // `=*` is set to a non-empty value, as list filters mean it.
                    (Some(found), None) => crate::repo::terms::is_set(found),
                    (Some(Value::String(found)), Some(value)) => found == value,
                    (Some(_), Some(_)) => false,
                };
                holds == *equal
            }
            Self::Behaviour(name) => asset.behaviours.iter().any(|b| b == name),
            Self::Public(public) => *public == asset.public,
        }
    }
}

/// What a filter is judged on.
pub struct AssetView<'a> {
    pub attributes: &'a Map<String, Value>,
    pub behaviours: &'a [String],
    pub public: bool,
}

/// A policy's filters: every or-list must hold for an asset to match.
#[derive(Clone, Debug, Default)]
pub struct Filters(Vec<Vec<Term>>);

/// One or-list, as DataTrails writes it: `{"or": ["attributes.k=v", …]}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrList {
    pub or: Vec<String>,
}

impl Filters {
    /// Reads `filters` (`[{"or": [term…]}…]`); the error names the field at fault.
    pub fn parse(lists: &[OrList]) -> Result<Self, String> {
        if lists.is_empty() {
            return Err("filters must hold at least one {\"or\": [...]}".into());
        }
        let mut filters = Vec::with_capacity(lists.len());
        for (i, list) in lists.iter().enumerate() {
            if list.or.is_empty() {
                return Err(format!("filters[{i}].or must hold at least one term"));
            }
            let terms = list
                .or
                .iter()
                .enumerate()
                .map(|(j, text)| Term::parse(text).map_err(|e| format!("filters[{i}].or[{j}]: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            filters.push(terms);
        }
        Ok(Self(filters))
    }

    /// Whether the asset matches: public assets match no filter, as DataTrails has it.
    pub fn matches(&self, asset: &AssetView) -> bool {
        !asset.public && self.0.iter().all(|any| any.iter().any(|term| term.matches(asset)))
    }

    /// The or-lists as list filters, for SQL to narrow the assets to read: equalities and
    /// behaviours are looked up; an or-list with any other term is left out, so the
    /// narrowing may select more than matches, never less.
    pub fn narrowing(&self) -> Vec<Vec<Filter>> {
        let exact = |term: &Term| match term {
            Term::Attribute {
                key,
                value: Some(value),
                equal: true,
            } => Some(Filter {
                field: FilterField::Term {
                    field: TermField::AssetAttributes,
                    key: key.clone(),
                },
                value: FilterValue::Text(value.clone()),
            }),
            Term::Behaviour(name) => Some(Filter {
                field: FilterField::ArrayHolds("behaviours"),
                value: FilterValue::Text(name.clone()),
            }),
            _ => None,
        };
        self.0
            .iter()
            .filter_map(|any| any.iter().map(exact).collect::<Option<Vec<_>>>())
            .collect()
    }
}

/// One permission of a policy, with every field DataTrails defines (each kept as sent).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    /// `subjects/<uuid>` of the owner's subjects this permission grants.
    #[serde(default)]
    pub subjects: Vec<String>,
    #[serde(default)]
    pub behaviours: Vec<String>,
    /// The asset attributes the subjects may read.
    #[serde(default)]
    pub include_attributes: Vec<String>,
    /// Also read: DataTrails' older name for what may be read.
    #[serde(default)]
    pub asset_attributes_read: Vec<String>,
    #[serde(default)]
    pub asset_attributes_write: Vec<String>,
    #[serde(default)]
    pub event_arc_display_type_read: Vec<String>,
    #[serde(default)]
    pub event_arc_display_type_write: Vec<String>,
    /// OIDC claims a reader's token must hold: `[{"or": ["claim:value", …]}…]`. Stored;
    /// attachd's tokens name tenants, so no reader holds such claims yet.
    #[serde(default)]
    pub user_attributes: Vec<OrList>,
}

impl Permission {
    /// Checks what a client sent; the error names the field at fault.
    pub fn check(&self, at: usize) -> Result<(), String> {
        for (j, subject) in self.subjects.iter().enumerate() {
            let uuid = subject.strip_prefix("subjects/").unwrap_or_default();
            if uuid::Uuid::parse_str(uuid).is_err() {
                return Err(format!(
                    "access_permissions[{at}].subjects[{j}] must be subjects/<uuid>"
                ));
            }
        }
        Ok(())
    }

    /// The attributes this permission lets its subjects read.
    pub fn readable(&self) -> impl Iterator<Item = &String> {
        self.include_attributes.iter().chain(&self.asset_attributes_read)
    }

    /// Adds what this permission grants to `grant`.
    pub fn widen(&self, grant: &mut Grant) {
        grant.attributes.extend(self.readable().cloned());
        // No list of event types means every event.
        match (&mut grant.event_types, self.event_arc_display_type_read.is_empty()) {
            (types, true) => *types = None,
            (Some(types), false) => types.extend(self.event_arc_display_type_read.iter().cloned()),
            (None, false) => {}
        }
    }
}

/// What one reader may see of one asset: the attributes (of the asset and of its events) it
/// may read, and which of its events, by `arc_display_type` (`None`: all).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub attributes: BTreeSet<String>,
    pub event_types: Option<BTreeSet<String>>,
}

impl Default for Grant {
    /// Nothing yet: no attributes and no events, for permissions to widen.
    fn default() -> Self {
        Self {
            attributes: BTreeSet::new(),
            event_types: Some(BTreeSet::new()),
        }
    }
}

impl Grant {
    /// Whether the reader may see the event.
    pub fn shows(&self, event: &Event) -> bool {
        let attributes: Map<String, Value> = serde_json::from_str(&event.event_attributes).unwrap_or_default();
        self.shows_event(&attributes)
    }

    /// Whether the reader may see the event with these attributes.
    pub fn shows_event(&self, event_attributes: &Map<String, Value>) -> bool {
        let Some(types) = &self.event_types else {
            return true;
        };
        matches!(event_attributes.get("arc_display_type"), Some(Value::String(t)) if types.contains(t))
    }

    /// The event as the reader may see it: only the granted attributes of a granted event.
    pub fn event(&self, event: Event) -> Option<Event> {
        self.shows(&event).then(|| Event {
            event_attributes: self.reduce_text(&event.event_attributes),
            asset_attributes: self.reduce_text(&event.asset_attributes),
            ..event
        })
    }

    /// Whether every attribute `filters` read is one the reader may see: a filter on a
    /// hidden one must match nothing, or its answers would reveal the value.
    pub fn sees_filters(&self, filters: &[Filter]) -> bool {
        filters.iter().all(|filter| {
            filter
                .field
                .attribute_key()
                .is_none_or(|key| self.attributes.contains(key))
        })
    }

    /// JSON object text without the attributes the reader may not see.
    pub fn reduce_text(&self, text: &str) -> String {
        let attributes: Map<String, Value> = serde_json::from_str(text).unwrap_or_default();
        Value::Object(self.reduce(&attributes)).to_string()
    }

    /// `attributes` without those the reader may not see.
    pub fn reduce(&self, attributes: &Map<String, Value>) -> Map<String, Value> {
        attributes
            .iter()
            .filter(|(key, _)| self.attributes.contains(*key))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(attributes: Value, public: bool) -> (Map<String, Value>, bool) {
        (attributes.as_object().cloned().unwrap_or_default(), public)
    }

    #[test]
    fn filters_are_and_of_or() {
        let filters = Filters::parse(&[
            OrList {
                or: vec!["attributes.a=1".into(), "attributes.a=2".into()],
            },
            OrList {
                or: vec!["attributes.b!=*".into()],
            },
        ])
        .expect("valid filters");
        let behaviours = Vec::new();
        for (attributes, public, expected) in [
            (serde_json::json!({"a": "1"}), false, true),
            (serde_json::json!({"a": "2", "b": "x"}), false, false),
            (serde_json::json!({"a": "3"}), false, false),
            (serde_json::json!({"a": "1"}), true, false),
            // `!=*` is missing or empty, as in list filters.
            (serde_json::json!({"a": "1", "b": ""}), false, true),
            (serde_json::json!({"a": "1", "b": []}), false, true),
            (serde_json::json!({"a": "1", "b": null}), false, true),
        ] {
            let (attributes, public) = asset(attributes, public);
            let view = AssetView {
                attributes: &attributes,
                behaviours: &behaviours,
                public,
            };
            assert_eq!(filters.matches(&view), expected, "{attributes:?} public={public}");
        }
    }

    #[test]
    fn malformed_filters_name_their_place() {
        let err = Filters::parse(&[OrList {
            or: vec!["attributes.a=1".into(), "colour=red".into()],
        }]);
        assert!(matches!(err, Err(e) if e.starts_with("filters[0].or[1]")));
        assert!(Filters::parse(&[]).is_err());
    }

    #[test]
    fn a_grant_keeps_only_what_it_names() {
        let grant = Grant {
            attributes: ["a".to_string(), "missing".to_string()].into(),
            event_types: None,
        };
        let reduced = grant.reduce(serde_json::json!({"a": "1", "b": "2"}).as_object().expect("object"));
        assert_eq!(Value::Object(reduced), serde_json::json!({"a": "1"}));
    }

    #[test]
    fn narrowing_keeps_only_exact_or_lists() {
        let filters = Filters::parse(&[
            OrList {
                or: vec!["attributes.a=1".into(), "behaviours=RecordEvidence".into()],
            },
            OrList {
                or: vec!["attributes.b=2".into(), "attributes.c!=3".into()],
            },
        ])
        .expect("valid filters");
        let narrowing = filters.narrowing();
        assert_eq!(narrowing.len(), 1, "{narrowing:?}");
        assert_eq!(narrowing[0].len(), 2);
        assert_eq!(narrowing[0][1].field, FilterField::ArrayHolds("behaviours"));
    }

    #[test]
    fn event_types_widen_to_all_when_any_permission_names_none() {
        let typed = Permission {
            event_arc_display_type_read: vec!["Inspection".into()],
            ..Permission::default()
        };
        let mut grant = Grant::default();
        typed.widen(&mut grant);
        let shown =
            |t: &str| grant.shows_event(serde_json::json!({"arc_display_type": t}).as_object().expect("object"));
        assert!(shown("Inspection") && !shown("Repair"));
        Permission::default().widen(&mut grant);
        assert!(grant.shows_event(&Map::new()));
    }
}
