//! Attribute terms: each top-level string attribute of an asset or asset event as a row of
//! `asset_terms` / `event_terms`, written in the transaction that writes the row. An
//! attribute filter or count then reads only the matching entries of one tenant's index
//! range, on both databases, however many rows the tenants hold.
//!
//! A term is a 16-byte hash of which JSON field, the key and the value: fixed-size index
//! entries whatever the length of a value (PostgreSQL refuses btree entries over ~2.7 KB),
//! and no quoting of keys. Only strings are terms, as only strings match a filter.

use sha2::{Digest, Sha256};

/// Which JSON object of a row a term comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TermField {
    /// An asset's current `attributes` (`asset_terms`).
    AssetAttributes,
    /// An event's `event_attributes` (`event_terms`, as are the others).
    EventAttributes,
    /// The asset attributes an event set.
    EventAssetAttributes,
    /// The event's `principal_declared`.
    PrincipalDeclared,
}

impl TermField {
    /// Whether the term lives in `asset_terms` rather than `event_terms`.
    pub fn of_asset(self) -> bool {
        self == TermField::AssetAttributes
    }

    fn code(self) -> u8 {
        match self {
            TermField::AssetAttributes => 1,
            TermField::EventAttributes => 2,
            TermField::EventAssetAttributes => 3,
            TermField::PrincipalDeclared => 4,
        }
    }
}

/// The term of `key` = `value` in `field`. Lengths are framed, so no two (key, value)
/// pairs share an input.
pub fn term(field: TermField, key: &str, value: &str) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update(b"attachd term\0");
    hash.update([field.code()]);
    hash.update((key.len() as u64).to_be_bytes());
    hash.update(key.as_bytes());
    hash.update(value.as_bytes());
    hash.finalize()[..16].to_vec()
}

/// The terms of the string values of JSON object text `json`; none for anything else.
pub fn object_terms(field: TermField, json: &str) -> Vec<Vec<u8>> {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json) {
        Ok(object) => map_terms(field, &object),
        Err(_) => Vec::new(),
    }
}

/// The terms of the string values of `object`.
pub fn map_terms(field: TermField, object: &serde_json::Map<String, serde_json::Value>) -> Vec<Vec<u8>> {
    let mut terms: Vec<Vec<u8>> = object
        .iter()
        .filter_map(|(key, value)| value.as_str().map(|value| term(field, key, value)))
        .collect();
    // A JSON object may repeat a key; the index holds each term once.
    terms.sort_unstable();
    terms.dedup();
    terms
}

/// The terms an asset event indexes, from its stored JSON text columns.
pub fn event_terms(event_attributes: &str, asset_attributes: &str, principal_declared: &str) -> Vec<Vec<u8>> {
    let mut terms = object_terms(TermField::EventAttributes, event_attributes);
    terms.extend(object_terms(TermField::EventAssetAttributes, asset_attributes));
    terms.extend(object_terms(TermField::PrincipalDeclared, principal_declared));
    terms
}

/// Rows per INSERT, well inside SQLite's limit on bound parameters.
pub const TERMS_PER_INSERT: usize = 1000;

/// Inserts `$terms` of row `$seq` of tenant `$tenant` with `INSERT INTO $into` (table and
/// columns: tenant, term, row, then one per `$extra` value) on executor `$tx` of database
/// `$db`; a term already there is kept.
macro_rules! insert_terms {
    ($db:ty, $tx:expr, $into:literal, $tenant:expr, $seq:expr, $terms:expr $(, $extra:expr)*) => {{
        let (tenant, seq): (uuid::Uuid, i64) = ($tenant, $seq);
        for batch in $terms.chunks($crate::repo::terms::TERMS_PER_INSERT) {
            let mut insert = sqlx::QueryBuilder::<$db>::new(concat!("INSERT INTO ", $into, " "));
            insert.push_values(batch, |mut row, term| {
                row.push_bind(tenant).push_bind(term.clone()).push_bind(seq);
                $(row.push_bind($extra);)*
            });
            insert.push(" ON CONFLICT DO NOTHING");
            insert.build().execute(&mut *$tx).await?;
        }
    }};
}

/// The ids of event names (operation and behaviour, as event terms carry them): a name's
/// id never changes once committed, so each process remembers them, a bounded number (a
/// client may send endless new names).
pub struct EventNameIds(moka::sync::Cache<String, i32>);

impl Default for EventNameIds {
    fn default() -> Self {
        Self(moka::sync::Cache::new(10_000))
    }
}

impl EventNameIds {
    pub fn get(&self, name: &str) -> Option<i32> {
        self.0.get(name)
    }

    pub fn remember(&self, name: String, id: i32) {
        self.0.insert(name, id);
    }
}

/// Implements `event_name_ids` for a backend of `impl_repo!`: the ids of an operation and a
/// behaviour, committed in a transaction of their own if new (a name is harmless even if
/// its event then fails), before the caller's transaction, which therefore never waits on
/// another writer's new name.
macro_rules! impl_event_names {
    ($repo:ty) => {
        impl $repo {
            pub async fn event_name_ids(
                &self,
                operation: &str,
                behaviour: &str,
            ) -> $crate::repo::RepoResult<(i32, i32)> {
                if let (Some(o), Some(b)) = (self.names.get(operation), self.names.get(behaviour)) {
                    return Ok((o, b));
                }
                let mut write = self.begin_write().await?;
                // In one order, so two new names never deadlock two writers.
                sqlx::query("INSERT INTO event_names (name) VALUES ($1), ($2) ON CONFLICT DO NOTHING")
                    .bind(operation.min(behaviour))
                    .bind(operation.max(behaviour))
                    .execute(&mut *write.tx)
                    .await?;
                write.tx.commit().await?;
                let rows: Vec<(i32, String)> =
                    sqlx::query_as("SELECT id, name FROM event_names WHERE name = $1 OR name = $2")
                        .bind(operation)
                        .bind(behaviour)
                        .fetch_all(&self.pool)
                        .await?;
                for (id, name) in rows {
                    self.names.remember(name, id);
                }
                match (self.names.get(operation), self.names.get(behaviour)) {
                    (Some(o), Some(b)) => Ok((o, b)),
                    _ => Err($crate::repo::RepoError::Other(anyhow::anyhow!(
                        "event names were not stored"
                    ))),
                }
            }
        }
    };
}

pub(crate) use impl_event_names;
pub(crate) use insert_terms;

/// Setting recording that rows stored before terms existed have been indexed.
pub const BACKFILLED: &str = "attribute_terms_backfilled";
/// Rows indexed per transaction by the backfill.
pub const BACKFILL_BATCH: i64 = 1000;

/// Implements `backfill_terms` for a backend of `impl_repo!` over database `$db`: indexes,
/// once, the assets and asset events stored before attribute terms existed.
macro_rules! impl_terms_backfill {
    ($repo:ty, $db:ty) => {
        impl $repo {
            pub async fn backfill_terms(&self) -> $crate::repo::RepoResult<()> {
                use $crate::repo::sql::{INSERT_SETTING, SELECT_SETTING};
                use $crate::repo::terms::*;
                let done: Option<String> = sqlx::query_scalar(SELECT_SETTING)
                    .bind(BACKFILLED)
                    .fetch_optional(&self.pool)
                    .await?;
                if done.is_some() {
                    return Ok(());
                }
                let mut after = 0i64;
                loop {
                    let assets: Vec<(i64, uuid::Uuid, String)> = sqlx::query_as(
                        "SELECT seq, tenant_id, attributes FROM assets WHERE seq > $1 ORDER BY seq LIMIT $2",
                    )
                    .bind(after)
                    .bind(BACKFILL_BATCH)
                    .fetch_all(&self.pool)
                    .await?;
                    let Some(last) = assets.last() else { break };
                    after = last.0;
                    let mut write = self.begin_write().await?;
                    for (seq, tenant, attributes) in &assets {
                        let terms = object_terms(TermField::AssetAttributes, attributes);
                        insert_terms!(
                            $db,
                            write.tx,
                            "asset_terms (tenant_id, term, asset_seq)",
                            *tenant,
                            *seq,
                            terms
                        );
                    }
                    write.tx.commit().await?;
                }
                let mut after = 0i64;
                loop {
                    let events: Vec<(i64, uuid::Uuid, String, String, String, String, String)> = sqlx::query_as(
                        "SELECT seq, tenant_id, event_attributes, asset_attributes, principal_declared, operation, \
                         behaviour FROM events \
                         WHERE seq > $1 AND asset_id IS NOT NULL ORDER BY seq LIMIT $2",
                    )
                    .bind(after)
                    .bind(BACKFILL_BATCH)
                    .fetch_all(&self.pool)
                    .await?;
                    let Some(last) = events.last() else { break };
                    after = last.0;
                    let mut names = Vec::with_capacity(events.len());
                    for (_, _, _, _, _, operation, behaviour) in &events {
                        names.push(self.event_name_ids(operation, behaviour).await?);
                    }
                    let mut write = self.begin_write().await?;
                    for ((seq, tenant, event_attributes, asset_attributes, principal, _, _), (operation, behaviour)) in
                        events.iter().zip(names)
                    {
                        let terms = event_terms(event_attributes, asset_attributes, principal);
                        insert_terms!(
                            $db,
                            write.tx,
                            "event_terms (tenant_id, term, event_seq, operation_id, behaviour_id)",
                            *tenant,
                            *seq,
                            terms,
                            operation,
                            behaviour
                        );
                    }
                    write.tx.commit().await?;
                }
                let mut write = self.begin_write().await?;
                sqlx::query(INSERT_SETTING)
                    .bind(BACKFILLED)
                    .bind("1")
                    .execute(&mut *write.tx)
                    .await?;
                write.tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_terms_backfill;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_strings_are_terms() {
        let terms = object_terms(
            TermField::EventAttributes,
            r#"{"a":"1","b":1,"c":true,"d":null,"e":["1"]}"#,
        );
        assert_eq!(terms, vec![term(TermField::EventAttributes, "a", "1")]);
        assert!(object_terms(TermField::EventAttributes, "[1]").is_empty());
    }

    #[test]
    fn framing_and_field_keep_terms_apart() {
        let base = term(TermField::EventAttributes, "ab", "c");
        assert_ne!(base, term(TermField::EventAttributes, "a", "bc"));
        assert_ne!(base, term(TermField::EventAssetAttributes, "ab", "c"));
        assert_eq!(base.len(), 16);
    }
}
