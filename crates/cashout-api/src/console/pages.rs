//! The console's pages and actions.

// A refusal is a whole page (`Response`), as axum handlers answer.
#![allow(clippy::result_large_err)]

use super::html::{self, badge, csrf, page, redirect, respond, when};
use super::scan::{self, Filter, REASONS, Row};
use super::session::{self, Session};
use crate::AppState;
use crate::auth::authenticate;
use crate::view::CashoutView;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cashout_core::State as CashoutState;
use cashout_core::{Cashout, CashoutId, IdempotencyKey, ParkReason, ProducerName, Provider};
use cashout_store::dlq::{self, DlqError, Replay, Resolution};
use cashout_store::outcomes::Outcomes;
use cashout_store::{CorruptRecord, StoreError};
#[cfg(test)]
use chrono::TimeDelta;
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// How long the counts of the whole DLQ are reused.
const COUNTS_TTL: Duration = Duration::from_secs(30);

fn unavailable(e: &StoreError) -> Response {
    tracing::warn!(error = %e, "console: storage unavailable");
    respond(
        StatusCode::SERVICE_UNAVAILABLE,
        page(
            "Unavailable",
            None,
            None,
            0,
            html! { h1 { "Storage is unavailable" } p { "Redis did not answer; try again." } },
        ),
    )
}

fn message_page(status: StatusCode, title: &str, s: Option<&Session>, msg: &str) -> Response {
    respond(
        status,
        page(
            title,
            s,
            None,
            0,
            html! { h1 { (title) } p.error { (msg) } },
        ),
    )
}

/// The open session a request's cookie names, if its token is still an operator token; a
/// session whose token was removed or changed is ended here.
async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, StoreError> {
    let Some(s) = session::get(state.producer.store(), headers).await? else {
        return Ok(None);
    };
    if s.still_valid(&state.admin_tokens) {
        return Ok(Some(s));
    }
    tracing::warn!(operator = %s.operator, "console: a session of a removed or changed token ended");
    session::end(state.producer.store(), &s).await?;
    Ok(None)
}

/// The session of a page request; without one, to the login form.
async fn logged_in(state: &AppState, headers: &HeaderMap) -> Result<Session, Response> {
    match current(state, headers).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(redirect("/console/login", None)),
        Err(e) => Err(unavailable(&e)),
    }
}

/// A form posted from another site is refused, whatever it carries (`Origin`, or the browser's
/// `Sec-Fetch-Site`).
fn same_origin(headers: &HeaderMap) -> bool {
    let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    if get("sec-fetch-site").is_some_and(|s| s == "cross-site" || s == "same-site") {
        return false;
    }
    match (get("origin"), get("host")) {
        (None, _) => true,
        (Some(o), Some(host)) => {
            let o = o
                .strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"));
            o == Some(host)
        }
        (Some(_), None) => false,
    }
}

/// The session of an action: same origin, logged in, and the form's CSRF token. Anything
/// else is 403 and nothing is done.
async fn guard(
    state: &AppState,
    headers: &HeaderMap,
    presented: Option<&str>,
) -> Result<Session, Response> {
    let refuse = |msg: &str| Err(message_page(StatusCode::FORBIDDEN, "Refused", None, msg));
    if !same_origin(headers) {
        return refuse("this form was sent from another site");
    }
    let s = match current(state, headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return refuse("log in first: only operators may act here"),
        Err(e) => return Err(unavailable(&e)),
    };
    if !s.csrf_ok(presented) {
        tracing::warn!(operator = %s.operator, "console: a form without its CSRF token was refused");
        return refuse("this form is not from this session (CSRF token missing or wrong)");
    }
    Ok(s)
}

async fn flash(state: &AppState, s: &Session) -> Option<String> {
    session::take_flash(state.producer.store(), s)
        .await
        .ok()
        .flatten()
}

fn refresh(state: &AppState) -> u64 {
    state.console.config.refresh_secs
}

// ---------------------------------------------------------------------------------------------
// Login

pub(crate) async fn login_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Ok(Some(_)) = current(&state, &headers).await {
        return redirect("/console", None);
    }
    login_page(StatusCode::OK, None)
}

fn login_page(status: StatusCode, error: Option<&str>) -> Response {
    respond(
        status,
        page(
            "Log in",
            None,
            None,
            0,
            html! {
                section.login {
                    h1 { "Operator console" }
                    p { "Log in with an operator token (" code { "api.admin_tokens" } "). Producer tokens cannot use the console." }
                    @if let Some(e) = error { p.error role="alert" { (e) } }
                    form method="post" action="/console/login" {
                        label for="token" { "Operator token" }
                        input id="token" type="password" name="token" autocomplete="off" required autofocus;
                        button type="submit" { "Log in" }
                    }
                }
            },
        ),
    )
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    token: Option<String>,
}

pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        return message_page(
            StatusCode::FORBIDDEN,
            "Refused",
            None,
            "this form was sent from another site",
        );
    }
    let presented = format!("Bearer {}", f.token.unwrap_or_default().trim());
    let Some(name) = authenticate(&state.admin_tokens, Some(&presented)) else {
        if authenticate(&state.tokens, Some(&presented)).is_some() {
            tracing::warn!("console: a producer token tried to log in");
            return login_page(
                StatusCode::FORBIDDEN,
                Some("This is a producer token: producer tokens cannot use the console."),
            );
        }
        tracing::warn!("console: a login with an unknown token");
        return login_page(StatusCode::UNAUTHORIZED, Some("Unknown token."));
    };
    let cfg = &state.console.config;
    let mark = state
        .admin_tokens
        .iter()
        .find(|t| t.name == name)
        .map(crate::auth::ApiToken::session_mark)
        .unwrap_or_default();
    match session::create(state.producer.store(), name, mark, cfg.session_ttl_secs).await {
        Ok(s) => {
            tracing::info!(operator = %name, "console: operator logged in");
            redirect(
                "/console",
                Some(session::set_cookie(
                    &s,
                    cfg.session_ttl_secs,
                    cfg.secure_cookie,
                )),
            )
        }
        Err(e) => unavailable(&e),
    }
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    csrf: Option<String>,
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    let s = match guard(&state, &headers, f.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(e) = session::end(state.producer.store(), &s).await {
        return unavailable(&e);
    }
    redirect(
        "/console/login",
        Some(session::clear_cookie(state.console.config.secure_cookie)),
    )
}

// ---------------------------------------------------------------------------------------------
// Counts and the overview

/// Counts over the whole DLQ and the waiting cashouts.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub at: DateTime<Utc>,
    pub parked: usize,
    /// The parked index was read to its end.
    pub complete: bool,
    pub by_reason: BTreeMap<&'static str, usize>,
    pub by_reason_provider: BTreeMap<(&'static str, &'static str), usize>,
    /// (provider, state) of parked cashouts.
    pub parked_by_state: BTreeMap<(&'static str, &'static str), u64>,
    /// (provider, state) of cashouts waiting for a worker.
    pub waiting_by_state: BTreeMap<(&'static str, &'static str), u64>,
    pub in_doubt: usize,
}

fn provider_word(p: Option<Provider>) -> &'static str {
    p.map_or("?", Provider::as_str)
}

async fn counts(state: &AppState) -> Result<Arc<Counts>, StoreError> {
    if let Ok(g) = state.console.counts.lock()
        && let Some((at, c)) = g.as_ref()
        && at.elapsed() < COUNTS_TTL
    {
        return Ok(c.clone());
    }
    let store = state.producer.store();
    let (rows, complete) = scan::all(store, &Filter::default()).await?;
    let mut c = Counts {
        at: Utc::now(),
        parked: rows.len(),
        complete,
        ..Counts::default()
    };
    for r in &rows {
        let reason = r.reason.as_str();
        let provider = provider_word(r.provider);
        *c.by_reason.entry(reason).or_default() += 1;
        *c.by_reason_provider.entry((reason, provider)).or_default() += 1;
        let st = r.state.map_or("unreadable", |s| s.as_str());
        *c.parked_by_state.entry((provider, st)).or_default() += 1;
        c.in_doubt += usize::from(r.in_doubt);
    }
    c.waiting_by_state = scan::waiting_by_state(store).await?;
    let c = Arc::new(c);
    if let Ok(mut g) = state.console.counts.lock() {
        *g = Some((Instant::now(), c.clone()));
    }
    Ok(c)
}

fn forget_counts(state: &AppState) {
    if let Ok(mut g) = state.console.counts.lock() {
        *g = None;
    }
}

/// One provider's queue.
struct QueueInfo {
    provider: Provider,
    depth: u64,
    due: u64,
    /// How long the oldest overdue cashout has waited (seconds).
    oldest_overdue: Option<i64>,
    workers: Vec<WorkerInfo>,
}

struct WorkerInfo {
    name: String,
    pending: i64,
    idle_ms: i64,
}

fn field<'a>(pairs: &'a [redis::Value], name: &str) -> Option<&'a redis::Value> {
    pairs
        .chunks(2)
        .find(|kv| matches!(&kv[0], redis::Value::BulkString(b) if b == name.as_bytes()))
        .and_then(|kv| kv.get(1))
}

fn int(v: Option<&redis::Value>) -> i64 {
    match v {
        Some(redis::Value::Int(n)) => *n,
        Some(redis::Value::BulkString(b)) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

async fn queues(state: &AppState) -> Result<Vec<QueueInfo>, StoreError> {
    let store = state.producer.store();
    let keys = store.keys();
    let mut conn = store.connection();
    let now = Utc::now().timestamp_millis();
    let mut out = Vec::new();
    for provider in Provider::ALL {
        let depth = state.producer.queue().depth(provider).await?;
        let mut due = 0;
        let mut oldest: Option<i64> = None;
        let mut workers: BTreeMap<String, WorkerInfo> = BTreeMap::new();
        for p in keys.all_partitions() {
            let key = keys.due(provider, p);
            let n: u64 = redis::cmd("ZCARD").arg(&key).query_async(&mut conn).await?;
            due += n;
            let first: Vec<(String, f64)> = redis::cmd("ZRANGE")
                .arg(&key)
                .arg("-inf")
                .arg(now)
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(1)
                .arg("WITHSCORES")
                .query_async(&mut conn)
                .await?;
            #[allow(clippy::cast_possible_truncation)]
            if let Some((_, score)) = first.first() {
                let wait = (now - *score as i64) / 1000;
                oldest = Some(oldest.map_or(wait, |o| o.max(wait)));
            }
            // Consumers of the stream's group: a worker's last read is its heartbeat.
            let consumers: Result<Vec<Vec<redis::Value>>, _> = redis::cmd("XINFO")
                .arg("CONSUMERS")
                .arg(keys.stream(provider, p))
                .arg(cashout_store::GROUP)
                .query_async(&mut conn)
                .await;
            for c in consumers.unwrap_or_default() {
                let name = match field(&c, "name") {
                    Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                    _ => continue,
                };
                let pending = int(field(&c, "pending"));
                let idle = int(field(&c, "idle"));
                let w = workers.entry(name.clone()).or_insert(WorkerInfo {
                    name,
                    pending: 0,
                    idle_ms: idle,
                });
                w.pending += pending;
                w.idle_ms = w.idle_ms.min(idle);
            }
        }
        out.push(QueueInfo {
            provider,
            depth,
            due,
            oldest_overdue: oldest,
            workers: workers.into_values().collect(),
        });
    }
    Ok(out)
}

/// What the last hour brought, per five minutes, oldest first: cashouts finished (by final
/// state) and parked, counted by the writes that did it (`Store::recent_outcomes`).
async fn last_hour(state: &AppState) -> Result<Vec<Outcomes>, StoreError> {
    state
        .producer
        .store()
        .recent_outcomes(12, 5, Utc::now())
        .await
}

/// A bar per five minutes: confirmed, failed, revoked and parked stacked.
fn chart(spans: &[Outcomes]) -> Markup {
    let total = |o: &Outcomes| o.finished_total() + o.parked_total();
    let max = spans.iter().map(total).max().unwrap_or(0).max(1);
    let w = 24;
    let parts = |o: &Outcomes| {
        [
            ("confirmed", o.in_state(CashoutState::Confirmed)),
            ("failed", o.in_state(CashoutState::Failed)),
            ("revoked", o.in_state(CashoutState::Revoked)),
            ("parked", o.parked_total()),
        ]
    };
    html! {
        svg.chart viewBox={"0 0 " (spans.len() * w) " 64"} role="img" aria-label="cashouts finished and parked per five minutes, last hour" {
            @for (i, o) in spans.iter().enumerate() {
                @let mut y = 62;
                @for (class, n) in parts(o) {
                    @let h = (n * 60) / max;
                    @if n > 0 {
                        @let h = h.max(1);
                        @let top = y - h;
                        rect class=(class) x=(i * w + 2) y=(top) width=(w - 4) height=(h) {
                            title { (n) " " (class) ", " (60 - i * 5) " to " (55 - i * 5) " min ago" }
                        }
                        ({ y = top; "" })
                    }
                }
                @if total(o) == 0 {
                    rect.none x=(i * w + 2) y="61" width=(w - 4) height="1" {
                        title { "nothing, " (60 - i * 5) " to " (55 - i * 5) " min ago" }
                    }
                }
            }
        }
    }
}

/// `n` an hour as a rate per minute, one decimal.
fn per_minute(n: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let r = n as f64 / 60.0;
    format!("{r:.1}")
}

/// "12.5 %" of `part` in `whole` (`—` when nothing finished).
fn rate(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "—".to_owned();
    }
    #[allow(clippy::cast_precision_loss)]
    let pct = part as f64 * 100.0 / whole as f64;
    format!("{pct:.1} %")
}

pub(crate) async fn overview(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = match logged_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (c, q, hour, omt) = match (
        counts(&state).await,
        queues(&state).await,
        last_hour(&state).await,
        state.producer.store().omt_unresolved().await,
    ) {
        (Ok(c), Ok(q), Ok(h), Ok(o)) => (c, q, h, o),
        (Err(e), _, _, _) | (_, Err(e), _, _) | (_, _, Err(e), _) | (_, _, _, Err(e)) => {
            return unavailable(&e);
        }
    };
    let omt_attempts: usize = omt.iter().map(|g| g.reservations.len()).sum();
    let omt_stale = cashout_store::omt_stale_attempts(&omt, Utc::now());
    let flash = flash(&state, &s).await;
    let now = Utc::now();
    let body = html! {
        h1 { "Overview" }
        p.muted { "Counted " (html::ago(now.signed_duration_since(c.at).num_seconds())) "; refreshes by itself." }
        section.cards {
            div.card { h2 { "Dead-letter queue" } p.big { a href="/console/dlq" { (c.parked) } } p.muted { (c.in_doubt) " in doubt (replay refuses them)" } }
            div.card {
                h2 { "Waiting for a worker" } p.big { (c.waiting_by_state.values().sum::<u64>()) }
                h2 { "OMT attempts never answered" }
                p.big { (omt_stale) }
                p.muted { "sent over " (cashout_store::OMT_STALE_AFTER.as_secs()) " s ago (" (omt_attempts) " without an answer yet, on " (omt.len()) " accounts, calls in flight included); the lockout guard counts them until OMT answers or an operator clears them ("
                    code { "cashout dlq omt-reservations" } ")" }
            }
            div.card {
                h2 { "Last hour, per 5 minutes" }
                (chart(&hour))
                @let finished: u64 = hour.iter().map(Outcomes::finished_total).sum();
                @let failed: u64 = hour.iter().map(|o| o.in_state(CashoutState::Failed)).sum();
                @let parked: u64 = hour.iter().map(Outcomes::parked_total).sum();
                p.muted {
                    (finished) " finished (" (per_minute(finished)) "/min), failure rate " (rate(failed, finished))
                    ", " (parked) " parked"
                }
                p.legend { span.confirmed { "confirmed" } " " span.failed { "failed" } " " span.revoked { "revoked" } " " span.parked { "parked" } }
            }
        }
        @if !c.complete { p.error { "The DLQ is larger than " (scan::MAX_COUNT) ": counts cover its oldest entries only." } }
        h2 { "Cashouts by state and provider (not finished)" }
        table.grid {
            thead { tr { th { "provider" } th { "state" } th { "waiting" } th { "parked" } } }
            tbody {
                @for p in Provider::ALL {
                    @for st in ["created", "submitted", "unreadable"] {
                        @let w = c.waiting_by_state.get(&(p.as_str(), st)).copied().unwrap_or(0);
                        @let k = c.parked_by_state.get(&(p.as_str(), st)).copied().unwrap_or(0);
                        @if w + k > 0 || st != "unreadable" {
                            tr { td { (p.as_str()) } td { (badge(st)) } td.num { (w) } td.num { (k) } }
                        }
                    }
                }
            }
        }
        h2 { "Dead-letter queue by reason" }
        (reason_table(&c, &Filter::default()))
        h2 { "Queues" }
        table.grid {
            thead { tr { th { "provider" } th { "on the stream" } th { "due or delivered" } th { "oldest overdue" } th { "workers alive" } } }
            tbody {
                @for qi in &q {
                    tr {
                        td { (qi.provider.as_str()) }
                        td.num { (qi.depth) }
                        td.num { (qi.due) }
                        td.num { @match qi.oldest_overdue { Some(s) => (html::span(s)), None => "—" } }
                        td.num { (qi.workers.iter().filter(|w| w.idle_ms < 60_000).count()) }
                    }
                }
            }
        }
        h2 { "Workers" }
        p.muted { "Each worker reads its provider's stream at least every few seconds; its last read is its heartbeat." }
        table.grid {
            thead { tr { th { "provider" } th { "consumer" } th { "last read" } th { "deliveries held" } th { "alive" } } }
            tbody {
                @for qi in &q {
                    @for w in &qi.workers {
                        tr {
                            td { (qi.provider.as_str()) }
                            td { code { (w.name) } }
                            td { (html::ago(w.idle_ms / 1000)) }
                            td.num { (w.pending) }
                            td { @if w.idle_ms < 60_000 { (badge("alive")) } @else { (badge("silent")) } }
                        }
                    }
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        page(
            "Overview",
            Some(&s),
            flash.as_deref(),
            refresh(&state),
            body,
        ),
    )
}

fn reason_table(c: &Counts, f: &Filter) -> Markup {
    html! {
        table.grid.reasons {
            thead { tr { th { "reason" } th { "count" } @for p in Provider::ALL { th { (p.as_str()) } } } }
            tbody {
                @for r in REASONS {
                    @let n = c.by_reason.get(r.as_str()).copied().unwrap_or(0);
                    @if n > 0 {
                        tr {
                            td { a href=(dlq_url(&Filter { reason: Some(r), ..f.clone() }, None)) { (r.as_str()) } }
                            td.num { (n) }
                            @for p in Provider::ALL {
                                td.num { (c.by_reason_provider.get(&(r.as_str(), p.as_str())).copied().unwrap_or(0)) }
                            }
                        }
                    }
                }
                @if c.by_reason.is_empty() { tr { td colspan="5" { "The dead-letter queue is empty." } } }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The dead-letter queue

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DlqQuery {
    provider: Option<String>,
    reason: Option<String>,
    since: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The filter a query asks for, or the first problem with it.
fn filter_of(q: &DlqQuery, now: DateTime<Utc>) -> Result<Filter, String> {
    let provider = non_empty(&q.provider)
        .map(str::parse::<Provider>)
        .transpose()
        .map_err(|e| format!("provider: {e}"))?;
    let reason = non_empty(&q.reason)
        .map(|r| serde_json::from_value::<ParkReason>(serde_json::Value::String(r.to_owned())))
        .transpose()
        .map_err(|_| "reason: unknown park reason".to_owned())?;
    let since = non_empty(&q.since)
        .map(|s| crate::admin::parse_since(s, now))
        .transpose()
        .map_err(|e| format!("since: {e}"))?;
    let text = non_empty(&q.q).map(|t| t.chars().take(100).collect::<String>().to_lowercase());
    Ok(Filter {
        provider,
        reason,
        since,
        text,
    })
}

/// Query string of a filter (the `since` as the RFC 3339 time it resolved to).
fn filter_query(f: &Filter) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    if let Some(p) = f.provider {
        q.push(("provider", p.as_str().to_owned()));
    }
    if let Some(r) = f.reason {
        q.push(("reason", r.as_str().to_owned()));
    }
    if let Some(s) = f.since {
        q.push((
            "since",
            s.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ));
    }
    if let Some(t) = &f.text {
        q.push(("q", t.clone()));
    }
    q
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn dlq_url(f: &Filter, cursor: Option<&str>) -> String {
    url_with("/console/dlq", f, cursor)
}

fn url_with(path: &str, f: &Filter, cursor: Option<&str>) -> String {
    let mut parts: Vec<String> = filter_query(f)
        .into_iter()
        .map(|(k, v)| format!("{k}={}", encode(&v)))
        .collect();
    if let Some(c) = cursor {
        parts.push(format!("cursor={}", encode(c)));
    }
    if parts.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", parts.join("&"))
    }
}

fn filter_form(q: &DlqQuery) -> Markup {
    let sel = |v: &Option<String>, w: &str| non_empty(v) == Some(w);
    html! {
        form.filters method="get" action="/console/dlq" {
            label { "provider "
                select name="provider" {
                    option value="" { "any" }
                    @for p in Provider::ALL { option value=(p.as_str()) selected[sel(&q.provider, p.as_str())] { (p.as_str()) } }
                }
            }
            label { "reason "
                select name="reason" {
                    option value="" { "any" }
                    @for r in REASONS { option value=(r.as_str()) selected[sel(&q.reason, r.as_str())] { (r.as_str()) } }
                }
            }
            label { "since " input type="text" name="since" placeholder="2h, 7d or RFC 3339" value=(non_empty(&q.since).unwrap_or("")) size="14"; }
            label { "text " input type="search" name="q" placeholder="id, key, last error, provider ref" value=(non_empty(&q.q).unwrap_or("")); }
            button type="submit" { "Filter" }
            a href="/console/dlq" { "clear" }
        }
    }
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n).collect();
        t.push('…');
        t
    }
}

fn rows_table(rows: &[Row], now: DateTime<Utc>) -> Markup {
    html! {
        table.grid.dlq {
            thead { tr { th { "cashout" } th { "provider" } th { "reason" } th { "state" } th { "parked" } th { "attempts" } th { "last error" } } }
            tbody {
                @for r in rows {
                    tr data-id=(r.id) {
                        td { a href={"/console/cashouts/" (r.id)} { code { (r.id) } } br; span.muted { (r.idempotency_key) } }
                        td { (provider_word(r.provider)) }
                        td { span.reason { (r.reason.as_str()) } @if r.in_doubt { " " span.badge.doubt title="replay refuses it: check with the provider, then resolve" { "in doubt" } } }
                        td { (badge(r.state.map_or("unreadable", |s| s.as_str()))) }
                        td { @if let Some(t) = dlq::at_ms(r.parked_ms) { (when(t, now)) } }
                        td.num { (r.attempts) }
                        td.err { (short(&r.last_error, 160)) }
                    }
                }
            }
        }
    }
}

pub(crate) async fn dlq(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<DlqQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let s = match logged_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let now = Utc::now();
    let flash = flash(&state, &s).await;
    let (filter, problem) = match filter_of(&q, now) {
        Ok(f) => (f, None),
        Err(e) => (Filter::default(), Some(e)),
    };
    let cursor = non_empty(&q.cursor).and_then(scan::parse_cursor);
    let store = state.producer.store();
    let (p, c) = match (
        scan::page(store, &filter, cursor.clone(), 50).await,
        counts(&state).await,
    ) {
        (Ok(p), Ok(c)) => (p, c),
        (Err(e), _) | (_, Err(e)) => return unavailable(&e),
    };
    let body = html! {
        h1 { "Dead-letter queue" }
        p.muted { (c.parked) " parked · " (c.in_doubt) " in doubt · oldest first" }
        (filter_form(&q))
        @if let Some(e) = &problem { p.error role="alert" { (e) } }
        details open[filter.is_empty()] {
            summary { "By reason" }
            (reason_table(&c, &filter))
        }
        @if p.rows.is_empty() {
            p.empty { @if p.cut_short { "Nothing among the entries searched so far; " a href=(dlq_url(&filter, p.next_cursor.as_deref())) { "search further" } "." } @else { "Nothing parked matches." } }
        } @else {
            (rows_table(&p.rows, now))
        }
        nav.pager {
            @if cursor.is_some() { a href=(dlq_url(&filter, None)) { "« first page" } }
            @if let Some(n) = &p.next_cursor { a.next href=(dlq_url(&filter, Some(n))) { @if p.cut_short { "search further »" } @else { "next page »" } } }
        }
        @if problem.is_none() {
            p { a.button href=(url_with("/console/dlq/replay", &filter, None)) { "Replay everything matching this filter…" } }
        }
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    respond(
        status,
        page(
            "Dead-letter queue",
            Some(&s),
            flash.as_deref(),
            refresh(&state),
            body,
        ),
    )
}

/// What a bulk replay would take.
struct Selection {
    rows: Vec<Row>,
    complete: bool,
}

impl Selection {
    fn in_doubt(&self) -> usize {
        self.rows.iter().filter(|r| r.in_doubt).count()
    }
    fn unreadable(&self) -> usize {
        self.rows.iter().filter(|r| r.state.is_none()).count()
    }
}

fn confirm_page(
    s: &Session,
    q: &DlqQuery,
    f: &Filter,
    sel: &Selection,
    notice: Option<&str>,
) -> Markup {
    let n = sel.rows.len();
    let doubt = sel.in_doubt();
    let unreadable = sel.unreadable();
    page(
        "Confirm bulk replay",
        Some(s),
        notice,
        0,
        html! {
            h1 { "Replay everything matching" }
            p { "Filter: "
                @if f.is_empty() { "none (the whole dead-letter queue)" }
                @for (k, v) in filter_query(f) { code { (k) "=" (v) } " " }
            }
            p.big.confirm-count { strong { (n) } " parked cashouts match." }
            @if doubt > 0 {
                p.error { strong { (doubt) } " of them are in doubt and will be refused: "
                    (Replay::InDoubt.message()) }
            }
            @if unreadable > 0 { p.error { (unreadable) " cannot be read (corrupt_record) and will be refused: " (Replay::Corrupt.message()) } }
            @if !sel.complete { p.error { "Only the oldest " (scan::MAX_COUNT) " parked entries were searched." } }
            p { "Each one resumes from its recorded state: a submitted cashout resumes polling; nothing that may have been executed is sent again." }
            @if n > 0 {
                form method="post" action="/console/dlq/replay" {
                    (csrf(s))
                    input type="hidden" name="expected" value=(n);
                    @if let Some(v) = non_empty(&q.provider) { input type="hidden" name="provider" value=(v); }
                    @if let Some(v) = non_empty(&q.reason) { input type="hidden" name="reason" value=(v); }
                    @if let Some(t) = f.since { input type="hidden" name="since" value=(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)); }
                    @if let Some(v) = non_empty(&q.q) { input type="hidden" name="q" value=(v); }
                    label { "note " input type="text" name="note" size="50" placeholder="e.g. Camoo balance topped up"; }
                    button.danger type="submit" { "Replay " (n - doubt - unreadable) " cashouts" }
                }
            }
            p { a href=(dlq_url(f, None)) { "Back to the list" } }
        },
    )
}

async fn select(state: &AppState, f: &Filter) -> Result<Selection, StoreError> {
    let (rows, complete) = scan::all(state.producer.store(), f).await?;
    Ok(Selection { rows, complete })
}

pub(crate) async fn replay_confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<DlqQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let s = match logged_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let f = match filter_of(&q, Utc::now()) {
        Ok(f) => f,
        Err(e) => {
            return message_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid filter",
                Some(&s),
                &e,
            );
        }
    };
    match select(&state, &f).await {
        Ok(sel) => respond(StatusCode::OK, confirm_page(&s, &q, &f, &sel, None)),
        Err(e) => unavailable(&e),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct BulkForm {
    csrf: Option<String>,
    expected: Option<usize>,
    note: Option<String>,
    provider: Option<String>,
    reason: Option<String>,
    since: Option<String>,
    q: Option<String>,
}

pub(crate) async fn replay_bulk(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(b): Form<BulkForm>,
) -> Response {
    let s = match guard(&state, &headers, b.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = DlqQuery {
        provider: b.provider,
        reason: b.reason,
        since: b.since,
        q: b.q,
        cursor: None,
    };
    let f = match filter_of(&q, Utc::now()) {
        Ok(f) => f,
        Err(e) => {
            return message_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid filter",
                Some(&s),
                &e,
            );
        }
    };
    let sel = match select(&state, &f).await {
        Ok(sel) => sel,
        Err(e) => return unavailable(&e),
    };
    if Some(sel.rows.len()) != b.expected {
        let msg = format!(
            "The selection changed since you confirmed it: {} match now. Nothing was replayed; confirm again.",
            sel.rows.len()
        );
        return respond(
            StatusCode::CONFLICT,
            confirm_page(&s, &q, &f, &sel, Some(&msg)),
        );
    }
    let note = non_empty(&b.note);
    let mut results: Vec<(String, Replay)> = Vec::with_capacity(sel.rows.len());
    for r in &sel.rows {
        let Ok(id) = CashoutId::parse(&r.id) else {
            continue;
        };
        let outcome = match dlq::replay(&state.producer, &id, &s.operator, note).await {
            Ok(o) => o,
            Err(DlqError::Corrupt) => Replay::Corrupt,
            Err(DlqError::NotFound) => continue,
            Err(DlqError::Store(e)) => return unavailable(&e),
            Err(e) => {
                tracing::warn!(cashout_id = %id, error = %e, "console: replay refused");
                continue;
            }
        };
        results.push((r.id.clone(), outcome));
    }
    forget_counts(&state);
    let replayed = results
        .iter()
        .filter(|(_, o)| *o == Replay::Replayed)
        .count();
    tracing::info!(operator = %s.operator, count = results.len(), replayed, filter = ?filter_query(&f), "console: dlq bulk replay");
    let mut by_outcome: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (_, o) in &results {
        *by_outcome.entry(o.as_str()).or_default() += 1;
    }
    let body = html! {
        h1 { "Bulk replay done" }
        p.big.replayed-count { strong { (replayed) } " replayed of " (results.len()) " matching." }
        table.grid {
            thead { tr { th { "outcome" } th { "count" } } }
            tbody { @for (o, n) in &by_outcome { tr { td { (o) } td.num { (n) } } } }
        }
        @let refused: Vec<&(String, Replay)> = results.iter().filter(|(_, o)| *o != Replay::Replayed).collect();
        @if !refused.is_empty() {
            h2 { "Not replayed" }
            table.grid {
                thead { tr { th { "cashout" } th { "outcome" } th { "why" } } }
                tbody {
                    @for (id, o) in refused.iter().take(200) {
                        tr { td { a href={"/console/cashouts/" (id)} { code { (id) } } } td { (o.as_str()) } td { (o.message()) } }
                    }
                }
            }
        }
        p { a href="/console/dlq" { "Back to the dead-letter queue" } }
    };
    respond(StatusCode::OK, page("Bulk replay", Some(&s), None, 0, body))
}

// ---------------------------------------------------------------------------------------------
// A cashout

fn trace_link(state: &AppState, trace_id: &str) -> Option<String> {
    let t = state.console.config.trace_url_template.as_deref()?;
    if trace_id.is_empty() || !trace_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(t.replace("{trace_id}", trace_id))
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn timeline(history: &[cashout_core::HistoryEntry], now: DateTime<Utc>) -> Markup {
    html! {
        h2 { "Timeline" }
        ol.timeline {
            @for e in history {
                li class={"kind-" (format!("{:?}", e.kind).to_lowercase())} {
                    (when(e.at, now)) " "
                    span.kind { (format!("{:?}", e.kind).to_lowercase()) }
                    @if let (Some(f), Some(t)) = (e.from, e.to) { " " (badge(f.as_str())) " → " (badge(t.as_str())) }
                    @if e.attempt > 0 { " " span.muted { "attempt " (e.attempt) } }
                    div.cause { (e.cause) }
                }
            }
        }
    }
}

fn actions(s: &Session, c: &Cashout, driver: bool) -> Markup {
    let id = c.id.to_string();
    let terminal = c.state.is_terminal();
    let parked = c.parked.is_some();
    let in_doubt = c.in_doubt();
    let manual = c.order.provider == Provider::Omno && c.order.approval.is_manual() && !c.approved;
    html! {
        h2 { "Actions" }
        @if terminal { p.muted { "This cashout is " (c.state) ": nothing to do." } }
        @if parked && !terminal {
            form.action method="post" action={"/console/cashouts/" (id) "/replay"} {
                (csrf(s))
                input type="text" name="note" placeholder="note (optional)" size="40";
                button type="submit" name="do" value="replay" disabled[in_doubt] { "Replay" }
                @if in_doubt { span.error { " " (Replay::InDoubt.message()) } }
            }
            form.action method="post" action={"/console/cashouts/" (id) "/resolve"} {
                (csrf(s))
                input type="text" name="note" placeholder="note: what was checked, with whom (required)" size="40" required;
                button type="submit" name="as" value="confirmed" { "Resolve as confirmed" }
                button type="submit" name="as" value="failed" { "Resolve as failed" }
            }
            form.action method="post" action={"/console/cashouts/" (id) "/discard"} {
                (csrf(s))
                input type="text" name="note" placeholder="note (required)" size="40" required;
                button.danger type="submit" { "Discard (mark failed)" }
            }
        }
        @if !terminal && driver {
            form.action method="post" action={"/console/cashouts/" (id) "/revoke"} {
                (csrf(s))
                button.danger type="submit" { "Revoke" }
                span.muted { " created: without a provider call; OMT: at OMT; OMNO: rejects an unconfirmed payout; Camoo after submit: refused" }
            }
            @if manual {
                form.action method="post" action={"/console/cashouts/" (id) "/approve"} {
                    (csrf(s))
                    button type="submit" { "Approve (confirm at OMNO)" }
                }
            }
        }
    }
}

fn corrupt_page(
    s: &Session,
    r: &CorruptRecord,
    key: &str,
    history: &[cashout_core::HistoryEntry],
    flash: Option<&str>,
) -> Markup {
    let now = Utc::now();
    page(
        "Unreadable record",
        Some(s),
        flash,
        0,
        html! {
            h1 { "Cashout " code { (r.id) } " " (badge("unreadable")) }
            dl.fields {
                dt { "reason" } dd { (r.reason.as_str()) }
                dt { "provider" } dd { (provider_word(r.provider)) }
                dt { "parked" } dd { (when(r.at, now)) }
                dt { "why" } dd { (r.error) }
                dt { "record key" } dd { code { (key) } " (its bytes are not shown: they may hold personal data)" }
                @if let Some(by) = &r.discarded_by { dt { "discarded by" } dd { (by) } }
            }
            @if r.discarded_at.is_none() {
                h2 { "Actions" }
                form.action method="post" action={"/console/cashouts/" (r.id) "/discard"} {
                    (csrf(s))
                    input type="text" name="note" placeholder="note (required)" size="40" required;
                    button.danger type="submit" { "Discard" }
                }
            }
            (timeline(history, now))
        },
    )
}

pub(crate) async fn cashout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let s = match logged_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let not_found = |s: &Session| {
        message_page(
            StatusCode::NOT_FOUND,
            "Not found",
            Some(s),
            "no such cashout",
        )
    };
    let Ok(id) = CashoutId::parse(&id) else {
        return not_found(&s);
    };
    let store = state.producer.store();
    let flash = flash(&state, &s).await;
    let c = match store.get(&id).await {
        Ok(Some(c)) => c,
        Ok(None) => return not_found(&s),
        Err(StoreError::Corrupt { .. }) => {
            return match (store.corrupt(&id).await, store.history_lines(&id).await) {
                (Ok(Some(r)), Ok(h)) => respond(
                    StatusCode::OK,
                    corrupt_page(&s, &r, &store.keys().record(&id), &h, flash.as_deref()),
                ),
                (Ok(None), _) => message_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Unreadable",
                    Some(&s),
                    "the stored record of this cashout cannot be read",
                ),
                (Err(e), _) | (_, Err(e)) => unavailable(&e),
            };
        }
        Err(e) => return unavailable(&e),
    };
    let history = match store.history(&c).await {
        Ok(h) => h,
        Err(e) => return unavailable(&e),
    };
    // The API's view: secrets dropped, phone numbers masked.
    let v = CashoutView::new(&c, None);
    let now = Utc::now();
    let trace = trace_link(&state, &v.trace_id);
    let body = html! {
        h1 { "Cashout " code { (v.id) } " " (badge(v.state.as_str())) @if v.parked.is_some() { " " (badge("parked")) } }
        @if let Some(p) = &v.parked {
            section.parked {
                p { strong { "Parked: " span.reason { (p.reason.as_str()) } } " " (when(p.at, now)) }
                p { (p.detail) }
            }
        }
        dl.fields {
            dt { "idempotency key" } dd { code { (v.idempotency_key) } " (producer " (c.producer) ")" }
            dt { "provider" } dd { (v.provider.as_str()) }
            dt { "amount" } dd { (v.amount) " " (v.currency) span.muted { " (minor units)" } }
            dt { "recipient" } dd { pre { (pretty(&v.recipient)) } }
            @if let Some(m) = &v.metadata { dt { "metadata" } dd { pre { (pretty(m)) } } }
            dt { "external reference" } dd { code { (v.external_reference) } }
            dt { "provider reference" } dd { code { (v.provider_ref.as_deref().unwrap_or("—")) } }
            dt { "provider status" } dd { (v.provider_status.as_deref().unwrap_or("—")) }
            dt { "attempts" } dd { (v.attempts) }
            dt { "last error" } dd.err { (v.last_error.as_deref().unwrap_or("—")) }
            dt { "trace" } dd { code { (v.trace_id) } @if let Some(t) = &trace { " " a.trace href=(t) target="_blank" rel="noopener noreferrer" { "open trace" } } }
            dt { "created" } dd { (when(v.created_at, now)) }
            dt { "updated" } dd { (when(v.updated_at, now)) }
        }
        (actions(&s, &c, state.driver.is_some()))
        (timeline(&history, now))
    };
    respond(
        StatusCode::OK,
        page(
            &format!("Cashout {}", v.id),
            Some(&s),
            flash.as_deref(),
            0,
            body,
        ),
    )
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ActForm {
    csrf: Option<String>,
    note: Option<String>,
    #[serde(rename = "as")]
    resolution: Option<String>,
}

pub(crate) async fn act(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    Form(f): Form<ActForm>,
) -> Response {
    let s = match guard(&state, &headers, f.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(id) = CashoutId::parse(&id) else {
        return message_page(
            StatusCode::NOT_FOUND,
            "Not found",
            Some(&s),
            "no such cashout",
        );
    };
    let store = state.producer.store();
    let op = s.operator.as_str();
    let note = non_empty(&f.note);
    let refused = |e: &dyn std::fmt::Display| format!("{action} refused: {e}");
    let msg = match action.as_str() {
        "replay" => match dlq::replay(&state.producer, &id, op, note).await {
            Ok(r) => r.message(),
            Err(DlqError::Store(e)) => return unavailable(&e),
            Err(e) => refused(&e),
        },
        "resolve" => {
            let resolution = match f.resolution.as_deref() {
                Some("confirmed") => Resolution::Confirmed,
                Some("failed") => Resolution::Failed,
                _ => {
                    return message_page(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Invalid",
                        Some(&s),
                        "resolve as confirmed or failed",
                    );
                }
            };
            match dlq::resolve(store, &id, resolution, op, note.unwrap_or("")).await {
                Ok(c) => format!("resolved: {}", c.state),
                Err(DlqError::Store(e)) => return unavailable(&e),
                Err(e) => refused(&e),
            }
        }
        "discard" => match dlq::discard(store, &id, op, note.unwrap_or("")).await {
            Ok(_) => "discarded".to_owned(),
            Err(DlqError::Store(e)) => return unavailable(&e),
            Err(e) => refused(&e),
        },
        "revoke" | "approve" => {
            let Some(driver) = &state.driver else {
                return message_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Unavailable",
                    Some(&s),
                    "revoke and approve are not available on this API",
                );
            };
            let r = if action == "revoke" {
                driver.revoke_detached(id, op.to_owned()).await
            } else {
                driver.approve_detached(id, op.to_owned()).await
            };
            match r {
                Ok(c) => format!("{action}: now {}", c.state),
                Err(e) => refused(&e),
            }
        }
        _ => {
            return message_page(
                StatusCode::NOT_FOUND,
                "Not found",
                Some(&s),
                "no such action",
            );
        }
    };
    tracing::info!(cashout_id = %id, operator = %op, action = %action, outcome = %msg, "console action");
    forget_counts(&state);
    if let Err(e) = session::set_flash(store, &s, &msg).await {
        return unavailable(&e);
    }
    redirect(&format!("/console/cashouts/{id}"), None)
}

// ---------------------------------------------------------------------------------------------
// Search

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SearchQuery {
    q: Option<String>,
}

pub(crate) async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let s = match logged_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = q.ok().and_then(|Query(q)| q.q).unwrap_or_default();
    let q = q.trim();
    if q.is_empty() {
        return redirect("/console/dlq", None);
    }
    let store = state.producer.store();
    // An id.
    if let Ok(id) = CashoutId::parse(q) {
        match store.get(&id).await {
            Ok(Some(_)) | Err(StoreError::Corrupt { .. }) => {
                return redirect(&format!("/console/cashouts/{id}"), None);
            }
            Ok(None) => {}
            Err(e) => return unavailable(&e),
        }
    }
    // An idempotency key of any producer we know (each token's name, and the CLI's default).
    let mut found: Vec<(String, CashoutId)> = Vec::new();
    if let Ok(key) = IdempotencyKey::parse(q) {
        let mut names: Vec<String> = state
            .tokens
            .iter()
            .chain(state.admin_tokens.iter())
            .map(|t| t.name.clone())
            .collect();
        names.push("local".to_owned());
        names.sort();
        names.dedup();
        for n in names {
            let Ok(p) = ProducerName::parse(&n) else {
                continue;
            };
            match store.find_by_key(&p, &key).await {
                Ok(Some(id)) => found.push((n, id)),
                Ok(None) => {}
                Err(e) => return unavailable(&e),
            }
        }
    }
    if let [(_, id)] = found.as_slice() {
        return redirect(&format!("/console/cashouts/{id}"), None);
    }
    // A provider reference or any text: parked cashouts.
    let f = Filter {
        text: Some(q.chars().take(100).collect::<String>().to_lowercase()),
        ..Filter::default()
    };
    let p = match scan::page(store, &f, None, 50).await {
        Ok(p) => p,
        Err(e) => return unavailable(&e),
    };
    if found.is_empty()
        && let [r] = p.rows.as_slice()
    {
        return redirect(&format!("/console/cashouts/{}", r.id), None);
    }
    let now = Utc::now();
    let body = html! {
        h1 { "Search: " code { (q) } }
        @if !found.is_empty() {
            h2 { "By idempotency key" }
            ul { @for (n, id) in &found { li { a href={"/console/cashouts/" (id)} { code { (id) } } " (producer " (n) ")" } } }
        }
        h2 { "In the dead-letter queue (id, key, last error, provider reference)" }
        @if p.rows.is_empty() { p.empty { "No parked cashout matches." } } @else { (rows_table(&p.rows, now)) }
        @if p.next_cursor.is_some() { p { a href=(dlq_url(&f, p.next_cursor.as_deref())) { "more »" } } }
        p.muted { "A provider reference is found for parked cashouts; for others search by id or idempotency key." }
    };
    respond(StatusCode::OK, page("Search", Some(&s), None, 0, body))
}

// ---------------------------------------------------------------------------------------------
// Assets

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

pub(crate) async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

pub(crate) async fn js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn forms_from_another_site_are_refused() {
        assert!(same_origin(&headers(&[("host", "ops.example:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "ops.example:8080"),
            ("origin", "https://ops.example:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "ops.example:8080"),
            ("origin", "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "ops.example:8080"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(same_origin(&headers(&[
            ("host", "ops.example:8080"),
            ("sec-fetch-site", "same-origin")
        ])));
    }

    #[test]
    fn filters_read_and_round_trip() {
        let now = Utc::now();
        let q = DlqQuery {
            provider: Some("camoo".into()),
            reason: Some("insufficient_funds".into()),
            since: Some("2h".into()),
            q: Some("  Order-42 ".into()),
            cursor: None,
        };
        let f = filter_of(&q, now).unwrap();
        assert_eq!(f.provider, Some(Provider::Camoo));
        assert_eq!(f.reason, Some(ParkReason::InsufficientFunds));
        assert_eq!(f.since, Some(now - TimeDelta::hours(2)));
        assert_eq!(f.text.as_deref(), Some("order-42"));
        let url = dlq_url(&f, None);
        assert!(
            url.starts_with("/console/dlq?provider=camoo&reason=insufficient%5Ffunds"),
            "{url}"
        );
        for bad in [
            DlqQuery {
                provider: Some("paypal".into()),
                ..DlqQuery::default()
            },
            DlqQuery {
                reason: Some("bored".into()),
                ..DlqQuery::default()
            },
            DlqQuery {
                since: Some("soon".into()),
                ..DlqQuery::default()
            },
        ] {
            assert!(filter_of(&bad, now).is_err(), "{bad:?}");
        }
        let empty = DlqQuery {
            provider: Some(" ".into()),
            ..DlqQuery::default()
        };
        assert!(filter_of(&empty, now).unwrap().is_empty());
    }

    #[test]
    fn trace_links_only_carry_hex_ids() {
        let t = "http://jaeger:16686/trace/{trace_id}";
        let ok = |id: &str| id.bytes().all(|b| b.is_ascii_hexdigit()) && !id.is_empty();
        assert!(ok("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(!ok("\"><script>"));
        assert_eq!(
            t.replace("{trace_id}", "ab"),
            "http://jaeger:16686/trace/ab"
        );
    }

    #[test]
    fn the_chart_stacks_outcomes_and_scales_to_the_largest_span() {
        let span = |ok: u64, failed: u64, parked: u64| {
            let mut o = Outcomes::default();
            o.finished
                .insert((Provider::Camoo, CashoutState::Confirmed), ok);
            o.finished
                .insert((Provider::Camoo, CashoutState::Failed), failed);
            o.parked.insert(Provider::Camoo, parked);
            o
        };
        let svg = chart(&[span(0, 0, 0), span(5, 0, 0), span(6, 3, 1)]).into_string();
        // An empty span gets a baseline; the others one rect per non-zero part.
        assert_eq!(svg.matches("<rect").count(), 1 + 1 + 3, "{svg}");
        assert!(svg.contains("class=\"failed\""), "{svg}");
        assert!(svg.contains("height=\"36\""), "6 of 10 is 36 of 60: {svg}");
        assert_eq!(rate(3, 9), "33.3 %");
        assert_eq!(rate(0, 0), "—");
        assert_eq!(per_minute(4), "0.1");
        assert_eq!(per_minute(300), "5.0");
    }
}
