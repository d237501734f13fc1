//! The operator console (`/console`) in a real headless Chromium: log in, find parked cashouts
//! by reason, filter, bulk-replay a reason (exactly those replayed, one payout each), resolve
//! with a note (in the timeline); and over plain HTTP: producer tokens cannot act, a form
//! without its CSRF token is refused. Each page's screenshot is checked not to be blank.

use cashout_tests::browser::{Browser, check_png};
use cashout_tests::{ADMIN_TOKEN, Options, TOKEN, TestApp, causes, phone};
use fantoccini::{Client, Locator};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn shots_dir() -> PathBuf {
    let d = std::env::var_os("CONSOLE_SCREENSHOTS").map_or_else(
        || std::env::temp_dir().join(format!("cashout-console-{}", uuid::Uuid::new_v4().simple())),
        PathBuf::from,
    );
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Saves a screenshot of the current page and checks that it shows something.
async fn shot(c: &Client, dir: &Path, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, &png).unwrap();
    let r = check_png(&png);
    assert!(r.is_ok(), "{}: {r:?}", path.display());
}

/// Waits (bounded) until the page's `<main>` contains `text`; returns its text.
async fn wait_text(c: &Client, text: &str) -> String {
    let start = Instant::now();
    loop {
        if let Ok(m) = c.find(Locator::Css("main")).await
            && let Ok(t) = m.text().await
            && t.contains(text)
        {
            return t;
        }
        if start.elapsed() > Duration::from_secs(15) {
            let src = c.source().await.unwrap_or_default();
            panic!("the page never showed {text:?}: {src}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The ids of the DLQ rows on the page.
async fn row_ids(c: &Client) -> Vec<String> {
    let mut ids = Vec::new();
    for r in c
        .find_all(Locator::Css("table.dlq tbody tr"))
        .await
        .unwrap()
    {
        ids.push(r.attr("data-id").await.unwrap().unwrap_or_default());
    }
    ids.sort();
    ids
}

async fn parked(app: &TestApp, key: &str, n: u32, amount: i64, reason: &str) -> String {
    let (s, v) = app
        .post_cashout(&TestApp::order(key, &phone(n, 1), amount))
        .await;
    assert_eq!(s, 202, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let v = app.wait_settled(&id).await;
    assert_eq!(v["parked"]["reason"], reason, "{v:#}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_works_the_dead_letter_queue_in_a_browser() {
    let browser = match Browser::start().await {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "\n{}\nSKIPPED console browser test: {e}\n{}\n",
                "!".repeat(72),
                "!".repeat(72)
            );
            return;
        }
    };
    let mut o = Options::default();
    o.sandbox.camoo.balance = 1_000;
    o.console.trace_url_template = Some("http://jaeger.test/trace/{trace_id}".to_owned());
    o.console.refresh_secs = 0;
    let mut app = TestApp::spawn(o).await;
    app.start_worker();
    // One create whose answer is lost after Camoo executed it: in doubt. Then three refused for
    // the merchant balance.
    app.fault("create", 1, json!({"kind": "reset", "phase": "after"}))
        .await;
    let doubt = parked(&app, "console-doubt", 70, 500, "outcome_unknown").await;
    let mut funds = Vec::new();
    for i in 0..3 {
        funds.push(
            parked(
                &app,
                &format!("console-funds-{i}"),
                71 + i,
                5_000,
                "insufficient_funds",
            )
            .await,
        );
    }
    funds.sort();
    let dir = shots_dir();
    let c = &browser.client;
    let base = &app.api_url;

    // Not logged in: the login form.
    c.goto(&format!("{base}/console/dlq")).await.unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/console/login")
    );
    shot(c, &dir, "1-login").await;
    c.find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(ADMIN_TOKEN)
        .await
        .unwrap();
    c.find(Locator::Css("section.login button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let t = wait_text(c, "Overview").await;
    assert!(
        t.contains("insufficient_funds") && t.contains("outcome_unknown"),
        "{t}"
    );
    assert!(
        c.find(Locator::Css("header .who"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("ops")
    );
    shot(c, &dir, "2-overview").await;

    // The DLQ lists all four, each with its reason; the in-doubt one says so.
    c.find(Locator::LinkText("Dead-letter queue"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(c, "By reason").await;
    let mut all = funds.clone();
    all.push(doubt.clone());
    all.sort();
    assert_eq!(row_ids(c).await, all);
    let row = c
        .find(Locator::Css(&format!("tr[data-id='{}']", funds[0])))
        .await
        .unwrap();
    let text = row.text().await.unwrap();
    assert!(
        text.contains("insufficient_funds") && text.contains("402"),
        "{text}"
    );
    let row = c
        .find(Locator::Css(&format!("tr[data-id='{doubt}']")))
        .await
        .unwrap();
    let text = row.text().await.unwrap();
    assert!(
        text.contains("outcome_unknown") && text.contains("in doubt"),
        "{text}"
    );
    shot(c, &dir, "3-dlq").await;

    // Filter by reason with the form.
    c.find(Locator::Css("select[name=reason]"))
        .await
        .unwrap()
        .select_by_value("insufficient_funds")
        .await
        .unwrap();
    c.find(Locator::Css("form.filters button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let start = Instant::now();
    while !c
        .current_url()
        .await
        .unwrap()
        .as_str()
        .contains("reason=insufficient_funds")
    {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the filter was not applied"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_text(c, "By reason").await;
    assert_eq!(row_ids(c).await, funds);
    shot(c, &dir, "4-dlq-filtered").await;

    // Money arrives; replay everything matching, after a confirmation that says how many.
    app.sandbox_config(json!({"balance": 1_000_000})).await;
    c.find(Locator::Css("a.button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let t = wait_text(c, "parked cashouts match").await;
    assert!(t.contains("3 parked cashouts match"), "{t}");
    shot(c, &dir, "5-replay-confirm").await;
    c.find(Locator::Css("input[name=note]"))
        .await
        .unwrap()
        .send_keys("balance topped up")
        .await
        .unwrap();
    c.find(Locator::Css("main form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let t = wait_text(c, "Bulk replay done").await;
    assert!(t.contains("3 replayed of 3"), "{t}");
    shot(c, &dir, "6-replay-done").await;
    for id in &funds {
        let v = app
            .wait_for_cashout(id, Duration::from_secs(20), |v| v["state"] == "confirmed")
            .await;
        assert!(
            causes(&v)
                .iter()
                .any(|c| c.starts_with("replayed by ops: balance topped up")),
            "{v:#}"
        );
        assert_eq!(app.payouts(Some(id)).await.len(), 1, "one payout for {id}");
    }
    // The in-doubt one was not part of it and was not touched.
    let v = app.get_cashout(&doubt).await;
    assert_eq!(v["parked"]["reason"], "outcome_unknown");
    assert!(!causes(&v).iter().any(|c| c.contains("replayed")), "{v:#}");

    // Search it by idempotency key; its page shows the record, masked, and the trace link.
    let q = c
        .find(Locator::Css("form.search input[name=q]"))
        .await
        .unwrap();
    q.send_keys("console-doubt").await.unwrap();
    c.find(Locator::Css("form.search button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let t = wait_text(c, "Timeline").await;
    assert!(t.contains(&doubt) && t.contains("outcome_unknown"), "{t}");
    let full_phone = phone(70, 1);
    assert!(
        !c.source().await.unwrap().contains(&full_phone),
        "the phone number is masked"
    );
    let trace = c
        .find(Locator::Css("a.trace"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(
        trace.starts_with("http://jaeger.test/trace/") && trace.len() > 30,
        "{trace}"
    );
    // Replay is refused for it, with the reason.
    let replay = c.find(Locator::Css("button[value=replay]")).await.unwrap();
    assert!(!replay.is_enabled().await.unwrap());
    assert!(
        t.contains("confirm with the provider, then use resolve"),
        "{t}"
    );
    shot(c, &dir, "7-cashout").await;

    // Resolve it as confirmed (Camoo paid it: the sandbox says so), with a note.
    assert_eq!(app.payouts(Some(&doubt)).await.len(), 1);
    let form = c
        .find(Locator::Css(&format!(
            "form[action='/console/cashouts/{doubt}/resolve']"
        )))
        .await
        .unwrap();
    form.find(Locator::Css("input[name=note]"))
        .await
        .unwrap()
        .send_keys("checked with Camoo: paid")
        .await
        .unwrap();
    form.find(Locator::Css("button[value=confirmed]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let t = wait_text(c, "resolved: confirmed").await;
    assert!(
        t.contains("resolved as confirmed by ops: checked with Camoo: paid"),
        "{t}"
    );
    shot(c, &dir, "8-resolved").await;
    let v = app.get_cashout(&doubt).await;
    assert_eq!(v["state"], "confirmed");
    assert!(v["parked"].is_null());
    assert!(
        causes(&v)
            .iter()
            .any(|c| c == "resolved as confirmed by ops: checked with Camoo: paid"),
        "{v:#}"
    );

    // Log out: the DLQ asks for a login again.
    c.find(Locator::Css("form.logout button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(c, "Operator token").await;
    c.goto(&format!("{base}/console/dlq")).await.unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/console/login")
    );
    eprintln!("console screenshots in {}", dir.display());
    browser.close().await;
    app.shutdown().await;
}

/// The session cookie of a login with `token`, and the answer's status.
async fn login(http: &reqwest::Client, base: &str, token: &str) -> (u16, Option<String>) {
    let r = http
        .post(format!("{base}/console/login"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let cookie = r
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), cookie)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producers_cannot_act_and_forged_forms_are_refused() {
    let mut o = Options::default();
    o.sandbox.camoo.balance = 1_000;
    let mut app = TestApp::spawn(o).await;
    app.start_worker();
    let id = parked(&app, "console-forge", 80, 5_000, "insufficient_funds").await;
    let base = app.api_url.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Not logged in: pages send to the login form, actions are refused.
    let r = http
        .get(format!("{base}/console/dlq"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/console/login");

    // A producer token cannot log in, and a bearer producer token cannot act.
    let (s, cookie) = login(&http, &base, TOKEN).await;
    assert_eq!((s, cookie), (403, None));
    let (s, cookie) = login(&http, &base, "nobody-0123456789").await;
    assert_eq!((s, cookie), (401, None));
    let r = http
        .post(format!("{base}/console/cashouts/{id}/discard"))
        .bearer_auth(TOKEN)
        .form(&[("note", "producer says so")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // An operator logs in: the cookie is HttpOnly, SameSite=Strict, and holds no token.
    let (s, cookie) = login(&http, &base, ADMIN_TOKEN).await;
    assert_eq!(s, 303);
    let cookie = cookie.expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(ADMIN_TOKEN) && !cookie.contains("ops"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    // Nothing in Redis holds the token or the raw session id either.
    let sid = session.split_once('=').unwrap().1.to_owned();
    for k in app.keys().await {
        assert!(!k.contains(&sid), "{k}");
    }

    let page = http
        .get(format!("{base}/console/cashouts/{id}"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the page's forms carry a CSRF token")
        .to_owned();
    let discard = |fields: Vec<(&'static str, String)>, origin: Option<&'static str>| {
        let mut req = http
            .post(format!("{base}/console/cashouts/{id}/discard"))
            .header("cookie", &session)
            .form(&fields);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    let note = ("note", "forged".to_owned());
    // Without the token, with a wrong one, or from another site: 403, nothing done.
    let r = discard(vec![note.clone()], None).await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("CSRF"));
    let r = discard(vec![note.clone(), ("csrf", "0".repeat(64))], None)
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = discard(
        vec![note.clone(), ("csrf", csrf.clone())],
        Some("http://evil.example"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    let v = app.get_cashout(&id).await;
    assert_eq!(v["parked"]["reason"], "insufficient_funds");
    assert!(!causes(&v).iter().any(|c| c.contains("forged")), "{v:#}");
    // The same form with its token goes through, under the operator's name.
    let r = discard(
        vec![("note", "no funds, give up".to_owned()), ("csrf", csrf)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 303);
    let v = app.get_cashout(&id).await;
    assert_eq!(v["state"], "failed");
    assert!(
        causes(&v)
            .iter()
            .any(|c| c == "discarded by ops: no funds, give up"),
        "{v:#}"
    );
    assert!(app.payouts(Some(&id)).await.is_empty());
    app.shutdown().await;
}

/// Pages of a DLQ of 100,000 parked cashouts (copies of a real parked record in a Redis of the
/// test's own): the first page, later pages by cursor, a filter that matches only the newest
/// ten (each page reads a bounded part of the index and says where to go on), and the counts.
/// Prints how long each took; asserts what each page holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dlq_pages_stay_bounded_with_100_000_parked() {
    const N: usize = 100_000;
    let redis = cashout_tests::PrivateRedis::start();
    let mut o = Options::default();
    o.sandbox.camoo.balance = 1_000;
    o.redis_url = Some(redis.url());
    let mut app = TestApp::spawn(o).await;
    app.start_worker();
    let id = parked(&app, "console-many", 90, 5_000, "insufficient_funds").await;
    app.stop_workers().await;
    let store = app.producer.store().clone();
    let keys = store.keys().clone();
    let mut conn = store.connection();
    let cid = cashout_core::CashoutId::parse(&id).unwrap();
    let record: Vec<u8> = redis::cmd("GET")
        .arg(keys.record(&cid))
        .query_async(&mut conn)
        .await
        .unwrap();
    let record = String::from_utf8(record).unwrap();
    let base_ms = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let seeded = Instant::now();
    for chunk in 0..N / 1_000 {
        let mut pipe = redis::pipe();
        for j in 0..1_000 {
            let i = chunk * 1_000 + j;
            let new = cashout_core::CashoutId::generate();
            let mut r = record.replace(&id, &new.to_string());
            if i >= N - 10 {
                r = r.replace(
                    "\"reason\":\"insufficient_funds\"",
                    "\"reason\":\"outcome_unknown\"",
                );
            }
            pipe.cmd("SET").arg(keys.record(&new)).arg(r).ignore();
            pipe.cmd("ZADD")
                .arg(keys.parked(0))
                .arg(base_ms + i as i64)
                .arg(new.to_string())
                .ignore();
        }
        let () = pipe.query_async(&mut conn).await.unwrap();
    }
    eprintln!("seeded {N} parked cashouts in {:?}", seeded.elapsed());

    let base = app.api_url.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let (_, cookie) = login(&http, &base, ADMIN_TOKEN).await;
    let session = cookie.unwrap().split(';').next().unwrap().to_owned();
    let get = |path: String| {
        let http = http.clone();
        let session = session.clone();
        let base = base.clone();
        async move {
            let t = Instant::now();
            let r = http
                .get(format!("{base}{path}"))
                .header("cookie", session)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
            let body = r.text().await.unwrap();
            (body, t.elapsed())
        }
    };
    let rows = |b: &str| b.matches("<tr data-id=").count();
    let next = |b: &str| {
        b.split("class=\"next\" href=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(|s| s.replace("&amp;", "&"))
    };
    // The overview counts every parked record (then reuses the counts for a few seconds).
    let (body, took) = get("/console".to_owned()).await;
    assert!(body.contains(&format!(">{}<", N + 1)), "the DLQ size");
    eprintln!("overview (counts over {} parked): {took:?}", N + 1);
    // The first page, and three more by cursor: 50 rows each.
    let (body, took) = get("/console/dlq".to_owned()).await;
    assert_eq!(rows(&body), 50);
    eprintln!("dlq page 1: {took:?}");
    let mut link = next(&body).expect("a next page");
    for p in 2..=4 {
        let (body, took) = get(link.clone()).await;
        assert_eq!(rows(&body), 50, "page {p}");
        eprintln!("dlq page {p}: {took:?}");
        link = next(&body).expect("a next page");
    }
    // Only the newest ten match: each page reads at most 20,000 entries and links on.
    let mut link = "/console/dlq?reason=outcome_unknown".to_owned();
    let mut found = 0;
    let mut pages = 0;
    loop {
        let (body, took) = get(link.clone()).await;
        pages += 1;
        found += rows(&body);
        eprintln!(
            "dlq reason=outcome_unknown page {pages}: {} rows, {took:?}",
            rows(&body)
        );
        match next(&body) {
            Some(l) => link = l,
            None => break,
        }
        assert!(pages < 10, "the search must end");
    }
    assert_eq!(found, 10);
    assert!(
        pages >= 5,
        "{pages}: a page reads a bounded part of the index"
    );
    app.shutdown().await;
    drop(redis);
}
