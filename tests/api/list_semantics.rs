//! List semantics DataTrails documents and a partner must not be able to abuse: `=*` and
//! `!=*` presence filters (lists, counts, page tokens, and rows stored before them), the
//! tracking events and the `tracked` parameter, and a partner's filters on attributes it
//! may not see, which match nothing whatever the value.

use serde_json::{json, Value};

use crate::both;
use crate::common::{bare_id, Backend, TestApp, TestDb};
use crate::sharing::{count, share, POLICIES};

both!(
    presence_filters_mean_set_and_missing_or_empty,
    tracking_events_hide_and_show_assets,
    a_partner_cannot_probe_hidden_attributes
);

const ASSETS: &str = "/archivist/v2/assets";

/// Every identity a list returns, page by page (`page_size=1`, following the tokens).
async fn identities(app: &TestApp, token: &str, path: &str, key: &str) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut next = format!("{path}{sep}page_size=1");
    loop {
        let (status, page) = app.get_json(Some(token), &next).await?;
        anyhow::ensure!(status == 200, "{next}: {status} {page}");
        for item in page[key].as_array().into_iter().flatten() {
            found.push(item["identity"].as_str().unwrap_or_default().to_string());
        }
        match page["next_page_token"].as_str().filter(|t| !t.is_empty()) {
            Some(token) => next = format!("{}?page_token={token}", path.split('?').next().unwrap_or(path)),
            None => break,
        }
    }
    found.sort();
    Ok(found)
}

fn ids(values: &[&Value]) -> Vec<String> {
    let mut ids: Vec<String> = values
        .iter()
        .map(|v| v["identity"].as_str().unwrap_or_default().to_string())
        .collect();
    ids.sort();
    ids
}

async fn presence_filters_mean_set_and_missing_or_empty(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let t = app.tenant().await?;
    let set = app
        .create_asset(&t.token, json!({"arc_display_name": "door", "lot": "7"}), false)
        .await?;
    let empty = app
        .create_asset(&t.token, json!({"arc_display_name": "", "lot": "8"}), false)
        .await?;
    let missing = app.create_asset(&t.token, json!({"lot": "9"}), false).await?;
    let listed = ids(&[&set]);
    let unset = ids(&[&empty, &missing]);
    check_assets(&app, &t.token, &listed, &unset).await?;

    // Events: their own attributes, the asset attributes they set, their asset's current ones.
    let record = |asset: &Value, attributes: Value, asset_attributes: Value| {
        let path = format!("{ASSETS}/{}/events", bare_id(&asset["identity"]));
        let body = json!({"operation": "Record", "behaviour": "RecordEvidence",
            "event_attributes": attributes, "asset_attributes": asset_attributes});
        (path, body)
    };
    let mut events = Vec::new();
    for (asset, attributes, asset_attributes) in [
        (&set, json!({"note": "seen"}), json!({"state": "open"})),
        (&empty, json!({"note": ""}), json!({})),
        (&missing, json!({"other": "x"}), json!({"state": ""})),
    ] {
        let (path, body) = record(asset, attributes, asset_attributes);
        let (status, event) = app.post_json(&t.token, &path, &body).await?;
        anyhow::ensure!(status == 200, "{event}");
        events.push(event);
    }
    let all_events = "/archivist/v2/assets/-/events";
    for (query, expected) in [
        ("event_attributes.note=*", vec![&events[0]]),
        ("event_attributes.note!=*", vec![&events[1], &events[2]]),
        ("asset_attributes.state=*", vec![&events[0]]),
        ("asset.attributes.arc_display_name=*", vec![&events[0]]),
    ] {
        // Only the Record events (each asset's creation is an event too).
        let path = format!("{all_events}?operation=Record&{query}");
        assert_eq!(
            identities(&app, &t.token, &path, "events").await?,
            ids(&expected),
            "{query}"
        );
        assert_eq!(count(&app, &t.token, &path).await? as usize, expected.len(), "{query}");
    }
    let path = format!("{all_events}?operation=Record&asset.attributes.arc_display_name!=*");
    assert_eq!(count(&app, &t.token, &path).await?, 2);

    // Rows stored before presence terms: indexed once at the next start.
    app.stop().await?;
    db.execute("DELETE FROM asset_terms").await?;
    db.execute("DELETE FROM event_terms").await?;
    db.execute("UPDATE settings SET value = '2' WHERE key = 'attribute_terms_backfilled'")
        .await?;
    let app = TestApp::start(&db).await?;
    check_assets(&app, &t.token, &listed, &unset).await?;
    let path = format!("{all_events}?operation=Record&event_attributes.note=*");
    assert_eq!(count(&app, &t.token, &path).await?, 1);
    app.stop().await
}

/// `=*` lists and counts the asset with a display name; `!=*` those with an empty one or none.
async fn check_assets(app: &TestApp, token: &str, listed: &[String], unset: &[String]) -> anyhow::Result<()> {
    let present = format!("{ASSETS}?attributes.arc_display_name=*");
    let absent = format!("{ASSETS}?attributes.arc_display_name!=*");
    assert_eq!(identities(app, token, &present, "assets").await?, listed);
    assert_eq!(identities(app, token, &absent, "assets").await?, unset);
    assert_eq!(count(app, token, &present).await?, 1);
    assert_eq!(count(app, token, &absent).await?, 2);
    // With a value filter beside it.
    let both = format!("{ASSETS}?attributes.arc_display_name!=*&attributes.lot=9");
    assert_eq!(count(app, token, &both).await?, 1);
    Ok(())
}

async fn tracking_events_hide_and_show_assets(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let (a, b) = (app.tenant().await?, app.tenant().await?);
    let kept = app
        .create_asset(&a.token, json!({"arc_display_name": "kept", "lot": "1"}), false)
        .await?;
    let stopped = app
        .create_asset(&a.token, json!({"arc_display_name": "stopped", "lot": "1"}), false)
        .await?;
    let track = |asset: &Value, operation: &str| {
        let path = format!("{ASSETS}/{}/events", bare_id(&asset["identity"]));
        (
            path,
            json!({"operation": operation, "behaviour": "Builtin", "event_attributes": {}}),
        )
    };
    let (path, body) = track(&stopped, "StopTracking");
    let (status, event) = app.post_json(&a.token, &path, &body).await?;
    assert_eq!(status, 200, "{event}");
    let stopped_path = format!("/archivist/v2/{}", stopped["identity"].as_str().unwrap_or_default());
    let (_, now) = app.get_json(Some(&a.token), &stopped_path).await?;
    assert_eq!(now["tracked"], "NOT_TRACKED");
    let (only_kept, only_stopped, both) = (ids(&[&kept]), ids(&[&stopped]), ids(&[&kept, &stopped]));
    for (query, expected) in [
        ("", &only_kept),
        ("?attributes.lot=1", &only_kept),
        ("?tracked=TRACKED", &only_kept),
        ("?tracked=TRACKED_STATUS_UNSPECIFIED", &only_kept),
        ("?tracked=NOT_TRACKED", &only_stopped),
        ("?tracked=ANY", &both),
        ("?tracked=ANY&attributes.lot=1", &both),
    ] {
        let path = format!("{ASSETS}{query}");
        assert_eq!(&identities(&app, &a.token, &path, "assets").await?, expected, "{query}");
        assert_eq!(count(&app, &a.token, &path).await? as usize, expected.len(), "{query}");
    }
    // A partner's lists hide the owner's untracked assets too.
    let (b_in_a, _) = share(&app, &a.token, &b.token).await?;
    let policy = json!({"display_name": "all", "filters": [{"or": ["attributes.lot=1"]}],
        "access_permissions": [{"subjects": [b_in_a["identity"]], "include_attributes": ["arc_display_name"]}]});
    let (status, created) = app.post_json(&a.token, POLICIES, &policy).await?;
    assert_eq!(status, 200, "{created}");
    assert_eq!(identities(&app, &b.token, ASSETS, "assets").await?, only_kept);
    assert_eq!(
        identities(&app, &b.token, &format!("{ASSETS}?tracked=ANY"), "assets").await?,
        both
    );

    let (path, body) = track(&stopped, "StartTracking");
    assert_eq!(app.post_json(&a.token, &path, &body).await?.0, 200);
    let (_, now) = app.get_json(Some(&a.token), &stopped_path).await?;
    assert_eq!(now["tracked"], "TRACKED");
    assert_eq!(identities(&app, &a.token, ASSETS, "assets").await?, both);
    assert_eq!(
        count(&app, &a.token, &format!("{ASSETS}?tracked=NOT_TRACKED")).await?,
        0
    );
    app.stop().await
}

/// A shares an asset with B, granting `arc_display_type`, `lot` and `coa` only. Every filter
/// on a hidden attribute answers the same for the true value as for a wrong one.
async fn a_partner_cannot_probe_hidden_attributes(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let (a, b) = (app.tenant().await?, app.tenant().await?);
    let (b_in_a, _) = share(&app, &a.token, &b.token).await?;
    let shared = app
        .create_asset(
            &a.token,
            json!({"arc_display_name": "secret name", "arc_display_type": "crate", "lot": "77"}),
            false,
        )
        .await?;
    let events = format!("{ASSETS}/{}/events", bare_id(&shared["identity"]));
    let body = json!({"operation": "Record", "behaviour": "RecordEvidence",
        "event_attributes": {"arc_description": "the real description", "coa": "yes"},
        "asset_attributes": {"arc_owner": "the real owner"}});
    assert_eq!(app.post_json(&a.token, &events, &body).await?.0, 200);
    let policy = json!({"display_name": "partner", "filters": [{"or": ["attributes.lot=77"]}],
        "access_permissions": [{"subjects": [b_in_a["identity"]],
            "include_attributes": ["arc_display_type", "lot", "coa"]}]});
    assert_eq!(app.post_json(&a.token, POLICIES, &policy).await?.0, 200);

    // What B sees answers filters as it should.
    assert_eq!(
        count(&app, &b.token, &format!("{events}?event_attributes.coa=yes")).await?,
        1
    );
    assert_eq!(count(&app, &b.token, &format!("{ASSETS}?attributes.lot=77")).await?, 1);
    // What it does not see: the true value, a wrong one and presence all answer alike.
    for (path, truth, wrong) in [
        (
            &events,
            "event_attributes.arc_description=the%20real%20description",
            "event_attributes.arc_description=no",
        ),
        (
            &events,
            "asset_attributes.arc_owner=the%20real%20owner",
            "asset_attributes.arc_owner=no",
        ),
        (
            &events,
            "asset.attributes.arc_display_name=secret%20name",
            "asset.attributes.arc_display_name=no",
        ),
        (
            &events,
            "event_attributes.arc_description=*",
            "event_attributes.arc_description!=*",
        ),
        (
            &ASSETS.to_string(),
            "attributes.arc_display_name=secret%20name",
            "attributes.arc_display_name=no",
        ),
        (
            &ASSETS.to_string(),
            "attributes.arc_display_name=*",
            "attributes.arc_display_name!=*",
        ),
    ] {
        let key = if path.ends_with("/events") { "events" } else { "assets" };
        let true_path = format!("{path}?{truth}");
        let wrong_path = format!("{path}?{wrong}");
        let (s1, p1) = app.get_json(Some(&b.token), &true_path).await?;
        let (s2, p2) = app.get_json(Some(&b.token), &wrong_path).await?;
        assert_eq!((s1, p1[key].clone()), (s2, p2[key].clone()), "{truth} / {wrong}");
        assert_eq!(
            count(&app, &b.token, &true_path).await?,
            count(&app, &b.token, &wrong_path).await?,
            "{truth} / {wrong}"
        );
        assert_eq!(count(&app, &b.token, &true_path).await?, 0, "{truth}");
    }
    // A still filters its own rows on every attribute.
    let own = format!("{events}?event_attributes.arc_description=the%20real%20description");
    assert_eq!(count(&app, &a.token, &own).await?, 1);
    app.stop().await
}
