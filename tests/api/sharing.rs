//! Sharing as DataTrails has it: subjects (other tenants, by the keys of their self
//! subject), access policies, and another tenant's reads of exactly what a policy grants.

use serde_json::{json, Value};

use crate::both;
use crate::common::{bare_id, Backend, TestApp, TestDb};
use attachd::tenants::TenantCredentials;

pub const SUBJECTS: &str = "/archivist/iam/v1/subjects";
pub const POLICIES: &str = "/archivist/iam/v1/access_policies";
const SELF: &str = "/archivist/iam/v1/subjects/00000000-0000-0000-0000-000000000000";

both!(
    subjects_and_policies_are_managed_by_administrators,
    a_policy_shares_exactly_what_it_names
);

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut request = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    Ok((response.status().as_u16(), response.json().await?))
}

/// `share`, as the SDK does it: each tenant records the other's self subject.
pub async fn share(app: &TestApp, a: &str, b: &str) -> anyhow::Result<(Value, Value)> {
    let mut made = Vec::new();
    for (owner, other) in [(a, b), (b, a)] {
        let (status, their_self) = app.get_json(Some(other), SELF).await?;
        anyhow::ensure!(status == 200, "self subject answered {status}: {their_self}");
        let body = json!({
            "display_name": "partner",
            "wallet_pub_key": their_self["wallet_pub_key"],
            "tessera_pub_key": their_self["tessera_pub_key"],
        });
        let (status, subject) = app.post_json(owner, SUBJECTS, &body).await?;
        anyhow::ensure!(status == 200, "subject create answered {status}: {subject}");
        made.push(subject);
    }
    let b_in_a = made.remove(0);
    Ok((b_in_a, made.remove(0)))
}

/// The total a list reports when asked for it.
pub async fn count(app: &TestApp, token: &str, path: &str) -> anyhow::Result<i64> {
    let response = app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .header("X-Request-Total-Count", "true")
        .send()
        .await?;
    let total = response
        .headers()
        .get("x-total-count")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    anyhow::ensure!(response.status() == 200, "count answered {}", response.status());
    Ok(total.unwrap_or_default().parse()?)
}

async fn subjects_and_policies_are_managed_by_administrators(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let a = app.tenant().await?;
    let b = app.tenant().await?;

    // The self subject names the tenant by keys of its own, the same every time.
    let (status, mine) = app.get_json(Some(&a.token), SELF).await?;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["identity"], "subjects/00000000-0000-0000-0000-000000000000");
    assert_eq!(mine["wallet_pub_key"].as_array().map(Vec::len), Some(1));
    assert_eq!(app.get_json(Some(&a.token), SELF).await?.1, mine);
    let (_, theirs) = app.get_json(Some(&b.token), SELF).await?;
    assert_ne!(theirs["wallet_pub_key"], mine["wallet_pub_key"]);
    let (status, _) = send(&app, reqwest::Method::DELETE, &a.token, SELF, None).await?;
    assert_eq!(status, 403, "the self subject stays");

    // Subjects: create, read, change, list by name a page at a time, count, delete.
    let (b_in_a, _) = share(&app, &a.token, &b.token).await?;
    assert_eq!(b_in_a["confirmation_status"], "CONFIRMED");
    assert_eq!(b_in_a["wallet_pub_key"], theirs["wallet_pub_key"]);
    let one = format!("{SUBJECTS}/{}", bare_id(&b_in_a["identity"]));
    let (status, renamed) = send(
        &app,
        reqwest::Method::PATCH,
        &a.token,
        &one,
        Some(json!({"display_name": "supplier"})),
    )
    .await?;
    assert_eq!((status, &renamed["display_name"]), (200, &json!("supplier")));
    assert_eq!(
        renamed["tessera_pub_key"], theirs["tessera_pub_key"],
        "unchanged fields stay"
    );
    for _ in 0..2 {
        let (status, _) = app
            .post_json(
                &a.token,
                SUBJECTS,
                &json!({"display_name": "supplier", "wallet_pub_key": ["04ab"]}),
            )
            .await?;
        assert_eq!(status, 200);
    }
    assert_eq!(
        count(&app, &a.token, &format!("{SUBJECTS}?display_name=supplier&page_size=1")).await?,
        3
    );
    let (_, page) = app
        .get_json(Some(&a.token), &format!("{SUBJECTS}?display_name=supplier&page_size=2"))
        .await?;
    assert_eq!(page["subjects"].as_array().map(Vec::len), Some(2));
    let token = page["next_page_token"].as_str().unwrap_or_default();
    // The token carries the name: sent alone it still filters.
    let (_, rest) = app
        .get_json(Some(&a.token), &format!("{SUBJECTS}?page_token={token}"))
        .await?;
    assert_eq!(rest["subjects"].as_array().map(Vec::len), Some(1), "{rest}");
    let (status, malformed) = app
        .post_json(
            &a.token,
            SUBJECTS,
            &json!({"display_name": "x", "wallet_pub_key": ["not hex"]}),
        )
        .await?;
    assert_eq!(status, 400);
    assert!(malformed["message"]
        .as_str()
        .unwrap_or_default()
        .contains("wallet_pub_key[0]"));
    assert_eq!(
        send(&app, reqwest::Method::DELETE, &a.token, &one, None).await?,
        (200, json!({}))
    );
    assert_eq!(app.get_json(Some(&a.token), &one).await?.0, 404);
    assert_eq!(
        app.get_json(Some(&b.token), &one).await?.0,
        404,
        "another tenant's subject is unknown"
    );

    // Policies: a malformed one is refused naming the field; a subject not yet known is fine.
    let unknown_subject = format!("subjects/{}", uuid::Uuid::new_v4());
    let policy = |filter: &str| {
        json!({
            "display_name": "partners",
            "filters": [{"or": [filter]}],
            "access_permissions": [{"subjects": [unknown_subject], "include_attributes": ["arc_display_name"]}],
        })
    };
    let (status, refused) = app.post_json(&a.token, POLICIES, &policy("colour=red")).await?;
    assert_eq!(status, 400);
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("filters[0].or[0]"),
        "{refused}"
    );
    let (status, created) = app
        .post_json(&a.token, POLICIES, &policy("attributes.arc_namespace=x"))
        .await?;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["filters"], json!([{"or": ["attributes.arc_namespace=x"]}]));
    let one = format!("{POLICIES}/{}", bare_id(&created["identity"]));
    let (status, changed) = send(
        &app,
        reqwest::Method::PATCH,
        &a.token,
        &one,
        Some(json!({"description": "for the audit"})),
    )
    .await?;
    assert_eq!((status, &changed["description"]), (200, &json!("for the audit")));
    assert_eq!(changed["filters"], created["filters"], "fields left out stay");
    assert_eq!(
        count(&app, &a.token, &format!("{POLICIES}?display_name=partners")).await?,
        1
    );
    assert_eq!(count(&app, &b.token, POLICIES).await?, 0);

    // Only administrators manage sharing.
    let (status, registration) = app
        .post_json(
            &a.token,
            "/archivist/iam/v1/applications",
            &json!({"display_name": "ingest"}),
        )
        .await?;
    assert_eq!(status, 200);
    let plain = app
        .token_for(&TenantCredentials {
            tenant: a.credentials.tenant.clone(),
            client_id: registration["client_id"].as_str().unwrap_or_default().into(),
            client_secret: registration["credentials"][0]["secret"]
                .as_str()
                .unwrap_or_default()
                .into(),
        })
        .await?;
    assert_eq!(app.get_json(Some(&plain), POLICIES).await?.0, 403);
    assert_eq!(
        app.post_json(&plain, SUBJECTS, &json!({"display_name": "x"})).await?.0,
        403
    );
    assert_eq!(
        app.get_json(Some(&plain), SELF).await?.0,
        200,
        "anyone may read their own keys"
    );
    assert_eq!(
        send(&app, reqwest::Method::DELETE, &a.token, &one, None).await?,
        (200, json!({}))
    );

    // Every change is an event in the owner's log, committed with it.
    for change in [
        "SubjectCreated",
        "SubjectUpdated",
        "SubjectDeleted",
        "AccessPolicyCreated",
        "AccessPolicyUpdated",
        "AccessPolicyDeleted",
    ] {
        let logged = db
            .scalar(&format!(
                "SELECT COUNT(*) FROM events WHERE asset_id IS NULL AND log_index IS NOT NULL \
                 AND event_attributes LIKE '%\"arc_display_type\":\"{change}\"%'"
            ))
            .await?;
        assert!(logged >= 1, "{change} is not in the log");
    }
    let refused = db
        .scalar("SELECT COUNT(*) FROM events WHERE event_attributes LIKE '%colour=red%'")
        .await?;
    assert_eq!(refused, 0, "a refused change logs nothing");
    app.stop().await
}

async fn a_policy_shares_exactly_what_it_names(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let a = app.tenant().await?;
    let b = app.tenant().await?;
    let stranger = app.tenant().await?;
    let (b_in_a, _) = share(&app, &a.token, &b.token).await?;
    let namespace = uuid::Uuid::new_v4().to_string();
    let attributes = json!({
        "arc_display_name": "Org1 asset",
        "arc_namespace": namespace,
        "arc_description": "Traffic flow control light",
        "arc_firmware_version": "1.0",
        "ext_vendor_name": "SynsationIndustries",
    });
    let asset = app.create_asset(&a.token, attributes.clone(), false).await?;
    let other = app
        .create_asset(
            &a.token,
            json!({"arc_display_name": "not shared", "arc_namespace": "elsewhere"}),
            false,
        )
        .await?;
    let path = |asset: &Value| format!("/archivist/v2/assets/{}", bare_id(&asset["identity"]));
    let unknown = app
        .get_json(
            Some(&b.token),
            &format!("/archivist/v2/assets/{}", uuid::Uuid::new_v4()),
        )
        .await?;
    assert_eq!(unknown.0, 404);
    // Before a policy, A's asset answers B exactly as an unknown id does.
    assert_eq!(app.get_json(Some(&b.token), &path(&asset)).await?, unknown);

    let policy = json!({
        "display_name": "partners",
        "filters": [
            {"or": [format!("attributes.arc_namespace={namespace}")]},
            {"or": ["attributes.arc_display_type=camera", "attributes.ext_vendor_name=SynsationIndustries"]},
        ],
        "access_permissions": [{
            "subjects": [b_in_a["identity"]],
            "behaviours": ["RecordEvidence"],
            "include_attributes": ["arc_display_name", "arc_description", "arc_no_such_attribute"],
        }],
    });
    let (status, created) = app.post_json(&a.token, POLICIES, &policy).await?;
    assert_eq!(status, 200, "{created}");

    // B reads the asset with exactly the attributes granted; nobody else reads anything.
    let (status, seen) = app.get_json(Some(&b.token), &path(&asset)).await?;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(
        seen["attributes"],
        json!({"arc_display_name": "Org1 asset", "arc_description": "Traffic flow control light"})
    );
    assert_eq!(seen["identity"], asset["identity"]);
    assert_eq!(seen["tenant_identity"], asset["tenant_identity"]);
    assert_eq!(
        app.get_json(Some(&b.token), &path(&other)).await?,
        unknown,
        "unmatched assets stay hidden"
    );
    assert_eq!(app.get_json(Some(&stranger.token), &path(&asset)).await?, unknown);

    // The owner sees which assets a policy matches, and which policies match an asset.
    let policy_id = bare_id(&created["identity"]);
    let (_, matched) = app
        .get_json(Some(&a.token), &format!("{POLICIES}/{policy_id}/assets"))
        .await?;
    let ids: Vec<&Value> = matched["assets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| &a["identity"])
        .collect();
    assert_eq!(ids, vec![&asset["identity"]]);
    assert_eq!(
        matched["assets"][0]["attributes"], attributes,
        "the owner sees its asset whole"
    );
    let (_, policies) = app
        .get_json(
            Some(&a.token),
            &format!(
                "/archivist/iam/v1/assets/{}/access_policies",
                bare_id(&asset["identity"])
            ),
        )
        .await?;
    assert_eq!(policies["access_policies"][0]["identity"], created["identity"]);
    let (_, none) = app
        .get_json(
            Some(&a.token),
            &format!(
                "/archivist/iam/v1/assets/{}/access_policies",
                bare_id(&other["identity"])
            ),
        )
        .await?;
    assert_eq!(none["access_policies"], json!([]));
    assert_eq!(
        app.get_json(Some(&b.token), &format!("{POLICIES}/{policy_id}/assets"))
            .await?
            .0,
        404,
        "another tenant's policy is unknown"
    );

    // Deleting the policy ends the sharing at once on this process.
    let response = app
        .http
        .delete(app.url(&format!("{POLICIES}/{policy_id}")))
        .bearer_auth(&a.token)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(app.get_json(Some(&b.token), &path(&asset)).await?, unknown);
    app.stop().await
}
