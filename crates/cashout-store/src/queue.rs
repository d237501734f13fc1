//! The delivery layer: one Redis stream per provider and partition, read by apalis workers in a
//! consumer group through [`StreamBackend`], our own apalis-core 1.0 [`Backend`].
//!
//! A stream entry carries only a cashout id: "look at this cashout". Delivery is at least once,
//! so every consumer must treat an entry that way, never as "do this step".
//! - **Now**: a step due now is `XADD`ed by the same script that writes the record.
//! - **Later**: a step due later waits in the partition's `due` zset (millisecond scores);
//!   [`JobQueue::promote`] moves what is due onto the stream in bounded chunks.
//! - **Redelivery**: an entry on the stream gets a deadline in the `due` zset
//!   (`redis.redeliver_after_ms`); a step recorded before then replaces it. So a lost or deleted
//!   entry is delivered again: the zset is the net under everything.
//! - **Dead consumers**: entries read but never acknowledged are claimed by a live consumer
//!   after `claim_idle_ms` (`XAUTOCLAIM`).
//! - **Ack**: after the handler returns, by the step's last write (same script) or by
//!   [`AckLayer`]; never before.
//! - **Trimming**: below the oldest entry the group still needs, never an unacked one.

use crate::conn::{Connector, RedisConn};
use crate::delivery::{self, Entry};
use crate::keys::{GROUP, Keys};
use crate::store::{RedisConfig, Store, StoreError};
use apalis::prelude::{Backend, Task, TaskBuilder, WorkerContext};
use apalis_core::backend::BackendConfig;
use apalis_core::backend::finalize::Ephemeral;
use apalis_core::task::task_id::RandomId;
use cashout_core::{CashoutId, Provider};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use redis::{Script, Value};
use serde::{Deserialize, Serialize};
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

static PROMOTE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/promote.lua")));
static PUSH: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/push.lua")));
static TRIM: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/trim.lua")));
/// Acknowledges entries a stopping consumer had read but not handled and puts them back on the
/// stream at once (no wait for the claim idle time).
/// KEYS[1] stream; ARGV[1] group, then entry id and cashout id pairs.
static HAND_BACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "for i = 2, #ARGV, 2 do \
           redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) \
           redis.call('XADD', KEYS[1], '*', 'id', ARGV[i + 1]) \
         end return (#ARGV - 1) / 2",
    )
});
/// Removes a consumer from the group only when it has nothing pending (deleting a consumer
/// drops its pending entries, which must be claimed instead), in one step.
/// KEYS[1] stream; ARGV[1] group, ARGV[2] consumer. Returns 1 when removed.
static LEAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local ok, p = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) \
         if not ok or #p > 0 then return 0 end \
         redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2]) return 1",
    )
});

/// What a job carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashoutJob {
    /// The cashout to look at.
    pub cashout_id: CashoutId,
    /// The trace it belongs to (empty when the entry did not carry it: the record has it).
    #[serde(default)]
    pub trace_id: String,
    /// W3C `traceparent` of the enqueue span, so the worker's spans join the same trace. The
    /// record keeps it too; a job read from a stream carries only the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The stream entry this job was read from, if it was.
    #[serde(skip)]
    pub entry: Option<Entry>,
}

impl CashoutJob {
    /// The job that looks at `cashout`.
    pub fn for_cashout(cashout: &cashout_core::Cashout) -> Self {
        Self {
            cashout_id: cashout.id,
            trace_id: cashout.trace_id.to_string(),
            traceparent: cashout.traceparent.clone(),
            entry: None,
        }
    }
}

/// How workers read their streams.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Entries read per `XREADGROUP`.
    pub batch_size: usize,
    /// How long one `XREADGROUP` blocks waiting for entries (a new entry wakes it at once).
    pub block_ms: u64,
    /// A consumer's entry unacknowledged for this long is claimed by another (the consumer
    /// is taken for dead): orphan recovery time.
    pub claim_idle_ms: u64,
    /// The longest the promoter sleeps between looks at the due zsets.
    pub promote_interval_ms: u64,
    /// Cashouts moved from a due zset to its stream per script call.
    pub promote_chunk: usize,
    /// How often streams are trimmed and idle consumers without pending entries removed.
    pub trim_interval_ms: u64,
    /// A consumer idle for this long with nothing pending is removed from the group.
    pub forget_consumer_after_ms: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            batch_size: 64,
            block_ms: 2_000,
            claim_idle_ms: 15_000,
            promote_interval_ms: 20,
            promote_chunk: 500,
            trim_interval_ms: 1_000,
            forget_consumer_after_ms: 3_600_000,
        }
    }
}

impl QueueConfig {
    /// How long a dead worker's jobs wait before another worker takes them.
    pub fn orphan_recovery(&self) -> Duration {
        Duration::from_millis(self.claim_idle_ms)
    }
}

/// Pushes, promotes and trims the streams; opens consumers.
#[derive(Clone)]
pub struct JobQueue {
    conn: RedisConn,
    connector: Connector,
    keys: Keys,
    redeliver: Duration,
    config: QueueConfig,
}

impl std::fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobQueue")
            .field("keys", &self.keys)
            .finish()
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn ms_of(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl JobQueue {
    /// The queues of `store`'s keys; `redis` says where blocking readers connect.
    pub fn new(
        store: &Store,
        redis: &RedisConfig,
        config: QueueConfig,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            conn: store.connection(),
            connector: Connector::new(redis, Duration::from_millis(config.block_ms))?,
            keys: store.keys().clone(),
            redeliver: store.redelivery(),
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// Asks for a look at a cashout at `at`: onto its stream now when `at` has come, else into
    /// its due zset (never postponing an earlier look).
    pub async fn push(
        &self,
        provider: Provider,
        job: CashoutJob,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let id = job.cashout_id;
        let mut c = self.conn.clone();
        let _: i64 = PUSH
            .key(self.keys.due_of(&id, provider))
            .key(self.keys.stream_of(&id, provider))
            .arg(id.to_string())
            .arg(at.timestamp_millis())
            .arg(now_ms())
            .arg(ms_of(self.redeliver))
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }

    /// Moves what is due in one partition's zset onto its stream, in chunks of
    /// `promote_chunk`. Returns how many moved and when the next one is due (ms).
    pub async fn promote(
        &self,
        provider: Provider,
        partition: u16,
    ) -> Result<(u64, Option<i64>), StoreError> {
        let mut c = self.conn.clone();
        let (moved, next): (u64, String) = PROMOTE
            .key(self.keys.due(provider, partition))
            .key(self.keys.stream(provider, partition))
            .arg(now_ms())
            .arg(self.config.promote_chunk.max(1))
            .arg(ms_of(self.redeliver))
            .invoke_async(&mut c)
            .await?;
        #[allow(clippy::cast_possible_truncation)]
        let next = next.parse::<f64>().ok().map(|f| f as i64);
        Ok((moved, next))
    }

    /// Trims one stream below what its group still needs and forgets idle consumers that have
    /// nothing pending. Returns the entries trimmed.
    pub async fn trim(&self, provider: Provider, partition: u16) -> Result<u64, StoreError> {
        let mut c = self.conn.clone();
        let n: u64 = TRIM
            .key(self.keys.stream(provider, partition))
            .arg(self.config.forget_consumer_after_ms)
            .invoke_async(&mut c)
            .await?;
        Ok(n)
    }

    /// Entries waiting on a provider's streams: not yet read by the group, or read and not
    /// yet acknowledged (all of them when no worker ever read the stream).
    pub async fn depth(&self, provider: Provider) -> Result<u64, StoreError> {
        let mut c = self.conn.clone();
        let mut total = 0;
        for p in self.keys.all_partitions() {
            let key = self.keys.stream(provider, p);
            let groups: Result<Vec<Vec<Value>>, _> = redis::cmd("XINFO")
                .arg("GROUPS")
                .arg(&key)
                .query_async(&mut c)
                .await;
            let info = groups.ok().and_then(|g| g.into_iter().next()).map(pairs);
            let n = match info {
                Some(g) => {
                    let lag = g.iter().find(|(k, _)| k == "lag").and_then(|(_, v)| int(v));
                    let pending = g
                        .iter()
                        .find(|(k, _)| k == "pending")
                        .and_then(|(_, v)| int(v));
                    match lag {
                        Some(lag) => lag + pending.unwrap_or(0),
                        None => redis::cmd("XLEN").arg(&key).query_async(&mut c).await?,
                    }
                }
                None => redis::cmd("XLEN").arg(&key).query_async(&mut c).await?,
            };
            total += n;
        }
        Ok(total)
    }

    /// A consumer of a provider's streams (all partitions) named `consumer`, which must be
    /// unique to this process and start. Readers stop when `stop` turns true, or when the
    /// backend is closed.
    pub fn consumer(&self, provider: Provider, consumer: String) -> StreamBackend {
        let (tx, rx) = mpsc::channel(self.config.batch_size.max(1));
        let (stop, stop_rx) = watch::channel(false);
        let mut readers = Vec::new();
        for p in self.keys.all_partitions() {
            let reader = Reader {
                queue: self.clone(),
                provider,
                stream: self.keys.stream(provider, p),
                consumer: consumer.clone(),
                tx: tx.clone(),
                stop: stop_rx.clone(),
            };
            readers.push(tokio::spawn(reader.run()));
        }
        StreamBackend {
            rx,
            readers,
            stop,
            queue: self.clone(),
            provider,
            consumer,
            closing: None,
        }
    }

    async fn blocking_connection(&self) -> Result<RedisConn, StoreError> {
        // A blocking read holds its connection: nothing else goes on it.
        self.connector.blocking().await
    }
}

fn int(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).ok(),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// A flat `[k1, v1, k2, v2, …]` reply (or a RESP3 map) as pairs.
fn pairs(v: Vec<Value>) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut it = v.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        if let Some(k) = text(&k) {
            out.push((k, v));
        }
    }
    out
}

/// Stream entries `[[id, [field, value, …]], …]` as (entry id, cashout id) pairs. Entries
/// without a payload (deleted) or with a malformed id are skipped (and reported).
fn entries(v: &Value) -> Vec<(String, Option<CashoutId>)> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let Value::Array(parts) = item else { continue };
        let Some(entry_id) = parts.first().and_then(text) else {
            continue;
        };
        let cashout = match parts.get(1) {
            Some(Value::Array(fields)) => fields
                .chunks(2)
                .find(|kv| kv.first().and_then(text).as_deref() == Some("id"))
                .and_then(|kv| kv.get(1).and_then(text))
                .and_then(|s| CashoutId::parse(&s).ok()),
            _ => None,
        };
        out.push((entry_id, cashout));
    }
    out
}

/// A reader that cannot reach Redis for this long stops, and with it its worker: the
/// supervisor restarts it with a backoff, and gives up (the process exits non-zero) after
/// `worker.max_restarts` restarts in a row. In-flight deliveries run on regardless.
const READER_GIVE_UP: Duration = Duration::from_secs(5);

/// One blocking reader of one stream for one consumer.
struct Reader {
    queue: JobQueue,
    provider: Provider,
    stream: String,
    consumer: String,
    tx: mpsc::Sender<Result<Task<CashoutJob>, StoreError>>,
    stop: watch::Receiver<bool>,
}

impl Reader {
    async fn run(mut self) {
        let cfg = self.queue.config.clone();
        let mut conn: Option<RedisConn> = None;
        let mut failures: u32 = 0;
        let mut failing_since: Option<tokio::time::Instant> = None;
        let mut claim_cursor = "0-0".to_owned();
        let claim_every = Duration::from_millis((cfg.claim_idle_ms / 3).max(100));
        let mut last_claim = tokio::time::Instant::now() - claim_every;
        loop {
            if *self.stop.borrow() || self.tx.is_closed() {
                return;
            }
            if failing_since.is_some_and(|t| t.elapsed() > READER_GIVE_UP) {
                warn!(stream = %self.stream, "redis unreachable; the stream reader stops");
                let e = StoreError::Queue(format!(
                    "{}: redis unreachable for {} s",
                    self.stream,
                    READER_GIVE_UP.as_secs()
                ));
                let _ = self.tx.send(Err(e)).await;
                return;
            }
            let c = match conn.as_mut() {
                Some(c) => c,
                None => match self.connect().await {
                    Ok(c) => conn.insert(c),
                    Err(e) => {
                        failures += 1;
                        failing_since.get_or_insert_with(tokio::time::Instant::now);
                        warn!(stream = %self.stream, error = %e, "stream reader cannot connect; retrying");
                        self.pause(failures).await;
                        continue;
                    }
                },
            };
            let claiming = last_claim.elapsed() >= claim_every;
            let res = if claiming {
                let res = self.claim(c, &mut claim_cursor).await;
                // A full batch: there may be more to claim; claim again before reading.
                if res
                    .as_ref()
                    .map_or(true, |f| f.len() < cfg.batch_size.max(1))
                {
                    last_claim = tokio::time::Instant::now();
                }
                res
            } else {
                self.read(c).await
            };
            match res {
                Ok(found) => {
                    failures = 0;
                    failing_since = None;
                    for (entry_id, id) in found {
                        let Some(id) = id else {
                            // Not ours to run (deleted payload, foreign entry): acknowledge it
                            // so it does not come back; the due zset still covers its cashout.
                            warn!(stream = %self.stream, entry = %entry_id, "stream entry without a cashout id; acknowledged");
                            let _: Result<i64, _> = redis::cmd("XACK")
                                .arg(&self.stream)
                                .arg(GROUP)
                                .arg(&entry_id)
                                .query_async(c)
                                .await;
                            continue;
                        };
                        let job = CashoutJob {
                            cashout_id: id,
                            trace_id: String::new(),
                            traceparent: None,
                            entry: Some(Entry {
                                stream: self.stream.clone(),
                                id: entry_id,
                                provider: self.provider,
                                redelivered: claiming,
                            }),
                        };
                        if self
                            .tx
                            .send(Ok(TaskBuilder::new(job).build()))
                            .await
                            .is_err()
                        {
                            // The worker is gone; what we read stays pending for a claim.
                            return;
                        }
                    }
                }
                Err(e) => {
                    failures += 1;
                    failing_since.get_or_insert_with(tokio::time::Instant::now);
                    warn!(stream = %self.stream, error = %e, "stream read failed; reconnecting");
                    conn = None;
                    self.pause(failures).await;
                }
            }
        }
    }

    async fn connect(&self) -> Result<RedisConn, StoreError> {
        let mut c = self.queue.blocking_connection().await?;
        // The group reads from the start of the stream: entries pushed before any worker
        // existed are delivered too.
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut c)
            .await;
        match created {
            Ok(()) => info!(stream = %self.stream, "consumer group created"),
            Err(e) if e.code() == Some("BUSYGROUP") => {}
            Err(e) => return Err(e.into()),
        }
        Ok(c)
    }

    async fn pause(&mut self, failures: u32) {
        let d = Duration::from_millis(50u64.saturating_mul(1 << failures.min(4)));
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.stop.wait_for(|v| *v) => {}
        }
    }

    async fn read(
        &self,
        c: &mut RedisConn,
    ) -> Result<Vec<(String, Option<CashoutId>)>, StoreError> {
        let cfg = &self.queue.config;
        let reply: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(cfg.batch_size.max(1))
            .arg("BLOCK")
            .arg(cfg.block_ms.max(1))
            .arg("STREAMS")
            .arg(&self.stream)
            .arg(">")
            .query_async(c)
            .await?;
        // [[stream, entries]] (or a RESP3 map), or nil on timeout.
        Ok(match reply {
            Value::Array(streams) => streams
                .iter()
                .filter_map(|s| match s {
                    Value::Array(kv) => kv.get(1).map(entries),
                    _ => None,
                })
                .flatten()
                .collect(),
            Value::Map(m) => m.iter().flat_map(|(_, v)| entries(v)).collect(),
            _ => Vec::new(),
        })
    }

    async fn claim(
        &self,
        c: &mut RedisConn,
        cursor: &mut String,
    ) -> Result<Vec<(String, Option<CashoutId>)>, StoreError> {
        let cfg = &self.queue.config;
        let reply: Vec<Value> = redis::cmd("XAUTOCLAIM")
            .arg(&self.stream)
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(cfg.claim_idle_ms.max(1))
            .arg(cursor.as_str())
            .arg("COUNT")
            .arg(cfg.batch_size.max(1))
            .query_async(c)
            .await?;
        *cursor = reply.first().and_then(text).unwrap_or_else(|| "0-0".into());
        let found = reply.get(1).map(entries).unwrap_or_default();
        if !found.is_empty() {
            info!(stream = %self.stream, claimed = found.len(), "claimed entries of a dead consumer");
        }
        Ok(found)
    }
}

/// An apalis backend over a provider's streams: yields one task per entry read, hands back
/// what it read but did not run when it closes, and leaves the group on a clean stop.
pub struct StreamBackend {
    rx: mpsc::Receiver<Result<Task<CashoutJob>, StoreError>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
    stop: watch::Sender<bool>,
    queue: JobQueue,
    provider: Provider,
    consumer: String,
    closing: Option<BoxFuture<'static, Result<(), StoreError>>>,
}

impl std::fmt::Debug for StreamBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamBackend")
            .field("provider", &self.provider)
            .field("consumer", &self.consumer)
            .finish()
    }
}

impl StreamBackend {
    async fn close(
        queue: JobQueue,
        consumer: String,
        provider: Provider,
        readers: Vec<tokio::task::JoinHandle<()>>,
        mut rx: mpsc::Receiver<Result<Task<CashoutJob>, StoreError>>,
    ) -> Result<(), StoreError> {
        // Take what the readers send until they have all stopped (at most one blocking read
        // each), so that nothing is read for this consumer after it hands back and leaves.
        // Receiving while they stop matters: a reader can be waiting to put a batch into
        // the full channel, and would never see the stop if nobody took it.
        let mut unrun = Vec::new();
        let mut ids = Vec::new();
        while let Some(t) = rx.recv().await {
            if let Ok(t) = t
                && let Some(e) = t.args.entry
            {
                unrun.push(e);
                ids.push(t.args.cashout_id);
            }
        }
        // Every sender is gone: the readers have returned.
        for r in readers {
            let _ = r.await;
        }
        let mut c = queue.conn.clone();
        let mut by_stream: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (e, id) in unrun.into_iter().zip(ids) {
            let args = by_stream.entry(e.stream).or_default();
            args.push(e.id);
            args.push(id.to_string());
        }
        for (stream, args) in by_stream {
            let mut inv = HAND_BACK.prepare_invoke();
            inv.key(&stream).arg(GROUP);
            for a in &args {
                inv.arg(a);
            }
            let n: i64 = inv.invoke_async(&mut c).await?;
            debug!(%stream, handed_back = n, "unrun entries handed back");
        }
        for p in queue.keys.all_partitions() {
            let stream = queue.keys.stream(provider, p);
            let left: i64 = LEAVE
                .key(&stream)
                .arg(GROUP)
                .arg(&consumer)
                .invoke_async(&mut c)
                .await?;
            if left == 0 {
                info!(%stream, %consumer, "consumer left with pending entries; another worker claims them");
            }
        }
        Ok(())
    }
}

impl Backend for StreamBackend {
    type Task = Task<CashoutJob>;
    type Error = StoreError;

    fn poll_ready(
        &mut self,
        _: &mut Context<'_>,
        _: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        _: &WorkerContext,
    ) -> Poll<Option<Result<Self::Task, Self::Error>>> {
        self.rx.poll_recv(cx)
    }

    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        _: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        if self.closing.is_none() {
            let _ = self.stop.send(true);
            // Readers still blocked in a read finish it; what they send is handed back.
            let (_, empty) = mpsc::channel(1);
            let rx = std::mem::replace(&mut self.rx, empty);
            self.closing = Some(Box::pin(Self::close(
                self.queue.clone(),
                self.consumer.clone(),
                self.provider,
                std::mem::take(&mut self.readers),
                rx,
            )));
        }
        match self.closing.as_mut() {
            Some(f) => f.as_mut().poll(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl BackendConfig for StreamBackend {
    type Args = CashoutJob;
    type Id = RandomId;
    type Kind = Ephemeral;
    type Config = QueueConfig;
    type Layer = AckLayer;

    fn config(&self) -> &Self::Config {
        &self.queue.config
    }

    fn middleware(&mut self, _: &mut WorkerContext) -> Self::Layer {
        AckLayer {
            conn: self.queue.conn.clone(),
        }
    }
}

/// Runs each task inside its [delivery scope](crate::delivery) and acknowledges its entry
/// after the handler returns `Ok`, unless the step's last write already did. A handler error
/// (Redis unreachable) leaves the entry pending: it is claimed again after the idle time.
#[derive(Clone)]
pub struct AckLayer {
    conn: RedisConn,
}

impl<S> tower::Layer<S> for AckLayer {
    type Service = AckService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AckService {
            inner,
            conn: self.conn.clone(),
        }
    }
}

/// See [`AckLayer`].
#[derive(Clone)]
pub struct AckService<S> {
    inner: S,
    conn: RedisConn,
}

impl<S> tower::Service<Task<CashoutJob>> for AckService<S>
where
    S: tower::Service<Task<CashoutJob>>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, task: Task<CashoutJob>) -> Self::Future {
        let entry = task.args.entry.clone();
        let fut = self.inner.call(task);
        let mut conn = self.conn.clone();
        // The delivery runs in a task of its own: once started, it finishes (and records what
        // the provider answered) even if the worker that polled it stops.
        let handle = tokio::spawn(async move {
            let (res, outcome) = delivery::scope(entry.clone(), fut).await;
            if let (Ok(_), Some(e), false) = (&res, &entry, outcome.acked) {
                let acked: Result<i64, _> = redis::cmd("XACK")
                    .arg(&e.stream)
                    .arg(GROUP)
                    .arg(&e.id)
                    .query_async(&mut conn)
                    .await;
                if let Err(err) = acked {
                    warn!(entry = %e.id, error = %err, "ack failed; the entry is delivered again after the claim idle time");
                }
            }
            res
        });
        Box::pin(async move {
            match handle.await {
                Ok(res) => res,
                Err(e) => match e.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    // Cancelled: the runtime is going away; the entry stays pending.
                    Err(_) => std::future::pending().await,
                },
            }
        })
    }
}
