//! The console over HTTP: its files with the strict CSP, a public asset's address answering a
//! browser with the console's page and an API client with JSON, and the hash lookup behind
//! "verify a file". (The browser itself drives it in `console_browser.rs`.)

use serde_json::{json, Value};

use crate::both;
use crate::common::{attachment, bare_id, random_bytes, sha256_hex, Backend, TestApp, TestDb};

both!(
    console_files_are_served_with_a_strict_policy,
    public_addresses_answer_browsers_with_the_page,
    lookup_finds_the_events_recording_a_hash
);

async fn console_files_are_served_with_a_strict_policy(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let response = app.http.get(app.url("/console/")).send().await?;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let csp = headers["content-security-policy"].to_str()?;
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(headers["content-type"].to_str()?.starts_with("text/html"));
    let page = response.text().await?;
    // Nothing inline: every script is a file of its own.
    assert!(page.contains("<script type=\"module\" src=\"/console/"), "{page}");
    assert!(!page.contains("<script>") && !page.contains(" style=\""), "{page}");

    // Revalidation: the ETag makes a reload a 304.
    let etag = headers["etag"].clone();
    let again = app
        .http
        .get(app.url("/console/"))
        .header("if-none-match", etag)
        .send()
        .await?;
    assert_eq!(again.status(), 304);
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .get(app.url("/console"))
        .send()
        .await?;
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/console/");
    // Tests and scripts beside the console are not served, nor is anything outside it.
    for missing in [
        "/console/verify.test.mjs",
        "/console/make-verify-fixtures.sh",
        "/console/..%2FCargo.toml",
        "/console/nope.js",
    ] {
        let response = app.http.get(app.url(missing)).send().await?;
        assert_eq!(response.status(), 404, "{missing}");
        let body: Value = response.json().await?;
        assert_eq!(body["code"], 5, "{missing}");
    }
    let script = app.http.get(app.url("/console/app.js")).send().await?;
    assert_eq!(script.status(), 200);
    assert!(script.headers()["content-type"].to_str()?.contains("javascript"));
    Ok(())
}

async fn public_addresses_answer_browsers_with_the_page(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let asset = app
        .create_asset(&tenant.token, json!({"arc_display_name": "crate"}), true)
        .await?;
    let (_, publicurl) = app
        .get_json(
            Some(&tenant.token),
            &format!(
                "/archivist/v2/{}:publicurl",
                asset["identity"].as_str().unwrap_or_default()
            ),
        )
        .await?;
    let url = publicurl["publicurl"].as_str().unwrap_or_default().to_string();
    assert!(url.contains("/archivist/v2/publicassets/"), "{publicurl}");
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let page = app.http.get(&url).header("accept", browser).send().await?;
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"]
        .to_str()?
        .contains("frame-ancestors 'none'"));
    assert_eq!(page.headers()["vary"], "Accept");
    assert!(page.text().await?.contains("/console/"));
    // An API client (curl, the SDK) still gets the asset's JSON, and caches know it varies.
    for accept in ["*/*", "application/json"] {
        let json = app.http.get(&url).header("accept", accept).send().await?;
        assert_eq!(json.headers()["vary"], "Accept");
        let body: Value = json.json().await?;
        assert_eq!(body["identity"], asset["identity"], "{accept}");
    }
    // A private asset's address gets the very same page as a public one's (its own fetch of
    // the JSON is what finds nothing), so the page cannot be used to probe for ids.
    let private = app.create_asset(&tenant.token, json!({}), false).await?;
    let hidden = url.replace(&bare_id(&asset["identity"]), &bare_id(&private["identity"]));
    let public_page = app
        .http
        .get(&url)
        .header("accept", browser)
        .send()
        .await?
        .bytes()
        .await?;
    let hidden_page = app.http.get(&hidden).header("accept", browser).send().await?;
    assert_eq!(hidden_page.status(), 200);
    assert_eq!(hidden_page.bytes().await?, public_page);
    let (status, _) = app.get_json(None, &hidden.replace(&app.base, "")).await?;
    assert_eq!(status, 404);
    Ok(())
}

async fn lookup_finds_the_events_recording_a_hash(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let other = app.tenant().await?;
    let content = random_bytes(5000, 27);
    let hash = sha256_hex(&content);
    let blob = app.upload(&tenant.token, "evidence.pdf", content).await?;
    let asset = app.create_asset(&tenant.token, json!({}), false).await?;
    let events_path = format!(
        "/archivist/v2/{}/events",
        asset["identity"].as_str().unwrap_or_default()
    );
    let mut recorded = Vec::new();
    for name in ["first", "second"] {
        let body = json!({"operation": "Record", "behaviour": "RecordEvidence",
            "event_attributes": {name: attachment(&blob, "evidence.pdf")}});
        let (status, event) = app.post_json(&tenant.token, &events_path, &body).await?;
        assert_eq!(status, 200, "{event}");
        recorded.push(event["identity"].clone());
    }
    // The hash as mere text (not an attachment) does not count.
    let body = json!({"operation": "Record", "behaviour": "RecordEvidence", "event_attributes": {"note": hash}});
    assert_eq!(app.post_json(&tenant.token, &events_path, &body).await?.0, 200);
    // An asset-free event recording it, in a list of attachments.
    let body = json!({"attributes": {"arc_attachments": [attachment(&blob, "evidence.pdf")]}});
    let (status, free) = app.post_json(&tenant.token, "/archivist/v1/events", &body).await?;
    assert_eq!(status, 200, "{free}");
    recorded.push(free["identity"].clone());

    let lookup = |token: String, hash: String| {
        let app = &app;
        async move {
            app.get_json(Some(&token), &format!("/archivist/v1/blobs:lookup?hash={hash}"))
                .await
        }
    };
    let (status, found) = lookup(tenant.token.clone(), hash.to_uppercase()).await?;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["hash"], json!({"alg": "SHA256", "value": hash}));
    let events = found["events"].as_array().cloned().unwrap_or_default();
    // Newest first, each with the attribute that records the hash, each as its route shows it.
    let identities: Vec<&Value> = events.iter().map(|e| &e["event"]["identity"]).collect();
    assert_eq!(identities, [&recorded[2], &recorded[1], &recorded[0]], "{found}");
    assert_eq!(events[0]["event"]["origin_tenant"], tenant.credentials.tenant.as_str());
    assert_eq!(events[1]["attachments"][0]["attribute"], "event_attributes.second");
    assert_eq!(events[1]["attachments"][0]["blob_identity"], blob["identity"]);
    assert_eq!(events[1]["attachments"][0]["file_name"], "evidence.pdf");
    assert!(events[1]["event"]["merklelog_entry"].is_object(), "{found}");
    let before = found;

    // As if stored before attachment hashes were indexed: the next start indexes them.
    app.stop().await?;
    db.execute("DELETE FROM event_terms").await?;
    let backfilled = attachd::repo::terms::BACKFILLED;
    db.execute(&format!("UPDATE settings SET value = '1' WHERE key = '{backfilled}'"))
        .await?;
    let app = TestApp::start(&db).await?;
    let lookup = |token: String, hash: String| {
        let app = &app;
        async move {
            app.get_json(Some(&token), &format!("/archivist/v1/blobs:lookup?hash={hash}"))
                .await
        }
    };
    let (_, after) = lookup(tenant.token.clone(), hash.clone()).await?;
    let identities = |found: &Value| -> Vec<Value> {
        found["events"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["event"]["identity"].clone())
            .collect()
    };
    assert_eq!(identities(&after), identities(&before), "after backfill");

    // Another tenant, an unknown hash: recorded nowhere.
    assert_eq!(lookup(other.token.clone(), hash.clone()).await?.1["events"], json!([]));
    assert_eq!(
        lookup(tenant.token.clone(), sha256_hex(b"never uploaded")).await?.1["events"],
        json!([])
    );
    for bad in ["", "abc", "zz", "%25%25", &format!("{hash}00")] {
        let (status, body) = lookup(tenant.token.clone(), bad.to_string()).await?;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = app
        .get_json(
            Some(&tenant.token),
            &format!("/archivist/v1/blobs:lookup?hash={hash}&x=1"),
        )
        .await?;
    assert_eq!(status, 400);
    let (status, _) = app
        .get_json(None, &format!("/archivist/v1/blobs:lookup?hash={hash}"))
        .await?;
    assert_eq!(status, 401);
    Ok(())
}
