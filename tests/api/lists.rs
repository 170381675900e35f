//! Lists mean what the client asked: page tokens carry the whole query and are signed, every
//! filter DataTrails names is honoured, and anything else is refused.

use serde_json::{json, Value};

use crate::both;
use crate::common::{bare_id, Backend, TestApp, TestDb};

both!(
    event_pages_are_newest_first,
    page_tokens_carry_the_query,
    filters_mean_what_they_say,
    attribute_filters_follow_the_data
);

/// Follows `next_page_token` from `first`, sending only the token as the SDK does; every
/// page's `field` items.
async fn follow(app: &TestApp, token: &str, path: &str, first: &str, field: &str) -> anyhow::Result<Vec<Value>> {
    let mut items = Vec::new();
    let (status, mut page) = app.get_json(Some(token), &format!("{path}?{first}")).await?;
    anyhow::ensure!(status == 200, "{path}?{first}: {status} {page}");
    loop {
        items.extend(page[field].as_array().cloned().unwrap_or_default());
        let next = page["next_page_token"].as_str().unwrap_or_default().to_string();
        if next.is_empty() {
            return Ok(items);
        }
        let (status, body) = app.get_json(Some(token), &format!("{path}?page_token={next}")).await?;
        anyhow::ensure!(status == 200, "page_token {next}: {status} {body}");
        page = body;
    }
}

/// Every event once, newest first, across pages: some already read (and remembered by the
/// server), the rest read for the page.
async fn event_pages_are_newest_first(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let token = tenant.token.as_str();
    let asset = bare_id(&app.create_asset(token, json!({"kind": "door"}), false).await?["identity"]);
    let mut identities = Vec::new();
    for n in 0..7 {
        let body = json!({"operation": "Record", "behaviour": "RecordEvidence",
            "event_attributes": {"kind": "visit", "n": n.to_string()}});
        let (status, event) = app
            .post_json(token, &format!("/archivist/v2/assets/{asset}/events"), &body)
            .await?;
        anyhow::ensure!(status == 200, "{event}");
        identities.push(event["identity"].as_str().unwrap_or_default().to_string());
    }
    for read in [&identities[1], &identities[4]] {
        let (status, _) = app.get_json(Some(token), &format!("/archivist/v2/{read}")).await?;
        assert_eq!(status, 200);
    }
    let newest_first: Vec<String> = (0..7).rev().map(|n: i32| n.to_string()).collect();
    // Unfiltered, the asset's creation event comes last.
    for (path, first, total) in [
        (
            format!("/archivist/v2/assets/{asset}/events"),
            "page_size=3&operation=Record",
            7,
        ),
        (
            "/archivist/v2/assets/-/events".to_string(),
            "page_size=3&event_attributes.kind=visit",
            7,
        ),
        ("/archivist/v2/assets/-/events".to_string(), "page_size=2", 8),
    ] {
        let events = follow(&app, token, &path, first, "events").await?;
        let listed: Vec<String> = events
            .iter()
            .filter(|e| e["operation"] == "Record")
            .map(|e| e["event_attributes"]["n"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(listed, newest_first, "{path}?{first}");
        assert_eq!(events.len(), total, "{path}?{first}");
    }
    Ok(())
}

async fn page_tokens_carry_the_query(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let token = tenant.token.as_str();
    for i in 0..23 {
        let kind = if i % 8 == 3 { "match" } else { "other" };
        app.create_asset(token, json!({"kind": kind, "n": i.to_string()}), false)
            .await?;
    }
    let found = follow(
        &app,
        token,
        "/archivist/v2/assets",
        "attributes.kind=match&page_size=1",
        "assets",
    )
    .await?;
    let numbers: Vec<&str> = found.iter().filter_map(|a| a["attributes"]["n"].as_str()).collect();
    assert_eq!(numbers, ["19", "11", "3"], "exactly the matching assets, newest first");

    let (_, first) = app
        .get_json(Some(token), "/archivist/v2/assets?attributes.kind=match&page_size=1")
        .await?;
    let next = first["next_page_token"].as_str().unwrap_or_default().to_string();
    // The parameters it already holds may come along; others contradict it.
    let (status, _) = app
        .get_json(
            Some(token),
            &format!("/archivist/v2/assets?page_token={next}&page_size=1"),
        )
        .await?;
    assert_eq!(status, 200);
    for contradiction in ["page_size=2", "attributes.kind=other", "public=true"] {
        let (status, body) = app
            .get_json(
                Some(token),
                &format!("/archivist/v2/assets?page_token={next}&{contradiction}"),
            )
            .await?;
        assert_eq!(status, 400, "{contradiction}: {body}");
    }
    // Forged: a changed tag, a changed body under the old tag, another list's token.
    let (body, tag) = next.split_once('.').unwrap_or_default();
    let flipped = format!("{body}.{}{}", if tag.starts_with('A') { "B" } else { "A" }, &tag[1..]);
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut decoded: Value = serde_json::from_slice(&engine.decode(body)?)?;
    decoded["q"] = json!([["page_size", "1"]]);
    let widened = format!("{}.{tag}", engine.encode(serde_json::to_vec(&decoded)?));
    for forged in [flipped, widened, "garbage".to_string(), "12".to_string()] {
        let (status, body) = app
            .get_json(Some(token), &format!("/archivist/v2/assets?page_token={forged}"))
            .await?;
        assert_eq!(status, 400, "{forged}: {body}");
    }
    let (status, _) = app
        .get_json(Some(token), &format!("/archivist/v2/assets/-/events?page_token={next}"))
        .await?;
    assert_eq!(status, 400, "an asset list token on the event list");
    Ok(())
}

async fn count(app: &TestApp, token: Option<&str>, path: &str) -> anyhow::Result<(u16, i64)> {
    let mut request = app.http.get(app.url(path)).header("x-request-total-count", "true");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let total = response
        .headers()
        .get("x-total-count")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1);
    let body: Value = response.json().await?;
    if status == 200 {
        let field = if path.contains("events") { "events" } else { "assets" };
        let listed = body[field].as_array().map_or(0, Vec::len) as i64;
        anyhow::ensure!(listed == total.min(50), "{path}: listed {listed}, counted {total}");
    }
    Ok((status, total))
}

async fn filters_mean_what_they_say(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let t = Some(tenant.token.as_str());
    let public = app.create_asset(&tenant.token, json!({"kind": "door"}), true).await?;
    app.create_asset(&tenant.token, json!({"kind": "door"}), false).await?;
    app.create_asset(&tenant.token, json!({"kind": "gate"}), false).await?;
    let asset = bare_id(&public["identity"]);
    for (operation, behaviour) in [
        ("Record", "RecordEvidence"),
        ("Record", "RecordEvidence"),
        ("Attach", "Attachments"),
    ] {
        let body = json!({"operation": operation, "behaviour": behaviour, "event_attributes": {"op": operation}});
        let (status, _) = app
            .post_json(&tenant.token, &format!("/archivist/v2/assets/{asset}/events"), &body)
            .await?;
        assert_eq!(status, 200);
    }
    let assets = |q: &str| format!("/archivist/v2/assets?{q}");
    let events = |q: &str| format!("/archivist/v2/assets/-/events?{q}");
    let expectations = [
        (assets("public=true"), 1),
        (assets("public=True"), 1),
        (assets("public=false"), 2),
        (assets("privacy=RESTRICTED"), 2),
        (assets("privacy=PUBLIC&attributes.kind=door"), 1),
        (assets("confirmation_status=CONFIRMED"), 3),
        (assets("confirmation_status=PENDING"), 0),
        (assets("confirmation_status=STORED"), 0),
        (assets("confirmation_status=FAILED"), 0),
        (assets("tracked=TRACKED&proof_mechanism=MERKLE_LOG"), 3),
        (assets("tracked=NOT_TRACKED"), 0),
        (assets("behaviours=RecordEvidence"), 3),
        (assets("behaviours=Attachments"), 0),
        (assets("attributes.kind=gate"), 1),
        (events("operation=Record"), 2),
        (events("behaviour=Attachments&event_attributes.op=Attach"), 1),
        (events("confirmation_status=PENDING"), 0),
        // Three events, and each asset's creation event.
        (events("minimum_trust=COMMITTED"), 6),
        (events("operation=NewAsset&behaviour=AssetCreator"), 3),
        (events("operation=NewAsset&asset_attributes.kind=door"), 2),
        (events("timestamp_accepted_since=2000-01-01T00:00:00Z"), 6),
        (events("timestamp_accepted_since=2999-01-01T00:00:00Z"), 0),
        (events("timestamp_accepted_before=2999-01-01T00:00:00%2B02:00"), 6),
        (events("asset.attributes.kind=door"), 5),
        (events("asset.attributes.kind=gate"), 1),
        (events("principal_accepted.subject=nobody"), 0),
        (format!("/archivist/v2/assets/{asset}/events?operation=Attach"), 1),
    ];
    for (path, expected) in &expectations {
        assert_eq!(count(&app, t, path).await?, (200, *expected), "{path}");
    }
    // The public list honours filters too.
    let public_events = format!("/archivist/v2/publicassets/{asset}/events");
    assert_eq!(
        count(&app, None, &format!("{public_events}?confirmation_status=PENDING")).await?,
        (200, 0)
    );
    assert_eq!(
        count(&app, None, &format!("{public_events}?operation=Record")).await?,
        (200, 2)
    );
    // Anything else is refused, naming it.
    for (path, named) in [
        (assets("colour=red"), "colour"),
        (assets("confirmation_status=MAYBE"), "MAYBE"),
        (assets("tracked=tracked"), "tracked"),
        (assets("attributes.=x"), "attributes."),
        (events("attributes.kind=door"), "attributes.kind"),
        (events("timestamp_accepted_since=yesterday"), "timestamp_accepted_since"),
        (format!("{public_events}?public=true"), "public"),
    ] {
        let (status, body) = app.get_json(t, &path).await?;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains(named)),
            "{path}: {body}"
        );
    }
    Ok(())
}

/// Attribute filters see every change the moment it commits, only strings match, long values
/// work, other tenants' rows never count, and rows stored before the index are found after a
/// restart indexes them.
async fn attribute_filters_follow_the_data(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let mut app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let other = app.tenant().await?;
    let long = "x".repeat(10_000);
    let a = app
        .create_asset(&tenant.token, json!({"kind": "door", "size": "7", "weight": 7}), false)
        .await?;
    app.create_asset(&tenant.token, json!({"kind": "door", "note": long}), false)
        .await?;
    let theirs = app
        .create_asset(&other.token, json!({"kind": "door", "size": "7"}), false)
        .await?;
    let event = json!({
        "operation": "Record", "behaviour": "RecordEvidence",
        "event_attributes": {"k": "v", "num": 5},
        "asset_attributes": {"kind": "gate"},
    });
    let path = format!("/archivist/v2/assets/{}/events", bare_id(&a["identity"]));
    let (status, body) = app.post_json(&tenant.token, &path, &event).await?;
    assert_eq!(status, 200, "{body}");
    let path = format!("/archivist/v2/assets/{}/events", bare_id(&theirs["identity"]));
    let (status, body) = app.post_json(&other.token, &path, &event).await?;
    assert_eq!(status, 200, "{body}");
    // Asset-free events are not in the asset event lists.
    let free = json!({"operation": "Record", "behaviour": "RecordEvidence", "event_attributes": {"k": "v"}});
    let (status, body) = app.post_json(&tenant.token, "/archivist/v1/events", &free).await?;
    assert_eq!(status, 200, "{body}");

    let assets = |q: &str| format!("/archivist/v2/assets?{q}");
    let events = |q: &str| format!("/archivist/v2/assets/-/events?{q}");
    let expectations = [
        (assets("attributes.kind=door"), 1),
        (assets("attributes.kind=gate"), 1),
        (assets("attributes.kind=gate&attributes.size=7"), 1),
        (assets("attributes.kind=door&attributes.size=7"), 0),
        (assets("attributes.weight=7"), 0),
        (assets(&format!("attributes.note={long}")), 1),
        (assets(&format!("attributes.note={long}&public=false")), 1),
        (events("event_attributes.k=v"), 1),
        (events("event_attributes.k=v&event_attributes.num=5"), 0),
        (events("event_attributes.k=v&asset_attributes.kind=gate"), 1),
        // A's events: its creation and the event; B's creation.
        (events("asset.attributes.kind=gate"), 2),
        (events("asset.attributes.kind=door"), 1),
        (events("asset_attributes.kind=door&operation=NewAsset"), 2),
        (events("event_attributes.k=v&operation=Record"), 1),
        (events("event_attributes.k=v&operation=NewAsset"), 0),
        (
            events("event_attributes.k=v&behaviour=RecordEvidence&operation=Record"),
            1,
        ),
        (events("event_attributes.k=v&behaviour=AssetCreator"), 0),
        (events("event_attributes.k=v&operation=Never"), 0),
        (events("event_attributes.k=w"), 0),
    ];
    for (path, expected) in &expectations {
        assert_eq!(
            count(&app, Some(&tenant.token), path).await?,
            (200, *expected),
            "{path}"
        );
    }
    assert_eq!(
        count(&app, Some(&other.token), &assets("attributes.size=7")).await?,
        (200, 1),
        "the other tenant sees its own asset only"
    );

    // As if stored before attribute terms existed: the next start indexes them.
    app.stop().await?;
    db.execute("DELETE FROM asset_terms").await?;
    db.execute("DELETE FROM event_terms").await?;
    let backfilled = attachd::repo::terms::BACKFILLED;
    db.execute(&format!("DELETE FROM settings WHERE key = '{backfilled}'"))
        .await?;
    app = TestApp::start(&db).await?;
    for (path, expected) in &expectations {
        assert_eq!(
            count(&app, Some(&tenant.token), path).await?,
            (200, *expected),
            "after backfill: {path}"
        );
    }
    Ok(())
}
