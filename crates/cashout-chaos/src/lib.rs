//! `make chaos`: the money rules under sustained faults, at volume, with real processes.
//!
//! A run starts a `redis-server` with AOF (`appendfsync always`) on a free port, the sandbox
//! (in this process, so its payout audit can be read directly) behind a fault-injecting proxy
//! ([`proxy`]), the real `cashout api` and `cashout worker` processes (their provider base URLs
//! point at the proxy), then posts the orders of a [`plan`] with concurrent clients that retry
//! with the same idempotency key until the API accepts (202 or 200). Meanwhile it `kill -9`s one
//! worker every few seconds and starts it again, `kill -9`s the API once and Redis once (both
//! restarted on the same port, Redis on the same data). Then it stops the faults, waits (bounded)
//! until every accepted cashout is terminal or parked, and audits: see [`Report`].

pub mod plan;
pub mod procs;
pub mod proxy;
mod report;

pub use report::Report;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cashout_core::{CashoutId, State};
use cashout_sandbox::{Sandbox, SandboxConfig};
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::plan::{Manual, Order, Plan};
use crate::procs::{Redis, Role, free_port};
use crate::proxy::{FaultMix, Proxy};

/// Knobs of a run. [`ChaosConfig::full`] is `make chaos`; [`ChaosConfig::short`] the bounded
/// version in `make test`.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    /// The `cashout` binary.
    pub cashout_bin: PathBuf,
    /// Cashouts to post.
    pub n: usize,
    /// Concurrent posting clients.
    pub clients: usize,
    /// Worker processes.
    pub workers: usize,
    /// `worker.concurrency` of each.
    pub worker_concurrency: usize,
    /// A worker is `kill -9`ed this often while the faults last.
    pub worker_kill_every: Duration,
    /// At most this many worker kills (`None`: until the faults end).
    pub worker_kills: Option<u32>,
    /// `kill -9` the API once, when this share of the orders is accepted (`None`: never).
    pub api_kill_at: Option<f64>,
    /// `kill -9` Redis once, when this share of the orders is accepted (`None`: never).
    pub redis_kill_at: Option<f64>,
    /// Redis' `appendfsync`: `always` (default: an acknowledged write is on disk) or
    /// `everysec` (acknowledged writes are in the kernel's page cache, which a `kill -9` of
    /// Redis does not lose; only a machine crash would).
    pub appendfsync: String,
    /// How long a killed API or Redis stays down.
    pub down_for: Duration,
    /// The proxy's faults.
    pub faults: FaultMix,
    /// Posts are spread evenly over this long (order `i` leaves no sooner than `i / n` of it),
    /// so that the kills and faults meet work in progress rather than an idle system.
    pub post_over: Duration,
    /// Faults last at least this long (and until every order is posted and every kill done).
    pub min_fault_window: Duration,
    /// The bound on settling after the faults stop.
    pub settle_limit: Duration,
    /// Every `contest_every`-th OMT account gets `wrong_per_contest` wrong OTPs with its right one.
    pub contest_every: usize,
    /// Wrong-OTP orders per contested account.
    pub wrong_per_contest: usize,
    /// Every `manual_every`-th OMNO order is `manual` (approved or revoked by the driver).
    pub manual_every: usize,
    /// Provider client timeouts (create and status), ms; the proxy's delay goes past them.
    pub client_timeout_ms: u64,
    /// `RUST_LOG` of the processes.
    pub log_level: String,
    /// Where logs and Redis data go (a fresh temporary directory when `None`).
    pub dir: Option<PathBuf>,
    /// Print progress lines.
    pub verbose: bool,
}

impl ChaosConfig {
    /// The full run: 5,000 cashouts, a worker killed every 4 s for at least a minute.
    pub fn full(cashout_bin: PathBuf) -> Self {
        Self {
            cashout_bin,
            n: 5_000,
            clients: 32,
            workers: 3,
            worker_concurrency: 32,
            worker_kill_every: Duration::from_secs(4),
            worker_kills: None,
            api_kill_at: Some(0.35),
            redis_kill_at: Some(0.65),
            appendfsync: "always".to_owned(),
            down_for: Duration::from_secs(2),
            faults: FaultMix {
                reset: 0.02,
                drop: 0.02,
                delay: 0.01,
                delay_ms: 2_500,
            },
            post_over: Duration::from_secs(80),
            min_fault_window: Duration::from_secs(0),
            settle_limit: Duration::from_secs(240),
            contest_every: 10,
            wrong_per_contest: 5,
            manual_every: 25,
            client_timeout_ms: 2_000,
            log_level: "debug".to_owned(),
            dir: None,
            verbose: true,
        }
    }

    /// The bounded run of `make test`: a few hundred cashouts, one worker kill, one API kill,
    /// one Redis kill, the same faults.
    pub fn short(cashout_bin: PathBuf) -> Self {
        Self {
            n: 300,
            clients: 16,
            worker_concurrency: 16,
            worker_kill_every: Duration::from_secs(3),
            worker_kills: Some(1),
            post_over: Duration::from_secs(6),
            api_kill_at: Some(0.3),
            redis_kill_at: Some(0.6),
            down_for: Duration::from_secs(1),
            min_fault_window: Duration::from_secs(0),
            settle_limit: Duration::from_secs(60),
            contest_every: 5,
            wrong_per_contest: 4,
            manual_every: 10,
            verbose: false,
            ..Self::full(cashout_bin)
        }
    }
}

/// Credentials of a run: random, so that finding one in a log means it leaked.
struct Secrets {
    camoo_key: String,
    camoo_secret: String,
    omt_password: String,
    omno_token: String,
    producer_token: String,
    admin_token: String,
}

impl Secrets {
    fn new() -> Self {
        let r = || uuid::Uuid::new_v4().simple().to_string();
        Self {
            camoo_key: format!("ck{}", r()),
            camoo_secret: format!("cs{}", r()),
            omt_password: format!("op{}", r()),
            omno_token: format!("ot{}", r()),
            producer_token: format!("pt{}", r()),
            admin_token: format!("at{}", r()),
        }
    }

    fn all(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("camoo api key", &self.camoo_key),
            ("camoo api secret", &self.camoo_secret),
            ("omt password", &self.omt_password),
            ("omno token", &self.omno_token),
            ("producer token", &self.producer_token),
            ("admin token", &self.admin_token),
        ]
    }
}

/// What the posting clients learnt.
#[derive(Default)]
struct Posted {
    /// key → cashout ids answered (more than one would be a broken idempotency).
    ids: HashMap<String, Vec<String>>,
    /// Answers by status (202, 200, and anything final that was not an acceptance).
    statuses: BTreeMap<u16, u64>,
    /// Transport errors and 5xx retried.
    retries: u64,
    /// Orders never accepted within the posting bound.
    given_up: u64,
    /// Manual OMNO actions that did not go through.
    manual_failed: u64,
    /// Answers to approve and revoke, by action, status and error code.
    manual_answers: BTreeMap<String, u64>,
}

const PRODUCER: &str = "chaos";

fn env_for(
    cfg: &ChaosConfig,
    s: &Secrets,
    redis_url: &str,
    proxy: &str,
    api_port: u16,
) -> Vec<(String, String)> {
    let t = cfg.client_timeout_ms.to_string();
    let env: Vec<(&str, String)> = vec![
        ("RUST_LOG", cfg.log_level.clone()),
        ("CASHOUT_LOG__FORMAT", "json".into()),
        ("CASHOUT_REDIS__URL", redis_url.into()),
        ("CASHOUT_REDIS__PREFIX", "chaos".into()),
        ("CASHOUT_REDIS__REDELIVER_AFTER_MS", "5000".into()),
        ("CASHOUT_API__LISTEN", format!("127.0.0.1:{api_port}")),
        (
            "CASHOUT_API__TOKENS",
            format!("{PRODUCER}:{}", s.producer_token),
        ),
        (
            "CASHOUT_API__ADMIN_TOKENS",
            format!("ops:{}", s.admin_token),
        ),
        (
            "CASHOUT_API__PUBLIC_URL",
            format!("http://127.0.0.1:{api_port}"),
        ),
        ("CASHOUT_API__NOTIFICATIONS__MIN_INTERVAL_MS", "200".into()),
        (
            "CASHOUT_WORKER__CONCURRENCY",
            cfg.worker_concurrency.to_string(),
        ),
        ("CASHOUT_WORKER__LEASE_MS", "3000".into()),
        ("CASHOUT_WORKER__METRICS_LISTEN", String::new()),
        ("CASHOUT_WORKER__QUEUE__CLAIM_IDLE_MS", "3000".into()),
        ("CASHOUT_WORKER__QUEUE__BLOCK_MS", "500".into()),
        ("CASHOUT_WORKER__MAX_RESTARTS", "100".into()),
        (
            "CASHOUT_PROVIDERS__CAMOO__BASE_URL",
            format!("{proxy}/camoo/v1/payment"),
        ),
        ("CASHOUT_PROVIDERS__CAMOO__API_KEY", s.camoo_key.clone()),
        (
            "CASHOUT_PROVIDERS__CAMOO__API_SECRET",
            s.camoo_secret.clone(),
        ),
        ("CASHOUT_PROVIDERS__OMT__BASE_URL", format!("{proxy}/omt")),
        ("CASHOUT_PROVIDERS__OMT__USERNAME", "chaos-omt".into()),
        ("CASHOUT_PROVIDERS__OMT__PASSWORD", s.omt_password.clone()),
        ("CASHOUT_PROVIDERS__OMNO__BASE_URL", format!("{proxy}/omno")),
        ("CASHOUT_PROVIDERS__OMNO__TOKEN", s.omno_token.clone()),
    ];
    let mut env: Vec<(String, String)> = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    for p in ["CAMOO", "OMT", "OMNO"] {
        for (k, v) in [
            ("TIMEOUTS__CREATE_MS", t.as_str()),
            ("TIMEOUTS__STATUS_MS", t.as_str()),
            ("TIMEOUTS__CONNECT_MS", "1000"),
            ("RETRY__FIRST_DELAY_MS", "200"),
            ("RETRY__MAX_DELAY_MS", "2000"),
            ("RETRY__MAX_ATTEMPTS", "8"),
            ("POLL__FIRST_DELAY_MS", "300"),
            ("POLL__MAX_DELAY_MS", "2000"),
            ("POLL__DEADLINE_SECS", "150"),
        ] {
            // OMT has no status call, hence no polling.
            if p != "OMT" || !k.starts_with("POLL") {
                env.push((format!("CASHOUT_PROVIDERS__{p}__{k}"), v.to_owned()));
            }
        }
    }
    env
}

struct Run {
    cfg: ChaosConfig,
    http: reqwest::Client,
    api_url: String,
    sandbox_url: String,
    secrets: Secrets,
    accepted: AtomicUsize,
    posting_done: AtomicBool,
    posted: Mutex<Posted>,
}

impl Run {
    fn say(&self, line: &str) {
        if self.cfg.verbose {
            println!("  {line}");
        }
    }

    /// Posts one order until the API accepts it (202 new, 200 existing) or refuses it (another
    /// 4xx), retrying transport errors and 5xx with the same key for at most two minutes.
    async fn post(&self, order: &Order) -> Option<String> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        loop {
            let r = self
                .http
                .post(format!("{}/v1/cashouts", self.api_url))
                .bearer_auth(&self.secrets.producer_token)
                .json(&order.body)
                .send()
                .await;
            let answer = match r {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    Some((status, body))
                }
                Err(_) => None,
            };
            match answer {
                Some((status @ (200 | 202), body)) => {
                    let id = body["id"].as_str().unwrap_or("").to_owned();
                    let mut p = self.posted.lock().await;
                    *p.statuses.entry(status).or_default() += 1;
                    let ids = p.ids.entry(order.key.clone()).or_default();
                    if !ids.contains(&id) {
                        ids.push(id.clone());
                    }
                    drop(p);
                    self.accepted.fetch_add(1, Ordering::SeqCst);
                    return Some(id);
                }
                Some((status, _)) if status < 500 && status != 429 && status != 408 => {
                    let mut p = self.posted.lock().await;
                    *p.statuses.entry(status).or_default() += 1;
                    return None;
                }
                _ => {
                    self.posted.lock().await.retries += 1;
                }
            }
            if started.elapsed() > Duration::from_secs(120) {
                self.posted.lock().await.given_up += 1;
                return None;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(1));
        }
    }

    /// Approves or revokes a manual OMNO cashout once it waits in `submitted`, retrying through
    /// faults, for at most three minutes.
    async fn act(&self, id: &str, action: Manual) {
        let path = match action {
            Manual::No => return,
            Manual::Approve => "approve",
            Manual::Revoke => "revoke",
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(180) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let view: Option<Value> = async {
                let r = self
                    .http
                    .get(format!("{}/v1/cashouts/{id}", self.api_url))
                    .bearer_auth(&self.secrets.producer_token)
                    .send()
                    .await
                    .ok()?;
                r.json().await.ok()
            }
            .await;
            let Some(view) = view else { continue };
            let state = view["state"].as_str().unwrap_or("");
            if matches!(state, "confirmed" | "failed" | "revoked") || !view["parked"].is_null() {
                return;
            }
            let acted = view["history"].as_array().is_some_and(|h| {
                h.iter()
                    .any(|e| e["kind"] == "operator" || e["kind"] == "confirm")
            });
            if acted || state != "submitted" {
                continue;
            }
            let answer = match self
                .http
                .post(format!("{}/v1/cashouts/{id}/{path}", self.api_url))
                .bearer_auth(&self.secrets.admin_token)
                .json(&serde_json::json!({}))
                .send()
                .await
            {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
                    format!("{path} {status} {code}")
                }
                Err(_) => format!("{path} transport error"),
            };
            *self
                .posted
                .lock()
                .await
                .manual_answers
                .entry(answer.trim_end().to_owned())
                .or_default() += 1;
        }
        self.posted.lock().await.manual_failed += 1;
    }
}

/// Runs the whole scenario and returns its report (it does not judge it: see
/// [`Report::failures`]).
pub async fn run(cfg: ChaosConfig) -> Result<Report> {
    if !cfg.cashout_bin.exists() {
        bail!(
            "{} is missing: build it with `cargo build -p cashout-cli`",
            cfg.cashout_bin.display()
        );
    }
    let dir = match &cfg.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("cashout-chaos-{}", uuid::Uuid::new_v4())),
    };
    // Two runs in one directory would share Redis' AOF (and the logs): each Redis restart would
    // load the other run's writes.
    if dir.join("redis").exists() || dir.join("logs").exists() {
        bail!(
            "{} already holds a chaos run: remove it or choose another directory",
            dir.display()
        );
    }
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let secrets = Secrets::new();
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let plan = plan::build(
        cfg.n,
        &run_id,
        cfg.contest_every,
        cfg.wrong_per_contest,
        cfg.manual_every,
    );

    // Redis, the sandbox, the proxy.
    let mut redis = Redis::start(&dir, &cfg.appendfsync).await?;
    let mut sandbox_cfg = SandboxConfig::default();
    sandbox_cfg.camoo.api_key.clone_from(&secrets.camoo_key);
    sandbox_cfg
        .camoo
        .api_secret
        .clone_from(&secrets.camoo_secret);
    sandbox_cfg.camoo.settle_delay_ms = 300;
    sandbox_cfg.camoo.long_pending_ms = 2_000;
    sandbox_cfg.camoo.notify = true;
    sandbox_cfg.omt.username = "chaos-omt".into();
    sandbox_cfg.omt.password.clone_from(&secrets.omt_password);
    sandbox_cfg.omno.token.clone_from(&secrets.omno_token);
    sandbox_cfg.omno.settle_delay_ms = 300;
    let sandbox = Sandbox::new(sandbox_cfg);
    let audit = sandbox.audit().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sandbox_addr = listener.local_addr()?;
    let (stop_sandbox, stopped) = tokio::sync::oneshot::channel::<()>();
    let sandbox_task = tokio::spawn(sandbox.serve(listener, async move {
        let _ = stopped.await;
    }));
    let proxy = Proxy::start(sandbox_addr, cfg.faults).await?;

    let api_port = free_port()?;
    let env = env_for(&cfg, &secrets, &redis.url(), &proxy.url, api_port);
    let mut api = Role::new("api", &cfg.cashout_bin, &["api"], env.clone(), &logs);
    let mut workers: Vec<Role> = (1..=cfg.workers)
        .map(|i| {
            Role::new(
                &format!("worker-{i}"),
                &cfg.cashout_bin,
                &["worker"],
                env.clone(),
                &logs,
            )
        })
        .collect();
    api.start()?;
    for w in &mut workers {
        w.start()?;
    }
    let run = Arc::new(Run {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(256)
            .build()?,
        api_url: format!("http://127.0.0.1:{api_port}"),
        sandbox_url: format!("http://{sandbox_addr}"),
        secrets,
        accepted: AtomicUsize::new(0),
        posting_done: AtomicBool::new(false),
        posted: Mutex::new(Posted::default()),
        cfg: cfg.clone(),
    });
    wait_healthy(&run).await?;
    seed_omt(&run, &plan).await?;

    let started = Instant::now();
    run.say(&format!(
        "{} orders ({} camoo, {} omt of which {} wrong OTPs, {} omno of which {} manual), {} clients, {} workers",
        plan.orders.len(),
        plan.orders.iter().filter(|o| o.provider == "camoo").count(),
        plan.orders.iter().filter(|o| o.provider == "omt").count(),
        plan.orders.iter().filter(|o| o.wrong_otp).count(),
        plan.orders.iter().filter(|o| o.provider == "omno").count(),
        plan.orders.iter().filter(|o| o.manual != Manual::No).count(),
        cfg.clients,
        cfg.workers
    ));

    // The clients.
    let orders = plan.orders.clone();
    let poster = {
        let run = run.clone();
        tokio::spawn(async move {
            let r = &run;
            let n = orders.len().max(1) as f64;
            // Approvals and revokes start as soon as their cashout is accepted, so that they too
            // meet the faults.
            let acts: Vec<_> = futures::stream::iter(orders.into_iter().enumerate())
                .map(|(i, o)| async move {
                    let at = started + r.cfg.post_over.mul_f64(i as f64 / n);
                    tokio::time::sleep_until(at.into()).await;
                    let id = r.post(&o).await?;
                    if o.manual == Manual::No {
                        return None;
                    }
                    let run = Arc::clone(r);
                    Some(tokio::spawn(async move { run.act(&id, o.manual).await }))
                })
                .buffered(r.cfg.clients)
                .filter_map(|a| async move { a })
                .collect()
                .await;
            r.posting_done.store(true, Ordering::SeqCst);
            for a in acts {
                let _ = a.await;
            }
        })
    };

    // The faults.
    let n = cfg.n.max(1) as f64;
    let mut api_killed = cfg.api_kill_at.is_none();
    let mut redis_killed = cfg.redis_kill_at.is_none();
    let mut next_worker_kill = started + cfg.worker_kill_every;
    let mut worker_kills = 0_u32;
    let mut victim = 0_usize;
    let mut events: Vec<String> = Vec::new();
    let mut unexpected_exits = 0_u32;
    let mut next_progress = 10;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let done = run.accepted.load(Ordering::SeqCst) as f64 / n;
        let t = started.elapsed().as_secs_f64();
        if !api_killed && cfg.api_kill_at.is_some_and(|at| done >= at) {
            api_killed = true;
            api.kill().await;
            events.push(format!(
                "{t:.1}s api kill -9 ({:.0} % accepted)",
                done * 100.0
            ));
            tokio::time::sleep(cfg.down_for).await;
            api.start()?;
        }
        if !redis_killed && cfg.redis_kill_at.is_some_and(|at| done >= at) {
            redis_killed = true;
            redis.kill().await;
            events.push(format!(
                "{t:.1}s redis kill -9 ({:.0} % accepted)",
                done * 100.0
            ));
            tokio::time::sleep(cfg.down_for).await;
            redis.restart().await?;
        }
        let more_kills = cfg.worker_kills.is_none_or(|max| worker_kills < max);
        if more_kills && Instant::now() >= next_worker_kill && !workers.is_empty() {
            let nw = workers.len();
            let w = &mut workers[victim % nw];
            victim += 1;
            w.kill().await;
            w.start()?;
            worker_kills += 1;
            next_worker_kill = Instant::now() + cfg.worker_kill_every;
        }
        for w in workers.iter_mut().chain(std::iter::once(&mut api)) {
            if w.revive_if_dead()? {
                unexpected_exits += 1;
                events.push(format!("{t:.1}s {} exited by itself; restarted", w.name));
            }
        }
        if cfg.verbose && started.elapsed().as_secs() >= next_progress {
            next_progress += 10;
            run.say(&format!(
                "{t:.0}s: {} accepted, {worker_kills} worker kills, {} proxy faults",
                run.accepted.load(Ordering::SeqCst),
                proxy.stats.faults()
            ));
        }
        let posted = run.posting_done.load(Ordering::SeqCst);
        if posted
            && api_killed
            && redis_killed
            && !more_kills_pending(&cfg, worker_kills)
            && started.elapsed() >= cfg.min_fault_window
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(1_800) {
            bail!("posting did not finish in 30 minutes");
        }
    }
    proxy.calm();
    // A delayed request still in the proxy is a fault still in progress.
    while proxy.delays_in_flight() > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let last_fault = Instant::now();
    let fault_window = started.elapsed();
    run.say(&format!(
        "faults stopped after {:.1}s ({} worker kills)",
        fault_window.as_secs_f64(),
        worker_kills
    ));

    // Settle.
    let store = store_for(&redis.url()).await?;
    let accepted_ids: Vec<(String, String)> = {
        let p = run.posted.lock().await;
        p.ids
            .iter()
            .flat_map(|(k, ids)| ids.iter().map(move |id| (k.clone(), id.clone())))
            .collect()
    };
    let mut settled_at = None;
    let mut unsettled = accepted_ids.len();
    while last_fault.elapsed() < cfg.settle_limit {
        for w in workers.iter_mut().chain(std::iter::once(&mut api)) {
            if w.revive_if_dead()? {
                unexpected_exits += 1;
            }
        }
        unsettled = count_unsettled(&store, &accepted_ids).await?;
        if unsettled == 0 && run.posting_done.load(Ordering::SeqCst) {
            settled_at = Some(last_fault.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    run.say(&format!(
        "settled: {} ({} unsettled)",
        settled_at.map_or("no".to_owned(), |d| format!("{:.1}s", d.as_secs_f64())),
        unsettled
    ));
    let _ = tokio::time::timeout(Duration::from_secs(30), poster).await;

    // Stop everything, then audit.
    for w in &mut workers {
        w.stop(Duration::from_secs(10)).await;
    }
    api.stop(Duration::from_secs(10)).await;
    let report = report::audit(report::Inputs {
        run: &run,
        plan: &plan,
        store: &store,
        audit: &audit,
        accepted: &accepted_ids,
        proxy: &proxy,
        logs: &logs,
        events,
        worker_kills,
        unexpected_exits,
        fault_window,
        settled_at,
        elapsed: started.elapsed(),
    })
    .await?;
    let _ = stop_sandbox.send(());
    let _ = sandbox_task.await;
    redis.kill().await;
    if cfg.dir.is_none() && report.failures().is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(report)
}

fn more_kills_pending(cfg: &ChaosConfig, done: u32) -> bool {
    cfg.worker_kills.is_some_and(|max| done < max)
}

async fn wait_healthy(run: &Run) -> Result<()> {
    let started = Instant::now();
    loop {
        let ok = run
            .http
            .get(format!("{}/healthz", run.api_url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the API did not come up (see its log)");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn seed_omt(run: &Run, plan: &Plan) -> Result<()> {
    let results: Vec<Result<()>> = futures::stream::iter(plan.seeds.iter())
        .map(|s| async move {
            let r = run
                .http
                .post(format!("{}/_admin/omt/pending", run.sandbox_url))
                .json(&s.body)
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("omt seed refused: {}", r.status());
            }
            Ok(())
        })
        .buffer_unordered(32)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn store_for(url: &str) -> Result<cashout_store::Store> {
    let config = cashout_store::RedisConfig {
        url: url.to_owned(),
        prefix: "chaos".to_owned(),
        ..cashout_store::RedisConfig::default()
    };
    let conn = cashout_store::connect(&config)
        .await
        .context("connect to the chaos redis")?;
    Ok(cashout_store::Store::new(conn, &config))
}

/// Accepted cashouts neither terminal nor parked (or missing).
async fn count_unsettled(
    store: &cashout_store::Store,
    accepted: &[(String, String)],
) -> Result<usize> {
    let results: Vec<bool> = futures::stream::iter(accepted.iter())
        .map(|(_, id)| async move {
            let Ok(id) = CashoutId::parse(id) else {
                return true;
            };
            match store.get(&id).await {
                Ok(Some(c)) => !(c.state.is_terminal() || c.parked.is_some()),
                _ => true,
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    Ok(results.into_iter().filter(|u| *u).count())
}

/// Whether a state is one a payout may back (for "failed or revoked but paid").
fn refused(state: State) -> bool {
    matches!(state, State::Failed | State::Revoked)
}

/// The run directory's logs, for the report's search (every file under `dir`).
fn log_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}
