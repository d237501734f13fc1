//! `cashout demo`: the sandbox, the API and the workers in one process, a mixed batch of
//! cashouts sent over the HTTP API, progress while they settle, and a summary table. Exits
//! non-zero when any cashout ends other than designed or any payout was executed twice.

use crate::app;
use crate::settings::Settings;
use anyhow::{Context, bail};
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// `cashout demo` options.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// How many cashouts to send (at least 50).
    #[arg(long, default_value_t = 60)]
    count: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
    /// Keep the API (and its console) up this many seconds after the summary.
    #[arg(long, default_value_t = 0)]
    hold_secs: u64,
}

/// What a phone number's last digit asks of the sandbox, and what must come of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Design {
    /// Settles after a short while: confirmed.
    Confirm,
    /// Settles as FAILED: failed.
    Fail,
    /// PENDING for a long while, then confirmed.
    LongPending,
    /// UNDERINVESTIGATION, then success: confirmed.
    Investigate,
    /// Never settles: parked `deadline_exceeded`, still submitted.
    NeverSettles,
    /// OMT: GETCTI matches, PAYCTI pays: confirmed.
    OmtPays,
    /// OMT: a wrong OTP: failed (one failed attempt counted, far from the lock).
    OmtWrongOtp,
    /// OMT: GETCTI's amount differs from the order: failed, PAYCTI never sent.
    OmtMismatch,
    /// OMT: the account is locked at OMT: failed, and marked locked.
    OmtLocked,
    /// OMNO: created, confirmed right away, paid.
    OmnoPays,
    /// OMNO: declined (no provider available).
    OmnoDeclined,
    /// OMNO: an unknown status first, then paid.
    OmnoOnHold,
    /// OMNO, manual approval: the demo approves it while it waits.
    OmnoApproved,
    /// OMNO, manual approval: the demo revokes it while it waits (OMNO reject).
    OmnoRevoked,
}

impl Design {
    fn for_index(i: usize) -> (Self, u8) {
        match i % 20 {
            12 | 13 => (Design::Fail, 0),
            14 | 15 => (Design::LongPending, 9),
            16 => (Design::Investigate, 7),
            17 => (Design::NeverSettles, 8),
            n => (Design::Confirm, u8::try_from(1 + n % 6).unwrap_or(1)),
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Design::Confirm
            | Design::LongPending
            | Design::Investigate
            | Design::OmtPays
            | Design::OmnoPays
            | Design::OmnoOnHold
            | Design::OmnoApproved => "confirmed",
            Design::OmnoRevoked => "revoked",
            Design::Fail
            | Design::OmtWrongOtp
            | Design::OmtMismatch
            | Design::OmtLocked
            | Design::OmnoDeclined => "failed",
            Design::NeverSettles => "submitted, parked: deadline_exceeded",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Design::Confirm => "settles quickly",
            Design::Fail => "provider fails it",
            Design::LongPending => "long PENDING",
            Design::Investigate => "UNDERINVESTIGATION first",
            Design::NeverSettles => "never settles",
            Design::OmtPays => "omt: pays",
            Design::OmtWrongOtp => "omt: wrong OTP",
            Design::OmtMismatch => "omt: amount differs",
            Design::OmtLocked => "omt: account locked",
            Design::OmnoPays => "omno: pays",
            Design::OmnoDeclined => "omno: declined",
            Design::OmnoOnHold => "omno: unknown status first",
            Design::OmnoApproved => "omno: manual, approved",
            Design::OmnoRevoked => "omno: manual, revoked",
        }
    }
}

struct Sent {
    id: String,
    design: Design,
}

/// Runs the demo.
pub async fn run(mut settings: Settings, args: DemoArgs) -> anyhow::Result<()> {
    if args.count < 50 {
        bail!("--count must be at least 50");
    }
    let run_id = format!("{:x}", rand::random::<u32>());
    settings.redis.prefix = format!("{}:demo:{run_id}", settings.redis.prefix);
    settings.redis.retention_days = 1;
    let token = format!("demo-{:032x}", rand::random::<u128>());
    settings.api.tokens = SecretString::from(format!("demo:{token}"));
    // Approve and revoke are operator actions: the demo's operator has a token of its own.
    let admin_token = format!("demo-ops-{:032x}", rand::random::<u128>());
    // Operator tokens given in the environment are kept, to log in to the console.
    let given = settings.api.admin_tokens.expose_secret().trim().to_owned();
    let ops = format!("demo-ops:{admin_token}");
    settings.api.admin_tokens = SecretString::from(if given.is_empty() {
        ops
    } else {
        format!("{given},{ops}")
    });

    // The sandbox.
    let mut sandbox_cfg = cashout_sandbox::SandboxConfig::default();
    sandbox_cfg.camoo.settle_delay_ms = 1_500;
    sandbox_cfg.camoo.long_pending_ms = 7_000;
    let sandbox = cashout_sandbox::spawn(sandbox_cfg.clone())
        .await
        .context("starting the sandbox")?;

    // The API, on a port of its own.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_url = format!("http://{}", listener.local_addr()?);

    // Point Camoo at the sandbox, notifications at the API, and poll briskly.
    let camoo = &mut settings.providers.camoo;
    camoo.base_url = sandbox.camoo_base_url();
    camoo.api_key = SecretString::from(sandbox_cfg.camoo.api_key.clone());
    camoo.api_secret = SecretString::from(sandbox_cfg.camoo.api_secret.clone());
    camoo.notification_url = Some(format!("{api_url}/v1/providers/camoo/notify"));
    camoo.timeouts.create_ms = 5_000;
    camoo.timeouts.status_ms = 5_000;
    camoo.poll.first_delay_ms = 1_000;
    camoo.poll.factor = 1.5;
    camoo.poll.max_delay_ms = 3_000;
    camoo.poll.deadline_secs = 15;
    let omt = &mut settings.providers.omt;
    omt.base_url = sandbox.omt_base_url();
    omt.username = SecretString::from(sandbox_cfg.omt.username.clone());
    omt.password = SecretString::from(sandbox_cfg.omt.password.clone());
    omt.timeouts.create_ms = 5_000;
    omt.timeouts.status_ms = 5_000;
    let omno = &mut settings.providers.omno;
    omno.base_url = sandbox.omno_base_url();
    omno.token = SecretString::from(sandbox_cfg.omno.token.clone());
    omno.timeouts.create_ms = 5_000;
    omno.timeouts.status_ms = 5_000;
    omno.poll = settings.providers.camoo.poll.clone();
    settings.redis.redeliver_after_ms = 5_000;
    settings.validate()?;

    let producer = app::producer(&settings).await.context(
        "the demo needs Redis: set CASHOUT_REDIS__URL, or run `make demo`, which starts one",
    )?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let driver = app::driver(&settings, &producer).await?;
    let state = cashout_api::AppState::new(
        producer.clone(),
        settings.tokens()?,
        Some(settings.providers.camoo.api_secret.clone()),
    )
    .with_admin_tokens(settings.admin_tokens()?)
    .with_notifications(settings.api.notifications.clone())
    .with_console(settings.console.clone())
    .with_driver(driver.clone());
    let api = tokio::spawn(cashout_api::serve(
        listener,
        state,
        app::wait(stop_rx.clone()),
    ));
    let workers = tokio::spawn(cashout_worker::run(driver, stop_rx.clone()));

    println!("cashout demo");
    println!(
        "  redis    {} (prefix {})",
        app::redact_url(&settings.redis.url),
        settings.redis.prefix
    );
    println!("  api      {api_url}");
    println!("  console  {api_url}/console (log in with a token of CASHOUT_API__ADMIN_TOKENS)");
    println!("  sandbox  {}", sandbox.base_url());
    println!();

    let result = drive(&api_url, &token, &admin_token, &sandbox.base_url(), &args).await;
    if args.hold_secs > 0 {
        println!(
            "console  {api_url}/console stays up for {}s (--hold-secs)",
            args.hold_secs
        );
        tokio::time::sleep(Duration::from_secs(args.hold_secs)).await;
    }

    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), workers).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), api).await;
    sandbox.shutdown().await;
    cleanup(&producer, &settings.redis.prefix).await;
    result
}

async fn drive(
    api: &str,
    token: &str,
    admin_token: &str,
    sandbox: &str,
    args: &DemoArgs,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let order = |i: usize| {
        let (design, digit) = Design::for_index(i);
        let (amount, currency) = match i % 3 {
            0 => (1_000 + 500 * (i as i64 % 7), "XAF"),
            1 => (250 + 50 * (i as i64 % 5), "XOF"),
            _ => (1_250, "EUR"),
        };
        let body = json!({
            "idempotency_key": format!("demo-{i:03}"),
            "provider": "camoo",
            "amount": amount,
            "currency": currency,
            "recipient": {"phone_number": format!("+2376{:07}{digit}", i)},
            "metadata": {"batch": "demo", "n": i},
        });
        (design, body)
    };

    // Send the batch over HTTP, 8 at a time.
    let started = Instant::now();
    let results: Vec<anyhow::Result<Sent>> = futures::stream::iter(0..args.count)
        .map(|i| {
            let (design, body) = order(i);
            let http = http.clone();
            async move {
                let r = http
                    .post(format!("{api}/v1/cashouts"))
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await?;
                let status = r.status();
                let v: Value = r.json().await?;
                if status != reqwest::StatusCode::ACCEPTED {
                    bail!("order {i}: HTTP {status}: {v}");
                }
                let id = v["id"].as_str().context("no id")?.to_owned();
                Ok(Sent { id, design })
            }
        })
        .buffered(8)
        .collect()
        .await;
    let mut sent: Vec<Sent> = results.into_iter().collect::<anyhow::Result<_>>()?;
    let camoo_count = sent.len();
    sent.extend(omt_batch(&http, api, token, sandbox).await?);
    let omt_count = sent.len() - camoo_count;
    sent.extend(omno_batch(&http, api, token).await?);
    println!(
        "sent {} cashouts over HTTP ({camoo_count} camoo, {omt_count} omt, {} omno) in {} ms",
        sent.len(),
        sent.len() - camoo_count - omt_count,
        started.elapsed().as_millis()
    );

    // Idempotency and validation, shown once.
    let (_, again) = order(0);
    let r = http
        .post(format!("{api}/v1/cashouts"))
        .bearer_auth(token)
        .json(&again)
        .send()
        .await?;
    let same: Value = r.json().await.unwrap_or_default();
    println!(
        "  resent order 0 with the same key  → {} (same id: {})",
        if same["id"] == json!(sent[0].id) {
            "200 OK"
        } else {
            "?"
        },
        same["id"] == json!(sent[0].id)
    );
    let mut conflicting = again.clone();
    conflicting["amount"] = json!(999_999);
    let r = http
        .post(format!("{api}/v1/cashouts"))
        .bearer_auth(token)
        .json(&conflicting)
        .send()
        .await?;
    println!("  same key, different amount        → {}", r.status());
    let r = http
        .post(format!("{api}/v1/cashouts"))
        .bearer_auth(token)
        .json(
            &json!({"idempotency_key": "demo-bad", "provider": "camoo", "amount": -5,
                      "currency": "XAF", "recipient": {"phone_number": "+237600000001"}}),
        )
        .send()
        .await?;
    let bad: Value = r.json().await.unwrap_or_default();
    println!(
        "  negative amount                   → 422, field '{}'",
        bad["error"]["field"].as_str().unwrap_or("?")
    );
    println!();

    // Progress until every cashout is final or parked.
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    let mut last: Vec<Value>;
    let mut acted: Vec<String> = Vec::new();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        last = futures::stream::iter(sent.iter())
            .map(|s| {
                let http = http.clone();
                async move {
                    http.get(format!("{api}/v1/cashouts/{}", s.id))
                        .bearer_auth(token)
                        .send()
                        .await?
                        .json::<Value>()
                        .await
                }
            })
            .buffered(16)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        // The operator's part: approve one waiting OMNO payout, revoke the other.
        for (s, v) in sent.iter().zip(&last) {
            let action = match s.design {
                Design::OmnoApproved => "approve",
                Design::OmnoRevoked => "revoke",
                _ => continue,
            };
            if v["state"] == "submitted" && !acted.contains(&s.id) {
                let r = http
                    .post(format!("{api}/v1/cashouts/{}/{action}", s.id))
                    .bearer_auth(admin_token)
                    .send()
                    .await?;
                println!("  operator: {action} {} → {}", s.id, r.status());
                acted.push(s.id.clone());
            }
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut open = 0;
        for v in &last {
            let parked = !v["parked"].is_null();
            let state = v["state"].as_str().unwrap_or("?");
            let key = if parked { "parked" } else { state };
            *counts.entry(key).or_default() += 1;
            if !parked && (state == "created" || state == "submitted") {
                open += 1;
            }
        }
        let line = [
            "created",
            "submitted",
            "confirmed",
            "failed",
            "revoked",
            "parked",
        ]
        .iter()
        .map(|k| format!("{k} {:>2}", counts.get(k).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(" · ");
        println!("[{:>3}s] {line}", started.elapsed().as_secs());
        if open == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("{open} cashouts still open after {}s", args.timeout_secs);
        }
    }

    // Summary.
    let mut by_design: BTreeMap<&str, (usize, usize, &str)> = BTreeMap::new();
    let mut table: BTreeMap<String, usize> = BTreeMap::new();
    let mut wrong = Vec::new();
    for (s, v) in sent.iter().zip(&last) {
        let state = v["state"].as_str().unwrap_or("?");
        let got = match v["parked"]["reason"].as_str() {
            Some(r) => format!("{state}, parked: {r}"),
            None => state.to_owned(),
        };
        *table.entry(got.clone()).or_default() += 1;
        let e = by_design
            .entry(s.design.label())
            .or_insert((0, 0, s.design.expected()));
        e.0 += 1;
        if got == s.design.expected() {
            e.1 += 1;
        } else {
            wrong.push(format!(
                "{} ({}): expected {}, got {got}",
                s.id,
                s.design.label(),
                s.design.expected()
            ));
        }
    }
    println!();
    println!("{:<40} {:>6}", "final state", "count");
    println!("{}", "-".repeat(47));
    for (k, n) in &table {
        println!("{k:<40} {n:>6}");
    }
    println!("{}", "-".repeat(47));
    println!("{:<40} {:>6}", "total", sent.len());
    println!();
    println!(
        "{:<26} {:>5} {:>9}   expected",
        "sandbox behaviour", "sent", "as such"
    );
    for (label, (n, ok, exp)) in &by_design {
        println!("{label:<26} {n:>5} {ok:>9}   {exp}");
    }

    // Every payout the sandbox executed, by our reference: never more than one.
    let audit: Value = http
        .get(format!("{sandbox}/_admin/payouts"))
        .send()
        .await?
        .json()
        .await?;
    let mut per_ref: BTreeMap<String, usize> = BTreeMap::new();
    for p in audit["payouts"].as_array().cloned().unwrap_or_default() {
        let r = p["external_reference"].as_str().unwrap_or("").to_owned();
        *per_ref.entry(r).or_default() += 1;
    }
    let doubles = per_ref.values().filter(|n| **n > 1).count();
    println!();
    println!(
        "sandbox executed {} payouts for {} cashouts; paid twice: {doubles}",
        per_ref.values().sum::<usize>(),
        sent.len()
    );
    if doubles > 0 {
        bail!("{doubles} cashouts were paid more than once");
    }
    if !wrong.is_empty() {
        bail!(
            "{} cashouts did not end as designed:\n  {}",
            wrong.len(),
            wrong.join("\n  ")
        );
    }
    println!(
        "every cashout ended as designed in {}s",
        started.elapsed().as_secs()
    );
    Ok(())
}

/// Seeds the OMT sandbox with the customers' pending cashouts and sends twelve OMT orders.
async fn omt_batch(
    http: &reqwest::Client,
    api: &str,
    token: &str,
    sandbox: &str,
) -> anyhow::Result<Vec<Sent>> {
    const OTP: i64 = 482_913;
    let mut out = Vec::new();
    for i in 0..12_i64 {
        let account = 5_001 + i;
        let design = match i {
            8 | 9 => Design::OmtWrongOtp,
            10 => Design::OmtMismatch,
            11 => Design::OmtLocked,
            _ => Design::OmtPays,
        };
        // Even customers take USD, odd ones LBP (whole units: OMT pays no cents).
        let (major, currency, code) = if i % 2 == 0 {
            (100 + 25 * i, 1, "USD")
        } else {
            (1_000_000 + 50_000 * i, 0, "LBP")
        };
        let seed = json!({
            "account_id": account, "otp": OTP, "amount": major, "currency": currency,
            "first_name": "Rami", "middle_name": "", "last_name": format!("Haddad{i}"),
            "mobile_number": format!("+9617100{:04}", i)
        });
        let r = http
            .post(format!("{sandbox}/_admin/omt/pending"))
            .json(&seed)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("seeding the omt sandbox: HTTP {}", r.status());
        }
        if design == Design::OmtLocked {
            http.post(format!("{sandbox}/_admin/omt/lock"))
                .json(&json!({"account_id": account, "reason": "expired"}))
                .send()
                .await?;
        }
        let otp = if design == Design::OmtWrongOtp {
            111_111
        } else {
            OTP
        };
        let amount = if design == Design::OmtMismatch {
            major + 1
        } else {
            major
        };
        let body = json!({
            "idempotency_key": format!("demo-omt-{i:03}"),
            "provider": "omt",
            "amount": amount * 100,
            "currency": code,
            "recipient": {"account_id": account, "otp": otp, "customer_name": format!("Rami Haddad{i}")},
        });
        let r = http
            .post(format!("{api}/v1/cashouts"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        let v: Value = r.json().await?;
        if status != reqwest::StatusCode::ACCEPTED {
            bail!("omt order {i}: HTTP {status}: {v}");
        }
        out.push(Sent {
            id: v["id"].as_str().context("no id")?.to_owned(),
            design,
        });
    }
    Ok(out)
}

/// Sends eight OMNO orders; the last character of the customer id picks the sandbox outcome.
async fn omno_batch(http: &reqwest::Client, api: &str, token: &str) -> anyhow::Result<Vec<Sent>> {
    let plan = [
        (Design::OmnoPays, "c-1001", "auto"),
        (Design::OmnoPays, "c-1002", "auto"),
        (Design::OmnoPays, "c-1003", "auto"),
        (Design::OmnoPays, "c-1004", "auto"),
        (Design::OmnoDeclined, "c-1010", "auto"),
        (Design::OmnoOnHold, "c-1008", "auto"),
        (Design::OmnoApproved, "c-1005", "manual"),
        (Design::OmnoRevoked, "c-1006", "manual"),
    ];
    let mut out = Vec::new();
    for (i, (design, user, approval)) in plan.into_iter().enumerate() {
        let body = json!({
            "idempotency_key": format!("demo-omno-{i:03}"),
            "provider": "omno",
            "amount": 10_000 + 500 * i as i64,
            "currency": "USD",
            "approval": approval,
            "recipient": {
                "external_user_id": user, "first_name": "Ana", "last_name": format!("Lopez{i}"),
                "email": format!("ana{i}@example.com"), "phone_number": format!("1 555010{i:04}"),
                "date_of_birth": "1988-04-02", "kyc_verified": true,
                "billing": {"address": "1 Plaza", "city": "Madrid", "state": "MD",
                            "country_code": "ES", "postal_code": "28001"}
            }
        });
        let r = http
            .post(format!("{api}/v1/cashouts"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        let v: Value = r.json().await?;
        if status != reqwest::StatusCode::ACCEPTED {
            bail!("omno order {i}: HTTP {status}: {v}");
        }
        out.push(Sent {
            id: v["id"].as_str().context("no id")?.to_owned(),
            design,
        });
    }
    Ok(out)
}

/// Deletes the demo's keys so repeated demos leave Redis as they found it.
async fn cleanup(producer: &cashout_store::Producer, prefix: &str) {
    let mut conn = producer.store().connection();
    let mut cursor: u64 = 0;
    loop {
        let res: Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(500)
            .query_async(&mut conn)
            .await;
        let Ok((next, keys)) = res else { return };
        if !keys.is_empty() {
            let _: Result<i64, _> = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}
