//! `make bench`: the delivery layer measured end to end on this machine.
//!
//! Starts a private `redis-server` (no persistence, like the machine's shared one), a Camoo
//! stand-in that answers at once (or after a set latency), and the real `cashout api` and
//! `cashout worker` processes (release build, next to this binary). Then:
//! 1. **throughput**: N cashouts (default 20,000) posted over HTTP by 100 concurrent clients
//!    while one worker (concurrency 100) runs; first post to last final state. Several runs,
//!    median reported.
//! 2. **cost**: Redis commands executed per cashout (`INFO commandstats`, commands inside
//!    scripts included), round trips per cashout (requests counted by our own connections,
//!    API + worker), Redis memory per finished cashout (`used_memory`, records retained).
//! 3. **pickup**: cashouts posted at 200/s; pickup = the worker's `submit` history line minus
//!    the `created` one (same clock), p50/p99.
//! 4. **enqueue latency**: 2,000 posts/s for 5 s, open loop, while the worker runs; p50/p99.
//! 5. **latency-bound**: a 10,000 backlog drained by a worker with concurrency 1,000 while
//!    every provider call takes 250 ms (ceiling: 1,000 / 0.5 s = 2,000/s), and the worker's
//!    peak RSS.
//!
//! Every run also checks the money rule: no external reference created twice at the stand-in.
//! Timings are for `docs/performance.md`; nothing here asserts one.

use anyhow::{Context, Result, bail};
use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

const TOKEN: &str = "bench-token-0123456789abcdef";
const PREFIX: &str = "bench";
/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux).
const CLOCK_TICKS: f64 = 100.0;
/// The API token's name, which is the producer the bench enqueues as.
const PRODUCER: &str = "bench";

/// The Camoo stand-in: creates get an id at once, verifies say `SUCCESS`.
#[derive(Default)]
struct Stub {
    latency_ms: AtomicU64,
    next: AtomicU64,
    creates: AtomicU64,
    verifies: AtomicU64,
    refs: Mutex<HashMap<String, u32>>,
}

async fn stub_create(State(s): State<Arc<Stub>>, Json(body): Json<Value>) -> Json<Value> {
    let l = s.latency_ms.load(Ordering::Relaxed);
    if l > 0 {
        tokio::time::sleep(Duration::from_millis(l)).await;
    }
    let reference = body["external_reference"].as_str().unwrap_or("").to_owned();
    if let Ok(mut m) = s.refs.lock() {
        *m.entry(reference.clone()).or_default() += 1;
    }
    s.creates.fetch_add(1, Ordering::Relaxed);
    let id = s.next.fetch_add(1, Ordering::Relaxed) + 1;
    Json(
        json!({"cashOut": {"id": id.to_string(), "status": "PENDING", "external_reference": reference}}),
    )
}

async fn stub_verify(
    State(s): State<Arc<Stub>>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let l = s.latency_ms.load(Ordering::Relaxed);
    if l > 0 {
        tokio::time::sleep(Duration::from_millis(l)).await;
    }
    s.verifies.fetch_add(1, Ordering::Relaxed);
    let id = q.get("id").cloned().unwrap_or_default();
    Json(json!({"verify": {"id": id, "status": "SUCCESS"}}))
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

struct Bench {
    dir: PathBuf,
    redis: Child,
    redis_url: String,
    redis_conn: redis::aio::MultiplexedConnection,
    stub: Arc<Stub>,
    stub_url: String,
    api: Option<Child>,
    api_url: String,
    api_port: u16,
    worker: Option<Child>,
    worker_metrics: String,
    http: reqwest::Client,
    run: u64,
}

impl Bench {
    async fn start() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("cashout-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let port = free_port()?;
        let redis = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("redis-server (make bench installs it through scripts/with-redis.sh)")?;
        let redis_url = format!("redis://127.0.0.1:{port}");
        let client = redis::Client::open(redis_url.as_str())?;
        let mut conn = None;
        for _ in 0..100 {
            if let Ok(c) = client.get_multiplexed_async_connection().await {
                conn = Some(c);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let redis_conn = conn.context("redis-server did not come up")?;

        let stub = Arc::new(Stub::default());
        let app = Router::new()
            .route("/v1/payment/cashout", post(stub_create))
            .route("/v1/payment/verify", get(stub_verify))
            .with_state(stub.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let stub_url = format!("http://{}/v1/payment", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let api_port = free_port()?;
        Ok(Self {
            dir,
            redis,
            redis_url,
            redis_conn,
            stub,
            stub_url,
            api: None,
            api_url: format!("http://127.0.0.1:{api_port}"),
            api_port,
            worker: None,
            worker_metrics: String::new(),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(1_000)
                .timeout(Duration::from_secs(30))
                .build()?,
            run: 0,
        })
    }

    fn cashout_bin() -> Result<PathBuf> {
        let exe = std::env::current_exe()?;
        let bin = exe.parent().context("no parent directory")?.join("cashout");
        if !bin.exists() {
            bail!(
                "{} is missing: build it with `cargo build --release -p cashout-cli`",
                bin.display()
            );
        }
        Ok(bin)
    }

    fn command(&self, role: &str, extra: &[(&str, String)]) -> Result<Command> {
        let mut cmd = Command::new(Self::cashout_bin()?);
        cmd.arg(role)
            .env("RUST_LOG", "error")
            .env("CASHOUT_REDIS__URL", &self.redis_url)
            .env("CASHOUT_REDIS__PREFIX", PREFIX)
            .env("CASHOUT_PROVIDERS__CAMOO__BASE_URL", &self.stub_url)
            .env("CASHOUT_PROVIDERS__CAMOO__API_KEY", "bench-key")
            .env("CASHOUT_PROVIDERS__CAMOO__API_SECRET", "bench-secret")
            .env("CASHOUT_PROVIDERS__CAMOO__POLL__FIRST_DELAY_MS", "1")
            .env(
                "CASHOUT_API__LISTEN",
                format!("127.0.0.1:{}", self.api_port),
            )
            .env("CASHOUT_API__TOKENS", format!("{PRODUCER}:{TOKEN}"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        Ok(cmd)
    }

    async fn start_api(&mut self) -> Result<()> {
        let child = self
            .command("api", &[("CASHOUT_WORKER__METRICS_LISTEN", String::new())])?
            .spawn()?;
        self.api = Some(child);
        for _ in 0..200 {
            if let Ok(r) = self
                .http
                .get(format!("{}/healthz", self.api_url))
                .send()
                .await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the API did not come up")
    }

    async fn start_worker(&mut self, concurrency: usize) -> Result<()> {
        let port = free_port()?;
        self.worker_metrics = format!("http://127.0.0.1:{port}/metrics");
        let child = self
            .command(
                "worker",
                &[
                    ("CASHOUT_WORKER__CONCURRENCY", concurrency.to_string()),
                    (
                        "CASHOUT_WORKER__METRICS_LISTEN",
                        format!("127.0.0.1:{port}"),
                    ),
                    (
                        "CASHOUT_WORKER__QUEUE__BATCH_SIZE",
                        concurrency.min(256).to_string(),
                    ),
                ],
            )?
            .spawn()?;
        self.worker = Some(child);
        for _ in 0..200 {
            if self.http.get(&self.worker_metrics).send().await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the worker did not come up")
    }

    async fn stop_worker(&mut self) -> Result<()> {
        if let Some(mut w) = self.worker.take() {
            if let Some(pid) = w.id() {
                // SIGTERM: a clean stop hands back what it read.
                let _ = std::process::Command::new("kill")
                    .arg(pid.to_string())
                    .status();
            }
            if tokio::time::timeout(Duration::from_secs(15), w.wait())
                .await
                .is_err()
            {
                w.kill().await?;
            }
        }
        Ok(())
    }

    /// CPU time (user + system, in clock ticks) a child has used so far.
    fn cpu_ticks(child: Option<&Child>) -> Option<u64> {
        let pid = child?.id()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
        Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
    }

    /// CPU ticks used by the API and the worker so far.
    fn cpu(&self) -> (u64, u64) {
        (
            Self::cpu_ticks(self.api.as_ref()).unwrap_or(0),
            Self::cpu_ticks(self.worker.as_ref()).unwrap_or(0),
        )
    }

    fn worker_peak_rss_kb(&self) -> Option<u64> {
        let pid = self.worker.as_ref()?.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
    }

    async fn round_trips(&self) -> f64 {
        let mut total = 0.0;
        for url in [
            format!("{}/metrics", self.api_url),
            self.worker_metrics.clone(),
        ] {
            if let Ok(r) = self.http.get(&url).send().await
                && let Ok(text) = r.text().await
            {
                total += text
                    .lines()
                    .find(|l| l.starts_with("cashout_redis_round_trips_total"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|n| n.parse::<f64>().ok())
                    .unwrap_or(0.0);
            }
        }
        total
    }

    async fn info(&mut self, section: &str) -> Result<String> {
        Ok(redis::cmd("INFO")
            .arg(section)
            .query_async(&mut self.redis_conn)
            .await?)
    }

    async fn used_memory(&mut self) -> Result<f64> {
        let info = self.info("memory").await?;
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .context("used_memory")
    }

    async fn commands(&mut self) -> Result<f64> {
        let info = self.info("commandstats").await?;
        Ok(info
            .lines()
            .filter(|l| {
                l.starts_with("cmdstat_")
                    && !l.starts_with("cmdstat_info")
                    && !l.starts_with("cmdstat_config")
                    && !l.starts_with("cmdstat_zcard")
            })
            .filter_map(|l| {
                l.split("calls=")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .parse::<f64>()
                    .ok()
            })
            .sum())
    }

    async fn pending(&mut self) -> Result<(u64, u64)> {
        let (due, parked): (u64, u64) = redis::pipe()
            .cmd("ZCARD")
            .arg(format!("{PREFIX}:{{0}}:due:camoo"))
            .cmd("ZCARD")
            .arg(format!("{PREFIX}:{{0}}:parked"))
            .query_async(&mut self.redis_conn)
            .await?;
        Ok((due, parked))
    }

    /// Waits until nothing is due any more; fails on a parked cashout.
    async fn settle(&mut self, limit: Duration) -> Result<Instant> {
        let started = Instant::now();
        loop {
            let (due, parked) = self.pending().await?;
            if parked > 0 {
                bail!("{parked} cashouts parked: the run is not clean");
            }
            if due == 0 {
                return Ok(Instant::now());
            }
            if started.elapsed() > limit {
                bail!("{due} cashouts still pending after {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn order(&self, i: u64) -> Value {
        json!({
            "idempotency_key": format!("bench-{}-{i}", self.run),
            "provider": "camoo",
            "amount": 1500,
            "currency": "XAF",
            "recipient": {"phone_number": format!("+2376{:08}", i % 100_000_000)},
        })
    }

    async fn post(&self, body: &Value) -> Result<(Duration, String)> {
        let t = Instant::now();
        let r = self
            .http
            .post(format!("{}/v1/cashouts", self.api_url))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await?;
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if status.as_u16() != 202 {
            bail!("enqueue answered {status}: {v}");
        }
        Ok((t.elapsed(), v["id"].as_str().unwrap_or("").to_owned()))
    }

    /// Posts `n` orders with `clients` concurrent clients; returns the cashout ids.
    async fn post_many(&mut self, n: u64, clients: usize) -> Result<Vec<String>> {
        self.run += 1;
        let orders: Vec<Value> = (0..n).map(|i| self.order(i)).collect();
        let this = &*self;
        let ids: Vec<Result<String>> = futures::stream::iter(orders)
            .map(|o| async move { this.post(&o).await.map(|(_, id)| id) })
            .buffer_unordered(clients)
            .collect()
            .await;
        ids.into_iter().collect()
    }

    /// Memory of one finished cashout's keys, by key.
    async fn breakdown(&mut self) -> Result<()> {
        let mut keys: Vec<String> = Vec::new();
        let (_, some): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(0)
            .arg("MATCH")
            .arg(format!("{PREFIX}:{{0}}:cashout:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut self.redis_conn)
            .await?;
        let Some(record) = some.first() else {
            return Ok(());
        };
        keys.push(record.clone());
        let stored: String = redis::cmd("GET")
            .arg(record)
            .query_async(&mut self.redis_conn)
            .await?;
        // The JSON follows the record's 87-byte header; the history lines follow the JSON.
        let (data, lines) = record_parts(&stored);
        let history_bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
        let history_lines = lines.len();
        let data = data.to_owned();
        // The record is the whole cashout: no history list, no idempotency key (the id is the
        // key's).
        let mut parts = Vec::new();
        for k in &keys {
            let n: Option<u64> = redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(k)
                .query_async(&mut self.redis_conn)
                .await?;
            parts.push(format!(
                "{} {} B",
                k.split(':').nth(2).unwrap_or(k),
                n.unwrap_or(0)
            ));
        }
        println!(
            "  one finished cashout: {} (record json {} B, history {history_lines} lines {history_bytes} B)",
            parts.join(", "),
            data.len()
        );
        Ok(())
    }

    fn check_money(&self) -> Result<()> {
        let refs = self
            .stub
            .refs
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        let twice = refs.values().filter(|n| **n > 1).count();
        if twice > 0 {
            bail!("{twice} cashouts were created twice at the provider");
        }
        Ok(())
    }

    async fn pickups(&mut self, ids: &[String]) -> Result<Vec<f64>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let mut pipe = redis::pipe();
            for id in chunk {
                pipe.cmd("GET").arg(format!("{PREFIX}:{{0}}:cashout:{id}"));
            }
            let records: Vec<Option<String>> = pipe.query_async(&mut self.redis_conn).await?;
            for r in records {
                let Some(r) = r else { continue };
                let (_, l) = record_parts(&r);
                // Stored lines carry their time in microseconds (`t`).
                let at = |s: &&str| -> Option<i64> {
                    let v: Value = serde_json::from_str(s).ok()?;
                    v["t"].as_i64()
                };
                if let (Some(a), Some(b)) = (l.first().and_then(at), l.get(1).and_then(at)) {
                    #[allow(clippy::cast_precision_loss)]
                    out.push((b - a) as f64 / 1_000.0);
                }
            }
        }
        Ok(out)
    }
}

/// A stored record's JSON and history lines: the JSON follows the 87-byte header up to the first
/// `\n`, then each history line follows a `\n` (see `cashout-store`'s `lua/record.lua`).
fn record_parts(stored: &str) -> (&str, Vec<&str>) {
    let rest = stored.get(87..).unwrap_or("");
    match rest.split_once('\n') {
        Some((json, lines)) => (json, lines.split('\n').collect()),
        None => (rest, Vec::new()),
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = self.redis.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<()> {
    let n = env_u64("BENCH_N", 20_000);
    let runs = env_u64("BENCH_RUNS", 3).max(1);
    let mut b = Bench::start().await?;
    b.start_api().await?;
    b.start_worker(100).await?;
    println!(
        "cashout bench: N = {n}, {runs} throughput runs, 2 cores shared by Redis, API, worker, stand-in and clients"
    );

    // 1 + 2: throughput and cost.
    let mut rates = Vec::new();
    let mut cost = None;
    for run in 0..runs {
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query_async(&mut b.redis_conn)
            .await?;
        let mem0 = b.used_memory().await?;
        let rt0 = b.round_trips().await;
        let cpu0 = b.cpu();
        let t0 = Instant::now();
        b.post_many(n, 100).await?;
        let done = b.settle(Duration::from_secs(600)).await?;
        let cpu1 = b.cpu();
        #[allow(clippy::cast_precision_loss)]
        let rate = n as f64 / (done - t0).as_secs_f64();
        rates.push(rate);
        // Let the trimmer pass, then count what stays.
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let cmds = b.commands().await?;
        let rt = b.round_trips().await - rt0;
        let mem = b.used_memory().await? - mem0;
        #[allow(clippy::cast_precision_loss)]
        let nf = n as f64;
        println!(
            "  run {}: {rate:.0} cashouts/s; {:.1} commands, {:.1} round trips, {:.0} bytes per cashout",
            run + 1,
            cmds / nf,
            rt / nf,
            mem / nf
        );
        // CPU time is steadier than wall time on a shared machine: compare builds with it.
        #[allow(clippy::cast_precision_loss)]
        let us = |ticks: u64| ticks as f64 * 1e6 / CLOCK_TICKS / nf;
        println!(
            "         CPU per cashout: API {:.0} µs, worker {:.0} µs",
            us(cpu1.0.saturating_sub(cpu0.0)),
            us(cpu1.1.saturating_sub(cpu0.1))
        );
        if cost.is_none() {
            b.breakdown().await?;
            let info = b.info("commandstats").await?;
            let mut by: Vec<(String, f64)> = info
                .lines()
                .filter_map(|l| {
                    let name = l.strip_prefix("cmdstat_")?.split(':').next()?.to_owned();
                    let calls: f64 = l.split("calls=").nth(1)?.split(',').next()?.parse().ok()?;
                    Some((name, calls / nf))
                })
                .filter(|(n, c)| *c >= 0.05 && !n.starts_with("info") && !n.starts_with("config"))
                .collect();
            by.sort_by(|a, b| b.1.total_cmp(&a.1));
            let list: Vec<String> = by.iter().map(|(n, c)| format!("{n} {c:.2}")).collect();
            println!("  commands per cashout: {}", list.join(", "));
        }
        cost.get_or_insert((cmds / nf, rt / nf, mem / nf));
    }
    b.check_money()?;
    println!(
        "throughput (median of {runs}): {:.0} cashouts/s",
        median(&mut rates)
    );
    if let Some((c, r, m)) = cost {
        println!(
            "cost per finished cashout: {c:.1} redis commands, {r:.1} round trips, {m:.0} bytes"
        );
    }

    if std::env::var("BENCH_ONLY").as_deref() == Ok("throughput") {
        return Ok(());
    }

    // 3: pickup at 200/s.
    b.run += 1;
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut b.redis_conn)
        .await?;
    let mut ids = Vec::new();
    {
        let this = &b;
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        let mut inflight = futures::stream::FuturesUnordered::new();
        for i in 0..2_000u64 {
            tick.tick().await;
            let body = this.order(i);
            inflight.push(async move { this.post(&body).await });
            while let Some(r) = futures::FutureExt::now_or_never(inflight.next()).flatten() {
                ids.push(r?.1);
            }
        }
        while let Some(r) = inflight.next().await {
            ids.push(r?.1);
        }
    }
    b.settle(Duration::from_secs(120)).await?;
    // At this rate requests rarely wait for one another: batches of one, the count without
    // group commit.
    #[allow(clippy::cast_precision_loss)]
    let light = b.commands().await? / ids.len().max(1) as f64;
    let mut p = b.pickups(&ids).await?;
    println!(
        "pickup at 200/s ({} cashouts): p50 {:.2} ms, p99 {:.2} ms; {light:.1} redis commands per cashout at that rate",
        p.len(),
        pct(&mut p, 0.5),
        pct(&mut p, 0.99)
    );

    // 4: enqueue latency at 2,000/s while the worker runs.
    b.run += 1;
    let mut lat = Vec::new();
    {
        let this = &b;
        let mut tick = tokio::time::interval(Duration::from_micros(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut inflight = futures::stream::FuturesUnordered::new();
        for i in 0..10_000u64 {
            tick.tick().await;
            let body = this.order(i);
            inflight.push(async move { this.post(&body).await });
            while let Some(r) = futures::FutureExt::now_or_never(inflight.next()).flatten() {
                lat.push(r?.0.as_secs_f64() * 1_000.0);
            }
        }
        while let Some(r) = inflight.next().await {
            lat.push(r?.0.as_secs_f64() * 1_000.0);
        }
    }
    b.settle(Duration::from_secs(120)).await?;
    println!(
        "enqueue at 2,000/s while the worker runs: p50 {:.2} ms, p99 {:.2} ms",
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99)
    );

    // 5: 250 ms per provider call, 1,000 in flight.
    b.stop_worker().await?;
    b.stub.latency_ms.store(250, Ordering::Relaxed);
    let m = env_u64("BENCH_SLOW_N", 10_000);
    b.post_many(m, 200).await?;
    b.start_worker(1_000).await?;
    let t0 = Instant::now();
    let done = b.settle(Duration::from_secs(600)).await?;
    #[allow(clippy::cast_precision_loss)]
    let rate = m as f64 / (done - t0).as_secs_f64();
    let rss = b.worker_peak_rss_kb().unwrap_or(0);
    println!(
        "250 ms provider latency, 1,000 in flight ({m} backlog): {rate:.0} cashouts/s ({:.0} % of the 2,000/s ceiling), worker peak RSS {} MB",
        rate / 20.0,
        rss / 1024
    );
    b.check_money()?;
    println!(
        "money: {} creates, {} verifies at the stand-in, none twice",
        b.stub.creates.load(Ordering::Relaxed),
        b.stub.verifies.load(Ordering::Relaxed)
    );
    b.stop_worker().await?;
    if let Some(mut a) = b.api.take() {
        let _ = a.kill().await;
    }
    Ok(())
}
