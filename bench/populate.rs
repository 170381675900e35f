//! Fills a migrated attachd database with assets and events in the shapes attachd writes,
//! straight through SQL (the API would take hours for a million events), for bench/scale.sh.
//!
//! `cargo bench --bench populate -- DATABASE_URL TENANT_UUID ASSETS EVENTS` adds ASSETS assets
//! and EVENTS events (spread over the assets) to the tenant. Attribute `n` is the row's
//! number, `pct` is `n % 100` (so `pct=7` matches 1%), `kind` is `door` for every tenth, and
//! `flagged` is set on 1% only (`n % 100 == 3`), for presence filters.

use std::str::FromStr;

use attachd::repo::terms;
use sqlx::{Postgres, QueryBuilder, Sqlite};

const BATCH: usize = 2000;

/// Adds the assets and events through `$pool` of database `$db`.
macro_rules! fill {
    ($db:ty, $pool:expr, $tenant:expr, $asset_ids:expr, $events:expr) => {{
        let (tenant, asset_ids, events): (uuid::Uuid, &[uuid::Uuid], usize) = ($tenant, $asset_ids, $events);
    let now = chrono::Utc::now();
    for (batch, ids) in asset_ids.chunks(BATCH).enumerate() {
        let mut insert = QueryBuilder::<$db>::new(
            "INSERT INTO assets (id, tenant_id, behaviours, attributes, public, owner, created_at, updated_at) ",
        );
        insert.push_values(ids.iter().enumerate(), |mut row, (i, id)| {
            row.push_bind(*id)
                .push_bind(tenant)
                .push_bind(r#"["RecordEvidence"]"#.to_string())
                .push_bind(attributes(batch * BATCH + i))
                .push_bind(false)
                .push_bind(String::new())
                .push_bind(now)
                .push_bind(now);
        });
        insert.push(" RETURNING seq, attributes");
        let rows: Vec<(i64, String)> = insert.build_query_as().fetch_all(&$pool).await?;
        let terms = rows.iter().flat_map(|(seq, attributes)| {
            terms::object_terms(terms::TermField::AssetAttributes, attributes).into_iter().map(|term| (*seq, term))
        });
        add_terms!($db, $pool, "INSERT INTO asset_terms (tenant_id, term, asset_seq) ", tenant, terms);
    }
    sqlx::query("INSERT INTO event_names (name) VALUES ('Record'), ('RecordEvidence') ON CONFLICT DO NOTHING")
        .execute(&$pool)
        .await?;
    let name_id = |name: &'static str| {
        sqlx::query_scalar::<_, i32>("SELECT id FROM event_names WHERE name = $1")
            .bind(name)
            .fetch_one(&$pool)
    };
    let (record, record_evidence) = (name_id("Record").await?, name_id("RecordEvidence").await?);
    for start in (0..events).step_by(BATCH) {
        let mut insert = QueryBuilder::<$db>::new(
            "INSERT INTO events (id, tenant_id, asset_id, operation, behaviour, event_attributes, asset_attributes, \
             trails, timestamp_declared, principal_declared, issuer, subject, timestamp_accepted) ",
        );
        insert.push_values(start..(start + BATCH).min(events), |mut row, n| {
            let asset = asset_ids.get(n % asset_ids.len().max(1)).copied();
            row.push_bind(uuid::Uuid::new_v4())
                .push_bind(tenant)
                .push_bind(asset)
                .push_bind("Record".to_string())
                .push_bind("RecordEvidence".to_string())
                .push_bind(attributes(n))
                .push_bind("{}".to_string())
                .push_bind("[]".to_string())
                .push_bind(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .push_bind(r#"{"issuer":"","subject":"","display_name":"","email":""}"#.to_string())
                .push_bind("attachd".to_string())
                .push_bind("bench".to_string())
                .push_bind(now);
        });
        insert.push(" RETURNING seq, event_attributes, asset_attributes, principal_declared");
        let rows: Vec<(i64, String, String, String)> = insert.build_query_as().fetch_all(&$pool).await?;
        let terms = rows.iter().flat_map(|(seq, event, asset, principal)| {
            terms::event_terms(event, asset, principal).into_iter().map(|term| (*seq, term))
        });
        add_terms!(
            $db,
            $pool,
            "INSERT INTO event_terms (tenant_id, term, event_seq, operation_id, behaviour_id) ",
            tenant,
            terms,
            record,
            record_evidence
        );
    }
    }};
}

/// Adds the (row seq, term) pairs `$terms` of `$tenant` with insert `$insert`, then the
/// `$extra` columns, as attachd does.
macro_rules! add_terms {
    ($db:ty, $pool:expr, $insert:expr, $tenant:expr, $terms:expr $(, $extra:expr)*) => {{
        let all: Vec<(i64, Vec<u8>)> = $terms.collect();
        for batch in all.chunks(terms::TERMS_PER_INSERT) {
            let mut insert = QueryBuilder::<$db>::new($insert);
            insert.push_values(batch, |mut row, (seq, term)| {
                row.push_bind($tenant).push_bind(term.clone()).push_bind(*seq);
                $(row.push_bind($extra);)*
            });
            insert.build().execute(&$pool).await?;
        }
    }};
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [url, tenant, assets, events] = args.as_slice() else {
        anyhow::bail!("usage: populate DATABASE_URL TENANT_UUID ASSETS EVENTS");
    };
    let tenant = uuid::Uuid::from_str(tenant)?;
    let (assets, events): (usize, usize) = (assets.parse()?, events.parse()?);
    let asset_ids: Vec<uuid::Uuid> = (0..assets).map(|_| uuid::Uuid::new_v4()).collect();
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await?;
        fill!(Postgres, pool, tenant, &asset_ids, events);
        // As autovacuum would soon after a bulk load: the planner needs the new row counts,
        // and index-only scans the visibility map.
        for table in ["assets", "events", "asset_terms", "event_terms"] {
            sqlx::query(&format!("VACUUM ANALYZE {table}")).execute(&pool).await?;
        }
    } else {
        let pool = sqlx::SqlitePool::connect(url).await?;
        fill!(Sqlite, pool, tenant, &asset_ids, events);
    }
    Ok(())
}

fn attributes(n: usize) -> String {
    let kind = if n % 10 == 0 { "door" } else { "other" };
    // Set on 1% only, for presence filters (`flagged=*`, `flagged!=*`).
    let flagged = if n % 100 == 3 { r#","flagged":"yes""# } else { "" };
    format!(
        r#"{{"n":"{n}","pct":"{}","kind":"{kind}","arc_display_type":"Bench"{flagged}}}"#,
        n % 100
    )
}
