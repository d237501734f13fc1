//! The audit after a run, and its report.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use cashout_core::{Cashout, CashoutId, Event, HistoryEntry, HistoryKind, State, transition};
use cashout_sandbox::{AuditEntry, AuditLog};
use futures::StreamExt;
use serde_json::Value;

use crate::plan::Plan;
use crate::proxy::Proxy;
use crate::{Run, log_files, refused};

pub(crate) struct Inputs<'a> {
    pub run: &'a Run,
    pub plan: &'a Plan,
    pub store: &'a cashout_store::Store,
    pub audit: &'a AuditLog,
    pub accepted: &'a [(String, String)],
    pub proxy: &'a Proxy,
    pub logs: &'a Path,
    pub events: Vec<String>,
    pub worker_kills: u32,
    pub unexpected_exits: u32,
    pub fault_window: Duration,
    pub settled_at: Option<Duration>,
    pub elapsed: Duration,
}

/// The figures of a run. [`Report::failures`] names every figure that must be zero and is not.
#[derive(Debug, Default)]
pub struct Report {
    /// Orders in the plan.
    pub orders: usize,
    /// Orders the API accepted (202 or 200).
    pub accepted: usize,
    /// Final answers of `POST /v1/cashouts` by status.
    pub post_statuses: BTreeMap<u16, u64>,
    /// Posts retried (transport error, 5xx, 429).
    pub post_retries: u64,
    /// Orders never accepted within the posting bound.
    pub post_given_up: u64,
    /// Idempotency keys answered with more than one cashout id.
    pub keys_with_two_cashouts: usize,
    /// **Lost**: accepted, but neither terminal nor parked (or no record at all).
    pub lost: usize,
    /// **Paid twice**: cashouts (or keys) with more than one payout in the sandbox audit.
    pub paid_twice: usize,
    /// **Failed or revoked but paid**: the record says failed/revoked, the provider paid.
    pub refused_but_paid: usize,
    /// **OMT accounts locked by automation** (the driver never locks one).
    pub omt_locked: usize,
    /// Confirmed by us without any payout at the provider.
    pub confirmed_unpaid: usize,
    /// Final states.
    pub states: BTreeMap<String, usize>,
    /// Parked, by provider and reason.
    pub parked: BTreeMap<String, usize>,
    /// Illegal history (a transition outside the table, out of order, after a terminal state,
    /// no single `created` line), with examples.
    pub illegal_history: usize,
    /// Transitions recorded twice.
    pub duplicated_history: usize,
    /// A few examples of history problems.
    pub history_examples: Vec<String>,
    /// OMT: the most failed attempts an account had at OMT at the end, and the sum of failed
    /// attempts OMT counted.
    pub omt_max_failed: u64,
    /// Wrong-OTP orders and how they ended.
    pub wrong_otp_outcomes: BTreeMap<String, usize>,
    /// Payouts executed by the sandbox, and those of no accepted cashout.
    pub payouts: usize,
    /// Payouts whose reference is no accepted cashout's.
    pub payouts_unknown: usize,
    /// Secrets, OTPs and full phone numbers found in the logs, by kind.
    pub leaks: BTreeMap<String, usize>,
    /// Examples of leaks (the matching value masked).
    pub leak_examples: Vec<String>,
    /// Log files and bytes searched.
    pub logs_searched: (usize, u64),
    /// Proxy rows: operation, requests, resets, drops, delays.
    pub proxy: Vec<(&'static str, [u64; 4])>,
    /// Worker kills.
    pub worker_kills: u32,
    /// Processes that exited by themselves and were restarted.
    pub unexpected_exits: u32,
    /// Kills of the API and Redis, with times.
    pub events: Vec<String>,
    /// Manual OMNO actions that never went through.
    pub manual_failed: u64,
    /// Answers to the driver's approve and revoke calls, by action, status and code.
    pub manual_answers: BTreeMap<String, u64>,
    /// From the first post to the last fault.
    pub fault_window: Duration,
    /// From the last fault until every accepted cashout was terminal or parked.
    pub settle_time: Option<Duration>,
    /// Whole run.
    pub elapsed: Duration,
    /// Where the logs and Redis data of the run are (removed after a passing run unless
    /// `ChaosConfig::dir` was given).
    pub dir: std::path::PathBuf,
}

impl Report {
    /// The figures that must be zero and are not (empty: the run passed).
    pub fn failures(&self) -> Vec<String> {
        let mut f = Vec::new();
        let mut check = |n: usize, what: &str| {
            if n > 0 {
                f.push(format!("{n} {what}"));
            }
        };
        check(self.lost, "lost");
        check(self.paid_twice, "paid twice");
        check(self.refused_but_paid, "failed or revoked but paid");
        check(self.omt_locked, "OMT accounts locked by automation");
        check(self.confirmed_unpaid, "confirmed without a payout");
        check(self.keys_with_two_cashouts, "keys with two cashouts");
        check(self.illegal_history, "illegal histories");
        check(self.duplicated_history, "duplicated history entries");
        check(
            self.leaks.values().sum(),
            "secrets or personal data in logs",
        );
        if self.settle_time.is_none() {
            f.push("did not settle within the bound".to_owned());
        }
        f
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "chaos report")?;
        writeln!(
            f,
            "  orders {}, accepted {} (answers {:?}; {} posts retried, {} given up)",
            self.orders, self.accepted, self.post_statuses, self.post_retries, self.post_given_up
        )?;
        writeln!(f, "  faults:")?;
        writeln!(
            f,
            "    worker kill -9: {}; unexpected exits: {}",
            self.worker_kills, self.unexpected_exits
        )?;
        for e in &self.events {
            writeln!(f, "    {e}")?;
        }
        for (op, n) in &self.proxy {
            writeln!(
                f,
                "    proxy {op:<13} {:>6} requests: {:>4} reset, {:>4} dropped, {:>4} delayed",
                n[0], n[1], n[2], n[3]
            )?;
        }
        writeln!(f, "  MUST BE ZERO")?;
        writeln!(f, "    lost:                              {}", self.lost)?;
        writeln!(
            f,
            "    paid twice:                        {}",
            self.paid_twice
        )?;
        writeln!(
            f,
            "    failed or revoked but paid:        {}",
            self.refused_but_paid
        )?;
        writeln!(
            f,
            "    OMT accounts locked by automation: {}",
            self.omt_locked
        )?;
        writeln!(
            f,
            "    confirmed without a payout:        {}",
            self.confirmed_unpaid
        )?;
        writeln!(
            f,
            "    keys with two cashouts:            {}",
            self.keys_with_two_cashouts
        )?;
        writeln!(
            f,
            "    illegal / duplicated history:      {} / {}",
            self.illegal_history, self.duplicated_history
        )?;
        writeln!(
            f,
            "    secrets, OTPs, phones in logs:     {} ({:?}; {} files, {} MB searched)",
            self.leaks.values().sum::<usize>(),
            self.leaks,
            self.logs_searched.0,
            self.logs_searched.1 / 1_000_000
        )?;
        for e in self.history_examples.iter().chain(&self.leak_examples) {
            writeln!(f, "      e.g. {e}")?;
        }
        writeln!(f, "  states: {:?}", self.states)?;
        writeln!(f, "  parked by provider/reason: {:?}", self.parked)?;
        writeln!(f, "  wrong-OTP orders ended: {:?}", self.wrong_otp_outcomes)?;
        writeln!(f, "  approve/revoke answers: {:?}", self.manual_answers)?;
        writeln!(
            f,
            "  OMT: most failed attempts on one account at the end: {}",
            self.omt_max_failed
        )?;
        writeln!(
            f,
            "  payouts: {} ({} of no accepted cashout); manual OMNO actions not done: {}",
            self.payouts, self.payouts_unknown, self.manual_failed
        )?;
        writeln!(
            f,
            "  fault window {:.1}s; settle time after the last fault: {}; whole run {:.1}s",
            self.fault_window.as_secs_f64(),
            self.settle_time
                .map_or("NOT SETTLED".to_owned(), |d| format!(
                    "{:.1}s",
                    d.as_secs_f64()
                )),
            self.elapsed.as_secs_f64()
        )?;
        let failures = self.failures();
        if failures.is_empty() {
            writeln!(f, "  PASS")
        } else {
            writeln!(f, "  logs and Redis data kept in {}", self.dir.display())?;
            writeln!(f, "  FAIL: {}", failures.join(", "))
        }
    }
}

/// The transition recorded by a history line, checked against the core table: `Some(event)`
/// whose decision is exactly `from → to`.
fn legal(from: State, to: State) -> bool {
    Event::ALL.iter().any(|e| {
        matches!(transition(from, *e), Ok(cashout_core::Decision::Apply { from: f, to: t }) if f == from && t == to)
    })
}

/// Problems in one history: illegal lines, duplicated transitions.
fn check_history(c: &Cashout, history: &[HistoryEntry]) -> (Vec<String>, usize) {
    let mut illegal = Vec::new();
    let created = history
        .iter()
        .filter(|e| e.kind == HistoryKind::Created)
        .count();
    if created != 1 {
        illegal.push(format!("{} `created` lines", created));
    }
    if history
        .first()
        .is_some_and(|e| e.kind != HistoryKind::Created)
    {
        illegal.push("history does not start with `created`".to_owned());
    }
    let mut state = State::Created;
    let mut seen = HashSet::new();
    let mut duplicated = 0;
    let mut last_at = None;
    for e in history {
        if last_at.is_some_and(|t| e.at < t) {
            illegal.push(format!("line at {} before the previous one", e.at));
        }
        last_at = Some(e.at);
        if e.kind != HistoryKind::Transition {
            continue;
        }
        let (Some(from), Some(to)) = (e.from, e.to) else {
            illegal.push("transition without from/to".to_owned());
            continue;
        };
        if !seen.insert((from, to)) {
            duplicated += 1;
            continue;
        }
        if from != state {
            illegal.push(format!("{from} → {to} while {state}"));
        }
        if !legal(from, to) {
            illegal.push(format!("{from} → {to} is not in the table"));
        }
        state = to;
    }
    if state != c.state {
        illegal.push(format!("history ends in {state}, record says {}", c.state));
    }
    (illegal, duplicated)
}

/// Whether a payout was money out at the end, by the provider's own view: Camoo's verify (a
/// `FAILED` payout gave the money back), OMNO's payout status (`DECLINED`/`FAILED`/`REJECTED`
/// paid nothing); an OMT `Cashout Success` is final.
async fn money_out(run: &Run, e: &AuditEntry) -> bool {
    let base = &run.sandbox_url;
    let status: Option<String> = match e.provider.as_str() {
        "camoo" => {
            let r = run
                .http
                .get(format!("{base}/camoo/v1/payment/verify"))
                .query(&[("id", e.provider_id.as_str())])
                .header("X-Api-Key", &run.secrets.camoo_key)
                .header("X-Api-Secret", &run.secrets.camoo_secret)
                .send()
                .await;
            match r {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|v| v["verify"]["status"].as_str().map(str::to_ascii_uppercase)),
                Err(_) => None,
            }
        }
        "omno" => {
            let r = run
                .http
                .get(format!("{base}/_admin/omno/payouts/{}", e.provider_id))
                .send()
                .await;
            match r {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|v| v["status"].as_str().map(str::to_owned)),
                Err(_) => None,
            }
        }
        _ => return true,
    };
    // Unknown: count it as money out (the strict reading).
    !matches!(
        status.as_deref(),
        Some("FAILED" | "ERRORED" | "CANCELED" | "DECLINED" | "REJECTED" | "TIMEOUT")
    )
}

/// Digit-only tokens (maximal runs of letters and digits that are all digits) of a text.
fn digit_tokens(text: &str, out: &mut HashMap<String, usize>) {
    for token in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        if token.len() >= 4 && token.bytes().all(|b| b.is_ascii_digit()) {
            *out.entry(token.to_owned()).or_default() += 1;
        }
    }
}

fn mask(s: &str) -> String {
    let keep: String = s
        .chars()
        .rev()
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{keep} ({} chars)", s.chars().count())
}

/// A record and its history.
type Loaded = (Cashout, Vec<HistoryEntry>);

pub(crate) async fn audit(i: Inputs<'_>) -> Result<Report> {
    let posted = i.run.posted.lock().await;
    let mut r = Report {
        orders: i.plan.orders.len(),
        accepted: posted.ids.len(),
        post_statuses: posted.statuses.clone(),
        post_retries: posted.retries,
        post_given_up: posted.given_up,
        keys_with_two_cashouts: posted.ids.values().filter(|v| v.len() > 1).count(),
        manual_failed: posted.manual_failed,
        manual_answers: posted.manual_answers.clone(),
        proxy: i.proxy.stats.rows(),
        worker_kills: i.worker_kills,
        unexpected_exits: i.unexpected_exits,
        events: i.events,
        fault_window: i.fault_window,
        settle_time: i.settled_at,
        elapsed: i.elapsed,
        dir: i.logs.parent().map(Path::to_path_buf).unwrap_or_default(),
        ..Report::default()
    };
    drop(posted);

    // The records and their histories.
    let loaded: Vec<(String, Option<Loaded>)> = futures::stream::iter(i.accepted.iter())
        .map(|(key, id)| async move {
            let Ok(cid) = CashoutId::parse(id) else {
                return (key.clone(), None);
            };
            let Ok(Some(c)) = i.store.get(&cid).await else {
                return (key.clone(), None);
            };
            let h = i.store.history(&c).await.unwrap_or_default();
            (key.clone(), Some((c, h)))
        })
        .buffer_unordered(64)
        .collect()
        .await;

    let entries = i.audit.entries();
    r.payouts = entries.len();
    let mut by_ref: HashMap<&str, Vec<&AuditEntry>> = HashMap::new();
    for e in &entries {
        if let Some(x) = e.external_reference.as_deref() {
            by_ref.entry(x).or_default().push(e);
        }
    }
    let wrong: HashSet<&str> = i
        .plan
        .orders
        .iter()
        .filter(|o| o.wrong_otp)
        .map(|o| o.key.as_str())
        .collect();
    let mut refs_of_key: HashMap<&str, usize> = HashMap::new();
    let mut known_refs = HashSet::new();
    for (key, loaded) in &loaded {
        let Some((c, history)) = loaded else {
            r.lost += 1;
            continue;
        };
        known_refs.insert(c.external_reference.as_str());
        let settled = c.state.is_terminal() || c.parked.is_some();
        if !settled {
            r.lost += 1;
        }
        *r.states.entry(c.state.to_string()).or_default() += 1;
        if let Some(p) = &c.parked {
            *r.parked
                .entry(format!("{}/{}", c.order.provider, p.reason.as_str()))
                .or_default() += 1;
        }
        if wrong.contains(key.as_str()) {
            let end = c.parked.as_ref().map_or(c.state.to_string(), |p| {
                format!("parked {}", p.reason.as_str())
            });
            *r.wrong_otp_outcomes.entry(end).or_default() += 1;
        }
        let payouts = by_ref
            .get(c.external_reference.as_str())
            .map_or(&[][..], Vec::as_slice);
        *refs_of_key.entry(key.as_str()).or_default() += payouts.len();
        if payouts.len() > 1 {
            r.paid_twice += 1;
        }
        if refused(c.state) {
            for p in payouts {
                if money_out(i.run, p).await {
                    r.refused_but_paid += 1;
                }
            }
        }
        if c.state == State::Confirmed && payouts.is_empty() {
            r.confirmed_unpaid += 1;
        }
        let (illegal, dup) = check_history(c, history);
        if !illegal.is_empty() {
            r.illegal_history += 1;
            if r.history_examples.len() < 5 {
                r.history_examples
                    .push(format!("{}: {}", c.id, illegal.join("; ")));
            }
        }
        r.duplicated_history += dup;
    }
    // Two cashouts under one key, each paid once, are paid twice too.
    r.paid_twice += refs_of_key
        .iter()
        .filter(|(k, n)| **n > 1 && i.accepted.iter().filter(|(key, _)| key == *k).count() > 1)
        .count();
    r.payouts_unknown = entries
        .iter()
        .filter(|e| {
            !e.external_reference
                .as_deref()
                .is_some_and(|x| known_refs.contains(x))
        })
        .count();

    // OMT accounts at the sandbox.
    let views: Vec<Option<Value>> = futures::stream::iter(i.plan.omt_accounts.iter())
        .map(|a| async move {
            let r = i
                .run
                .http
                .get(format!("{}/_admin/omt/accounts/{a}", i.run.sandbox_url))
                .send()
                .await
                .ok()?;
            r.json().await.ok()
        })
        .buffer_unordered(32)
        .collect()
        .await;
    for v in views.into_iter().flatten() {
        if !v["locked"].is_null() {
            r.omt_locked += 1;
        }
        r.omt_max_failed = r
            .omt_max_failed
            .max(v["failed_attempts"].as_u64().unwrap_or(0));
    }

    // The logs of every process incarnation.
    let secrets = i.run.secrets.all();
    let otps: HashSet<&str> = i.plan.otps.iter().map(String::as_str).collect();
    let phones: HashSet<&str> = i.plan.phones.iter().map(String::as_str).collect();
    for path in log_files(i.logs) {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        r.logs_searched.0 += 1;
        r.logs_searched.1 += bytes.len() as u64;
        let text = String::from_utf8_lossy(&bytes);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        for (kind, s) in &secrets {
            let n = text.matches(s).count();
            if n > 0 {
                *r.leaks.entry((*kind).to_owned()).or_default() += n;
                if r.leak_examples.len() < 5 {
                    r.leak_examples.push(format!("{kind} in {name}"));
                }
            }
        }
        let mut tokens = HashMap::new();
        digit_tokens(&text, &mut tokens);
        for (t, n) in tokens {
            let kind = if otps.contains(t.as_str()) {
                "otp"
            } else if phones.contains(t.as_str()) {
                "phone number"
            } else {
                continue;
            };
            *r.leaks.entry(kind.to_owned()).or_default() += n;
            if r.leak_examples.len() < 5 {
                r.leak_examples
                    .push(format!("{kind} {} in {name}", mask(&t)));
            }
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_tokens_skip_hex_and_short_runs() {
        let mut t = HashMap::new();
        digit_tokens(
            r#"{"otp":"12345678","id":"a12345678b","phone":"+237612345671","n":12}"#,
            &mut t,
        );
        assert!(t.contains_key("12345678"));
        assert!(t.contains_key("237612345671"));
        assert!(!t.keys().any(|k| k == "12"));
        assert_eq!(t.len(), 2, "{t:?}");
    }

    fn line(kind: HistoryKind, from: Option<State>, to: Option<State>, s: i64) -> HistoryEntry {
        HistoryEntry {
            at: chrono::DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default(),
            kind,
            from,
            to,
            cause: String::new(),
            attempt: 0,
            trace_id: String::new(),
        }
    }

    fn cashout(state: State) -> Cashout {
        let order = cashout_core::CashoutOrder::parse(&serde_json::json!({
            "idempotency_key": "k", "provider": "camoo", "amount": 100, "currency": "XAF",
            "recipient": {"phone_number": "+237612345671"}
        }))
        .map_err(|e| format!("{e:?}"))
        .unwrap_or_else(|e| panic!("{e}"));
        let mut c = Cashout::new(order, cashout_core::TraceId::generate(), chrono::Utc::now());
        c.state = state;
        c
    }

    #[test]
    fn histories_are_checked_against_the_table() {
        use HistoryKind::{Created, Note, Transition};
        use State::{Confirmed, Failed, Submitted};
        let created = line(Created, None, Some(State::Created), 0);
        let submit = line(Transition, Some(State::Created), Some(Submitted), 1);
        let confirm = line(Transition, Some(Submitted), Some(Confirmed), 2);
        let good = [
            created.clone(),
            submit.clone(),
            line(Note, None, None, 2),
            confirm.clone(),
        ];
        assert_eq!(check_history(&cashout(Confirmed), &good), (vec![], 0));
        // Twice the same transition.
        let twice = [
            created.clone(),
            submit.clone(),
            submit.clone(),
            confirm.clone(),
        ];
        assert_eq!(check_history(&cashout(Confirmed), &twice).1, 1);
        // Out of the table, out of order, out of step with the record, no `created` line.
        let skip = [
            created.clone(),
            line(Transition, Some(State::Created), Some(Confirmed), 1),
        ];
        assert!(!check_history(&cashout(Confirmed), &skip).0.is_empty());
        let after_final = [
            created.clone(),
            submit.clone(),
            confirm,
            line(Transition, Some(Confirmed), Some(Failed), 3),
        ];
        assert!(!check_history(&cashout(Failed), &after_final).0.is_empty());
        let late = [
            created.clone(),
            line(Transition, Some(State::Created), Some(Submitted), -5),
        ];
        assert!(!check_history(&cashout(Submitted), &late).0.is_empty());
        assert!(!check_history(&cashout(Submitted), &[created]).0.is_empty());
        assert!(!check_history(&cashout(Submitted), &[submit]).0.is_empty());
    }

    #[test]
    fn the_table_decides_legal_lines() {
        assert!(legal(State::Created, State::Submitted));
        assert!(legal(State::Submitted, State::Confirmed));
        assert!(legal(State::Created, State::Revoked));
        assert!(!legal(State::Confirmed, State::Failed));
        assert!(!legal(State::Created, State::Confirmed));
    }
}
