//! The cashout store: records, history and indexes, each write atomic (Lua).

use crate::conn::RedisConn;
use crate::keys::Keys;
use cashout_core::{Cashout, CashoutId, HistoryEntry, HistoryKind, IdempotencyKey, ProducerName};
use chrono::{DateTime, Utc};
use redis::{AsyncCommands, Script};
use serde::Deserialize;
use std::sync::LazyLock;
use std::time::Duration;

/// The record's layout and its helpers, shared by every script that reads or writes a record.
const RECORD_LUA: &str = include_str!("lua/record.lua");
pub(crate) fn record_script(body: &str) -> Script {
    Script::new(&format!("{RECORD_LUA}\n{body}"))
}
static CLAIM: LazyLock<Script> = LazyLock::new(|| record_script(include_str!("lua/claim.lua")));
static RELEASE: LazyLock<Script> = LazyLock::new(|| record_script(include_str!("lua/release.lua")));
static RENEW: LazyLock<Script> = LazyLock::new(|| record_script(include_str!("lua/renew.lua")));

/// Length of the record's fixed header (see `lua/record.lua`); the JSON follows it.
pub const RECORD_HEADER_LEN: usize = 87;

/// A stored record value split into its parts (see `lua/record.lua`): the fixed header, the
/// cashout as JSON up to the first `\n` after the header (compact JSON never holds a raw
/// newline), then each history line after a `\n`, oldest first. Splitting checks only the
/// length: whether the header is well formed is [`crate::corrupt::valid_header`]'s business.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordParts<'a> {
    /// The header, [`RECORD_HEADER_LEN`] bytes.
    pub header: &'a [u8],
    /// The cashout as JSON.
    pub json: &'a [u8],
    /// Empty, or the history lines each preceded by `\n`.
    tail: &'a [u8],
}

impl<'a> RecordParts<'a> {
    /// Splits a stored value; `None` when it is shorter than a header.
    pub fn split(stored: &'a [u8]) -> Option<Self> {
        let header = stored.get(..RECORD_HEADER_LEN)?;
        let rest = stored.get(RECORD_HEADER_LEN..)?;
        let (json, tail) = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => rest.split_at(i),
            None => (rest, &[][..]),
        };
        Some(Self { header, json, tail })
    }

    /// The history lines as stored (compact JSON), oldest first.
    pub fn lines(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        // The tail starts with `\n`: the piece before it is empty and not a line.
        self.tail.split(|b| *b == b'\n').skip(1)
    }
}
/// How to reach Redis. Its `Debug` hides a password in the URL.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:port/db`, or a comma-separated list of cluster seed nodes.
    pub url: String,
    /// Prefix of every key we write.
    pub prefix: String,
    /// How long one Redis command may take before it counts as failed. redis-rs' default
    /// (500 ms) killed workers during a short Redis pause; see docs/queue.md.
    pub response_timeout_ms: u64,
    /// How long connecting may take.
    pub connection_timeout_ms: u64,
    /// How long a finished cashout is kept (the record with its history, the idempotency key).
    pub retention_days: u64,
    /// Hash-tagged partitions the keys are spread over (Redis Cluster: several per master).
    /// Changing it moves every key: set it once, before the first cashout.
    pub partitions: u16,
    /// A cashout put on a stream is delivered again if no step is recorded within this time
    /// (a lost or deleted entry; a dead worker's entries are claimed sooner, see
    /// `worker.queue.claim_idle_ms`).
    pub redeliver_after_ms: u64,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(&self.url))
            .field("prefix", &self.prefix)
            .field("response_timeout_ms", &self.response_timeout_ms)
            .field("connection_timeout_ms", &self.connection_timeout_ms)
            .field("retention_days", &self.retention_days)
            .field("partitions", &self.partitions)
            .field("redeliver_after_ms", &self.redeliver_after_ms)
            .finish()
    }
}

/// A Redis URL (or a comma-separated list of them) with any password replaced by `***`, whatever
/// its shape: with or without `scheme://`, a password containing `@`, `:` or `,`, several seed
/// nodes, or a `pass`/`password` query parameter (`redis+unix:///tmp/redis.sock?pass=…`). A
/// userinfo without `:` (`redis://secret@host`) is hidden whole, since it may be a password.
pub fn redact_url(url: &str) -> String {
    redact_query(&redact_userinfo(url))
}

/// Every `…@` (the userinfo of each node) becomes `user:***@` or `***@`.
fn redact_userinfo(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(first) = rest.find('@') {
        // The userinfo ends at the last `@` of this node (up to the next seed node's comma): a
        // password may hold a raw `@`. Later `@`s in a path or query only widen what is hidden.
        let node_end = rest[first..].find(',').map_or(rest.len(), |i| first + i);
        let at = rest[..node_end].rfind('@').unwrap_or(first);
        let before = &rest[..at];
        // The userinfo starts after the scheme of this node: the last `scheme://` at the start
        // or after a comma (a `://` inside a password is not one); without a scheme, after the
        // last comma (the start of the next seed node), or at the start.
        let start = scheme_end(before)
            .or_else(|| before.rfind(',').map(|i| i + 1))
            .unwrap_or(0);
        out.push_str(&before[..start]);
        match before[start..].split_once(':') {
            Some((user, _)) => {
                out.push_str(user);
                out.push_str(":***@");
            }
            None => out.push_str("***@"),
        }
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out
}

/// Where the last node's `scheme://` in `s` ends: a `://` preceded by a scheme (letters, digits,
/// `+`, `-`, `.`) that starts `s` or follows a comma.
fn scheme_end(s: &str) -> Option<usize> {
    s.match_indices("://")
        .map(|(i, _)| i)
        .filter(|&i| {
            let head = s[..i].trim_end_matches(|c: char| {
                c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'
            });
            head.trim_end().is_empty() || head.trim_end().ends_with(',')
        })
        .last()
        .map(|i| i + 3)
}

/// The value of every `pass=` / `password=` query parameter becomes `***`.
fn redact_query(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(i) = rest.find(['?', '&']) {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let end = rest.find(['&', '#', ',']).unwrap_or(rest.len());
        let (param, tail) = rest.split_at(end);
        match param.split_once('=') {
            Some((k, _))
                if k.eq_ignore_ascii_case("pass") || k.eq_ignore_ascii_case("password") =>
            {
                out.push_str(k);
                out.push_str("=***");
            }
            _ => out.push_str(param),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379".to_owned(),
            prefix: "cashout".to_owned(),
            response_timeout_ms: 5_000,
            connection_timeout_ms: 2_000,
            retention_days: 30,
            partitions: 1,
            redeliver_after_ms: 60_000,
        }
    }
}

/// A Redis failure or a record we cannot read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Redis refused or did not answer. Safe to retry: every write is a single atomic script.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A stored value does not decode.
    #[error("corrupt record {key}: {message}")]
    Corrupt {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The record kept changing under a read-modify-write.
    #[error("the record kept changing; try again")]
    Contention,
    /// A delivery that read the record without a lease found one taken by somebody else (an
    /// operator) when it came to write: it stops; the holder's write schedules what follows.
    #[error("the cashout is leased by somebody else")]
    Leased,
    /// Pushing a job to the queue failed.
    #[error("queue: {0}")]
    Queue(String),
}

/// Result of [`Store::create`].
#[derive(Debug)]
pub enum CreateOutcome {
    /// A new cashout was written (and delivered, or scheduled).
    Created,
    /// The idempotency key was taken: the record of its id, as stored (the caller checks that
    /// it is the same producer's, with the same key).
    Existing(Box<Cashout>),
}

/// Result of [`Store::save`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    /// Written.
    Saved,
    /// Someone else wrote first: re-read and decide again.
    Conflict,
}

/// What a [`Store::modify`] closure decides.
#[derive(Debug)]
pub enum Change<T> {
    /// Write the modified record with these history lines.
    Write {
        /// History lines to append.
        entries: Vec<HistoryEntry>,
        /// Returned to the caller.
        value: T,
    },
    /// Write nothing.
    Skip(T),
}

/// What a [`Store::modify`] did.
#[derive(Debug)]
pub enum Modified<T> {
    /// Written: the record as stored now, the lines appended, the closure's value.
    Written(Cashout, Vec<HistoryEntry>, T),
    /// Nothing written: the record as read, the closure's value.
    Skipped(Cashout, T),
    /// No such cashout.
    NotFound,
}

/// What a write does besides the record, in the same script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteMode {
    /// The write completes a step: the delivery counter is reset, and inside a delivery the
    /// lease is given back and the stream entry acknowledged.
    pub completes_step: bool,
    /// Deliver the next step: onto the stream when it is due now, else into the due zset.
    /// When unset (shutting down), the due zset only: a live process promotes it.
    pub push: bool,
}

/// What [`Store::claim`] found.
#[derive(Debug)]
pub enum Claim {
    /// No such record.
    Missing,
    /// Terminal, parked, or not yet due.
    NotDue,
    /// Another holder has the lease.
    Busy,
    /// Ours, with the delivery count since the last completed step.
    Claimed(Box<Cashout>, u32),
    /// The record cannot be decoded: it was parked `corrupt_record` as found (see
    /// [`Store::claim`]), with this (redacted) error.
    Corrupt(String),
}

/// What [`Store::peek`] found.
#[derive(Debug)]
pub enum Peek {
    /// Due, leased by nobody, decodable: the delivery may go on without a claim.
    Ready(Box<Cashout>),
    /// Anything else (missing, not due, leased, undecodable): take the claim script's path,
    /// which keeps the due zset in step, counts, or parks as corrupt.
    Claim,
}

/// The header fields [`Store::peek`] checks: the due time (ms, `None` when nothing is due) and
/// whether the claim script must look at it: a lease live at `now_ms`, or deliveries counted
/// since the last completed step (a crash loop in the making is counted and parked there).
/// `None` for a malformed header.
pub(crate) fn header_due_and_leased(stored: &[u8], now_ms: i64) -> Option<(Option<i64>, bool)> {
    if !crate::corrupt::valid_header(stored) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        std::str::from_utf8(stored.get(r)?)
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let due = num(12..25);
    let lease_until = num(26..39).unwrap_or(0);
    let deliveries = num(40..45).unwrap_or(0);
    let token_blank = stored.get(46..86)?.iter().all(|b| *b == b' ');
    Some((
        due,
        (!token_blank && lease_until > now_ms) || deliveries > 0,
    ))
}

/// The store's batchers (see [`crate::batch`]), shared by its clones.
#[derive(Debug, Clone, Default)]
struct Batches {
    saves: crate::batch::Batcher<crate::batch::Saves>,
    creates: crate::batch::Batcher<crate::batch::Creates>,
    reads: crate::batch::Batcher<crate::batch::Reads>,
}

/// Cashout records in Redis.
#[derive(Clone)]
pub struct Store {
    conn: RedisConn,
    batches: Batches,
    keys: Keys,
    retention: Duration,
    redeliver: Duration,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("keys", &self.keys).finish()
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn ms_of(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    // Our own types always serialize: no maps with non-string keys, no failing impls.
    serde_json::to_string(v).unwrap_or_else(|e| format!("{{\"serialize_error\":\"{e}\"}}"))
}

impl Store {
    /// A store over an open connection.
    pub fn new(conn: RedisConn, config: &RedisConfig) -> Self {
        Self {
            conn,
            batches: Batches::default(),
            keys: Keys::with_partitions(config.prefix.clone(), config.partitions),
            retention: Duration::from_secs(config.retention_days.saturating_mul(86_400)),
            redeliver: Duration::from_millis(config.redeliver_after_ms.max(1)),
        }
    }

    /// The key names.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The connection (cheap to clone).
    pub fn connection(&self) -> RedisConn {
        self.conn.clone()
    }

    /// How long a delivered cashout waits for a step before it is delivered again.
    pub fn redelivery(&self) -> Duration {
        self.redeliver
    }

    /// `PING`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut c).await?;
        Ok(())
    }

    /// Gives `cashout` the id of its producer-scoped idempotency key ([`Keys::cashout_id`]):
    /// its record key is then the key's idempotency record, in the partition of that id.
    pub fn place(&self, cashout: &mut Cashout) {
        let id = self
            .keys
            .cashout_id(&cashout.producer, &cashout.order.idempotency_key);
        if cashout.id != id {
            cashout.reassign_id(id);
        }
    }

    /// Writes a new cashout with its first history line unless its record exists (the same
    /// idempotency key was used before: its id is the key's), and delivers its first step
    /// (onto the stream when due now), in one script. The id must be
    /// [placed](Store::place). A taken key answers the existing record, read in the same
    /// script.
    pub async fn create(
        &self,
        cashout: &Cashout,
        entry: &HistoryEntry,
    ) -> Result<CreateOutcome, StoreError> {
        if cashout.id
            != self
                .keys
                .cashout_id(&cashout.producer, &cashout.order.idempotency_key)
        {
            return Err(StoreError::Queue(
                "a new cashout's id must be its idempotency key's (Store::place)".to_owned(),
            ));
        }
        let now = Utc::now();
        let provider = cashout.order.provider;
        let due = cashout.next_action_at.map_or(ms(now), ms);
        let key = self.keys.record(&cashout.id);
        let item = crate::batch::CreateItem {
            record: key.clone(),
            args: [
                cashout.id.to_string(),
                to_json(cashout),
                cashout.version.to_string(),
                compact_entry(entry, &cashout.trace_id.to_string()),
                due.to_string(),
                ms(now)
                    .saturating_add_unsigned(ms_of(self.redeliver))
                    .to_string(),
                (if due <= ms(now) { "1" } else { "0" }).to_owned(),
            ],
        };
        let stream = (provider, self.keys.partition(&cashout.id));
        let reply = self
            .batches
            .creates
            .send(&self.conn, &self.keys, stream, item)
            .await?;
        let v: Vec<redis::Value> =
            redis::from_redis_value(reply).map_err(|e| StoreError::Corrupt {
                key: key.clone(),
                message: e.to_string(),
            })?;
        let parse_err = |e: redis::ParsingError| StoreError::Corrupt {
            key: key.clone(),
            message: e.to_string(),
        };
        let code: i64 = match v.first() {
            Some(x) => redis::from_redis_value_ref(x).map_err(parse_err)?,
            None => 2,
        };
        match (code, v.get(1)) {
            (1, _) => Ok(CreateOutcome::Created),
            (0, Some(json)) => {
                let json: Vec<u8> = redis::from_redis_value_ref(json).map_err(parse_err)?;
                let existing = self.decode(&cashout.id, &json)?;
                Ok(CreateOutcome::Existing(Box::new(existing)))
            }
            _ => Err(StoreError::Corrupt {
                key,
                message: "the record's header is malformed".to_owned(),
            }),
        }
    }

    /// The JSON of a stored record (the record without its header and history lines). A
    /// malformed header is refused here as `claim.lua` refuses it, so a record reads the same
    /// everywhere.
    fn body<'a>(&self, id: &CashoutId, stored: &'a [u8]) -> Result<&'a [u8], StoreError> {
        match RecordParts::split(stored) {
            Some(parts) if crate::corrupt::valid_header(stored) => Ok(parts.json),
            _ => Err(StoreError::Corrupt {
                key: self.keys.record(id),
                message: "the record's header is malformed".to_owned(),
            }),
        }
    }

    pub(crate) fn decode(&self, id: &CashoutId, data: &[u8]) -> Result<Cashout, StoreError> {
        serde_json::from_slice(data).map_err(|e| StoreError::Corrupt {
            key: self.keys.record(id),
            message: crate::corrupt::describe(&e),
        })
    }

    /// Reads a record. One that cannot be decoded is [`StoreError::Corrupt`] (see
    /// [`Store::corrupt`] for what was recorded when it was parked).
    pub async fn get(&self, id: &CashoutId) -> Result<Option<Cashout>, StoreError> {
        let key = self.keys.record(id);
        let mut c = self.conn.clone();
        let stored: Option<Vec<u8>> = c.get(&key).await?;
        stored
            .map(|d| self.body(id, &d).and_then(|json| self.decode(id, json)))
            .transpose()
    }

    /// How long a finished cashout is kept (zero: forever).
    pub(crate) fn retention(&self) -> Duration {
        self.retention
    }

    /// Takes `id` for one delivery in one round trip: reads the record, checks that a step is
    /// due (within `early`), takes its lease under `token` for `lease` and counts the
    /// delivery. Inside a [delivery scope](crate::delivery), later writes start from the
    /// record read here.
    ///
    /// A record that cannot be decoded (a malformed header, JSON that is not a cashout, too
    /// deep) would be delivered forever: it is parked `corrupt_record` instead, in one script
    /// that leaves its due zsets, joins the parked zset, records why in a side key and
    /// acknowledges the delivery's stream entry, keeping the record's bytes as found
    /// ([`Claim::Corrupt`]).
    /// `provider` names the due zset the delivery came from (a stream's), kept in step with the
    /// record when the delivery does nothing.
    pub async fn claim(
        &self,
        id: &CashoutId,
        provider: Option<cashout_core::Provider>,
        token: &str,
        lease: Duration,
        early: Duration,
    ) -> Result<Claim, StoreError> {
        self.claim_with(id, provider, token, lease, early, true)
            .await
    }

    async fn claim_with(
        &self,
        id: &CashoutId,
        provider: Option<cashout_core::Provider>,
        token: &str,
        lease: Duration,
        early: Duration,
        delivery: bool,
    ) -> Result<Claim, StoreError> {
        let mut c = self.conn.clone();
        let mut inv = CLAIM.prepare_invoke();
        inv.key(self.keys.record(id));
        if let Some(p) = provider {
            inv.key(self.keys.due_of(id, p));
        }
        let v: Vec<redis::Value> = inv
            .arg(ms(Utc::now()))
            .arg(ms_of(early))
            .arg(token)
            .arg(ms_of(lease).max(1))
            // A delivery requires a due step and counts itself; an operator's lease does neither.
            .arg(if delivery { "1" } else { "0" })
            .arg(if delivery { "1" } else { "0" })
            .arg(id.to_string())
            .invoke_async(&mut c)
            .await?;
        let key = self.keys.record(id);
        let parse_err = |e: redis::ParsingError| StoreError::Corrupt {
            key: key.clone(),
            message: e.to_string(),
        };
        let code: i64 = match v.first() {
            Some(x) => redis::from_redis_value_ref(x).map_err(parse_err)?,
            None => 0,
        };
        // Only a delivery parks what it cannot decode; an operator's lease reports it.
        let parking = match provider {
            Some(p) if delivery => Some(p),
            _ => None,
        };
        Ok(match (code, v.get(1), v.get(2)) {
            (1, ..) => Claim::NotDue,
            (2, ..) => Claim::Busy,
            (3, Some(data), Some(n)) => {
                let data: Vec<u8> = redis::from_redis_value_ref(data).map_err(parse_err)?;
                let n: i64 = redis::from_redis_value_ref(n).map_err(parse_err)?;
                match (self.decode(id, &data), parking) {
                    (Ok(rec), _) => {
                        crate::delivery::claimed(*id, token, &rec);
                        Claim::Claimed(Box::new(rec), u32::try_from(n).unwrap_or(u32::MAX))
                    }
                    (Err(StoreError::Corrupt { message, .. }), Some(p)) => {
                        let before: Vec<u8> = match v.get(3) {
                            Some(x) => redis::from_redis_value_ref(x).map_err(parse_err)?,
                            None => Vec::new(),
                        };
                        let found = crate::corrupt::Found::Body {
                            json: &data,
                            lease_before: &before,
                            token,
                        };
                        self.park_corrupt(id, p, &message, found).await?
                    }
                    (Err(e), _) => return Err(e),
                }
            }
            (4, ..) => {
                let message = "the record's header is malformed".to_owned();
                match parking {
                    Some(p) => {
                        self.park_corrupt(id, p, &message, crate::corrupt::Found::Header)
                            .await?
                    }
                    None => {
                        return Err(StoreError::Corrupt {
                            key: key.clone(),
                            message,
                        });
                    }
                }
            }
            _ => Claim::Missing,
        })
    }

    /// A first delivery's read, without a script: one `GET`. When the record is due (within
    /// `early`), leased by nobody, uncounted and decodable, the delivery goes on from it without
    /// a lease; its first write that does not complete the step (a create's intent) checks that
    /// nobody took one meanwhile and takes it under `token` for `lease` (see
    /// [`crate::delivery`]). Anything else is [`Peek::Claim`]: the caller takes the claim
    /// script's path. A first delivery is not counted: only a redelivery (a claim) can be a
    /// crash loop.
    pub async fn peek(
        &self,
        id: &CashoutId,
        provider: cashout_core::Provider,
        token: &str,
        lease: Duration,
        early: Duration,
    ) -> Result<Peek, StoreError> {
        let stored = self
            .batches
            .reads
            .send(
                &self.conn,
                &self.keys,
                (provider, self.keys.partition(id)),
                self.keys.record(id),
            )
            .await?;
        let Some(stored) = stored else {
            return Ok(Peek::Claim);
        };
        let now = ms(Utc::now());
        match header_due_and_leased(&stored, now) {
            Some((Some(due), false)) if due <= now.saturating_add_unsigned(ms_of(early)) => {}
            _ => return Ok(Peek::Claim),
        }
        let Ok(rec) = self
            .body(id, &stored)
            .and_then(|json| self.decode(id, json))
        else {
            return Ok(Peek::Claim);
        };
        crate::delivery::peeked(*id, token, lease, &rec);
        Ok(Peek::Ready(Box::new(rec)))
    }

    /// Takes the per-cashout lease for `ttl` unless someone holds it (an operator action such
    /// as a revoke; no due check, no delivery counted).
    pub async fn try_lease(
        &self,
        id: &CashoutId,
        owner: &str,
        ttl: Duration,
    ) -> Result<Claim, StoreError> {
        self.claim_with(id, None, owner, ttl, Duration::ZERO, false)
            .await
    }

    /// Gives the lease back if we still hold it.
    pub async fn release_lease(&self, id: &CashoutId, owner: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: i64 = RELEASE
            .key(self.keys.record(id))
            .arg(owner)
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }

    /// Extends the lease we hold on `id` to `ttl` from now (the step's heartbeat). Returns false
    /// when the lease is no longer ours.
    pub async fn renew_lease(
        &self,
        id: &CashoutId,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let n: i64 = RENEW
            .key(self.keys.record(id))
            .arg(owner)
            .arg(ms(Utc::now()).saturating_add_unsigned(ms_of(ttl)))
            .invoke_async(&mut c)
            .await?;
        Ok(n == 1)
    }

    /// The cashout a producer's idempotency key created: the record of the key's id, when it
    /// holds that producer's cashout with that key (so not even a hash collision could answer
    /// another producer's cashout). A record that does not decode cannot be checked: `None`.
    pub async fn find_by_key(
        &self,
        producer: &ProducerName,
        key: &IdempotencyKey,
    ) -> Result<Option<CashoutId>, StoreError> {
        let id = self.keys.cashout_id(producer, key);
        Ok(match self.get(&id).await {
            Ok(Some(c))
                if c.id == id && &c.producer == producer && &c.order.idempotency_key == key =>
            {
                Some(id)
            }
            Ok(_) | Err(StoreError::Corrupt { .. }) => None,
            Err(e) => return Err(e),
        })
    }

    /// The history of `cashout`, oldest first. Lines stored without a trace id get the
    /// cashout's.
    pub async fn history(&self, cashout: &Cashout) -> Result<Vec<HistoryEntry>, StoreError> {
        let key = self.keys.record(&cashout.id);
        let mut c = self.conn.clone();
        let stored: Option<Vec<u8>> = c.get(&key).await?;
        let Some(parts) = stored.as_deref().and_then(RecordParts::split) else {
            return Ok(Vec::new());
        };
        let trace = cashout.trace_id.to_string();
        parts
            .lines()
            .map(|l| {
                let corrupt = |message: String| StoreError::Corrupt {
                    key: key.clone(),
                    message,
                };
                let l = std::str::from_utf8(l)
                    .map_err(|_| corrupt("a history line is not UTF-8".to_owned()))?;
                let mut e = parse_entry(l).map_err(|e| corrupt(crate::corrupt::describe(&e)))?;
                if e.trace_id.is_empty() {
                    e.trace_id.clone_from(&trace);
                }
                Ok(e)
            })
            .collect()
    }

    /// Writes `next` if the stored version is still `expected`, with its history lines, keeps
    /// the due and parked indexes in step and delivers the next step as `mode` says, in one
    /// script, together with the other writes of its stream that are waiting (see
    /// [`crate::batch`]). `prev` is the record `next` was made from. Sets `next.version` and
    /// `next.updated_at`.
    pub async fn save(
        &self,
        prev: &Cashout,
        next: &mut Cashout,
        entries: &[HistoryEntry],
        mode: WriteMode,
        now: DateTime<Utc>,
    ) -> Result<SaveOutcome, StoreError> {
        let expected = prev.version;
        next.version = expected + 1;
        next.updated_at = now;
        let provider = next.order.provider;
        let due = if next.state.is_terminal() || next.parked.is_some() {
            None
        } else {
            next.next_action_at.map(ms)
        };
        // A completing write whose next step is a status read due soon continues the delivery
        // (see `delivery::allow_continue`): the lease is given back, but no ack and nothing
        // scheduled; the pending entry and the due zset's redelivery deadline still cover the
        // cashout.
        let continue_at = if mode.completes_step && mode.push {
            crate::delivery::may_continue(&next.id).and_then(|within| {
                due.filter(|d| *d <= ms(now).saturating_add_unsigned(ms_of(within)))
            })
        } else {
            None
        };
        let deliver_now = continue_at.is_none() && mode.push && due.is_some_and(|d| d <= ms(now));
        // A write in the middle of a delivery leaves the due zset as it is: the delivery's
        // pending entry covers the cashout, and the write that completes the step schedules.
        let keep_due = continue_at.is_some()
            || (!mode.completes_step && due.is_some() && crate::delivery::holds_entry(&next.id));
        let due_op = match due {
            _ if keep_due => "k".to_owned(),
            None => String::new(),
            Some(_) if deliver_now => ms(now)
                .saturating_add_unsigned(ms_of(self.redeliver))
                .to_string(),
            Some(d) => d.to_string(),
        };
        let parked_op = match (&prev.parked, &next.parked) {
            (_, Some(p)) if prev.parked.as_ref() != Some(p) => ms(p.at).to_string(),
            (Some(_), None) => "r".to_owned(),
            _ => String::new(),
        };
        let retention = if next.state.is_terminal() && !self.retention.is_zero() {
            self.retention.as_millis().to_string()
        } else {
            String::new()
        };
        let (lease, entry) = if mode.completes_step {
            let (lease, entry) = crate::delivery::finishing(&next.id);
            (lease, entry.filter(|_| continue_at.is_none()))
        } else {
            (None, None)
        };
        // Counted once, by the write that finishes or parks the cashout.
        let outcome = if next.state.is_terminal() && !prev.state.is_terminal() {
            format!("{provider}:{}", next.state)
        } else if next.parked.is_some() && prev.parked.is_none() {
            format!("{provider}:parked")
        } else {
            String::new()
        };
        // Read without a lease: the first write that does not complete the step (a create's
        // intent) checks that nobody holds one, and takes it. A completing write records what
        // happened (a read's or a provider's answer) and is never refused for a lease: its
        // compare-and-set is enough.
        let take = if mode.completes_step {
            None
        } else {
            crate::delivery::lease_to_take(&next.id)
        };
        let minute = ms(now).div_euclid(60_000);
        let trace = next.trace_id.to_string();
        let mut args = vec![
            expected.to_string(),
            next.version.to_string(),
            to_json(next),
            next.id.to_string(),
            due.map_or(String::new(), |d| d.to_string()),
            due_op,
            parked_op,
            (if mode.completes_step { "1" } else { "0" }).to_owned(),
            retention,
            (if deliver_now { "1" } else { "0" }).to_owned(),
            lease.clone().unwrap_or_default(),
            entry.as_ref().map_or(String::new(), |e| e.id.clone()),
            outcome,
            take.as_ref().map_or(String::new(), |(t, _)| t.clone()),
            take.as_ref()
                .map_or(0, |(_, lease)| {
                    ms(now).saturating_add_unsigned(ms_of(*lease).max(1))
                })
                .to_string(),
            entries.len().to_string(),
        ];
        args.extend(entries.iter().map(|e| compact_entry(e, &trace)));
        let item = crate::batch::SaveItem {
            record: self.keys.record(&next.id),
            outcomes: self.keys.outcomes_of(&next.id, minute),
            args,
        };
        // The delivery's entry is on this stream: the cashout's provider's, in its partition.
        let stream = (provider, self.keys.partition(&next.id));
        let ok = self
            .batches
            .saves
            .send(&self.conn, &self.keys, stream, item)
            .await?;
        if ok == 3 {
            return Err(StoreError::Corrupt {
                key: self.keys.record(&next.id),
                message: "the record's key does not hold a string".to_owned(),
            });
        }
        if ok == 2 {
            // Someone took the lease since this delivery read the record (an operator).
            crate::delivery::remember(&next.id, None);
            return Err(StoreError::Leased);
        }
        if ok == 1 {
            if take.is_some() {
                crate::delivery::lease_taken(&next.id);
            }
            crate::delivery::finished(&next.id, lease.is_some(), entry.is_some());
            if let Some(at) = continue_at.and_then(DateTime::<Utc>::from_timestamp_millis) {
                crate::delivery::continuing(at);
            }
            crate::delivery::remember(&next.id, Some(next));
            Ok(SaveOutcome::Saved)
        } else {
            crate::delivery::remember(&next.id, None);
            Ok(SaveOutcome::Conflict)
        }
    }

    /// Applies `f` to the freshest record and writes the result with a compare-and-set; on a
    /// conflict, re-reads and applies `f` again, so `f` must decide from the record it is given.
    /// A write outside a delivery delivers whatever it makes due.
    pub async fn modify<T, F>(
        &self,
        id: &CashoutId,
        completes_step: bool,
        f: F,
    ) -> Result<Modified<T>, StoreError>
    where
        F: FnMut(&mut Cashout, DateTime<Utc>) -> Change<T>,
    {
        let mode = WriteMode {
            completes_step,
            push: true,
        };
        self.modify_with(id, mode, f).await
    }

    /// [`Store::modify`] with an explicit [`WriteMode`]. Inside a delivery, the first try starts
    /// from the record as last claimed or written, without a read.
    pub async fn modify_with<T, F>(
        &self,
        id: &CashoutId,
        mode: WriteMode,
        mut f: F,
    ) -> Result<Modified<T>, StoreError>
    where
        F: FnMut(&mut Cashout, DateTime<Utc>) -> Change<T>,
    {
        const TRIES: usize = 16;
        let mut known = crate::delivery::cached(id);
        for _ in 0..TRIES {
            let rec = match known.take() {
                Some(r) => r,
                None => match self.get(id).await? {
                    Some(r) => r,
                    None => return Ok(Modified::NotFound),
                },
            };
            let now = Utc::now();
            let mut next = rec.clone();
            match f(&mut next, now) {
                Change::Skip(v) => return Ok(Modified::Skipped(rec, v)),
                Change::Write { entries, value } => {
                    match self.save(&rec, &mut next, &entries, mode, now).await? {
                        SaveOutcome::Saved => return Ok(Modified::Written(next, entries, value)),
                        SaveOutcome::Conflict => continue,
                    }
                }
            }
        }
        Err(StoreError::Contention)
    }

    /// Parked ids with their parking time (ms), from `min_ms` on, in order over all
    /// partitions: `count` of them after skipping `offset`.
    pub async fn parked_range(
        &self,
        min_ms: i64,
        offset: usize,
        count: usize,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let mut c = self.conn.clone();
        let mut all: Vec<(String, i64)> = Vec::new();
        // Each partition's first `offset + count` are enough to know the merged page.
        for p in self.keys.all_partitions() {
            let raw: Vec<(String, f64)> = redis::cmd("ZRANGE")
                .arg(self.keys.parked(p))
                .arg(min_ms)
                .arg("+inf")
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(offset.saturating_add(count))
                .arg("WITHSCORES")
                .query_async(&mut c)
                .await?;
            #[allow(clippy::cast_possible_truncation)]
            all.extend(raw.into_iter().map(|(id, s)| (id, s as i64)));
        }
        all.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        Ok(all.into_iter().skip(offset).take(count).collect())
    }

    /// Number of parked cashouts.
    pub async fn parked_count(&self) -> Result<u64, StoreError> {
        let mut c = self.conn.clone();
        let mut n = 0;
        for p in self.keys.all_partitions() {
            let k: u64 = c.zcard(self.keys.parked(p)).await?;
            n += k;
        }
        Ok(n)
    }

    /// Number of non-terminal, unparked cashouts.
    pub async fn pending_count(&self) -> Result<u64, StoreError> {
        let mut c = self.conn.clone();
        let mut n = 0;
        for p in self.keys.all_partitions() {
            for provider in cashout_core::Provider::ALL {
                let k: u64 = c.zcard(self.keys.due(provider, p)).await?;
                n += k;
            }
        }
        Ok(n)
    }
}

/// A history line as stored: short field names, the time in microseconds, and without the
/// trace id when it is the record's own (it is put back on read), so a line costs little more
/// than its cause. Lines in the long form ([`HistoryEntry`]) are read too.
#[derive(serde::Serialize, Deserialize)]
struct StoredEntry {
    t: i64,
    k: HistoryKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    f: Option<cashout_core::State>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    o: Option<cashout_core::State>,
    c: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    a: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    r: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

pub(crate) fn compact_entry(e: &HistoryEntry, record_trace: &str) -> String {
    to_json(&StoredEntry {
        t: e.at.timestamp_micros(),
        k: e.kind,
        f: e.from,
        o: e.to,
        c: e.cause.clone(),
        a: e.attempt,
        r: if e.trace_id == record_trace {
            String::new()
        } else {
            e.trace_id.clone()
        },
    })
}

pub(crate) fn parse_entry(line: &str) -> Result<HistoryEntry, serde_json::Error> {
    match serde_json::from_str::<StoredEntry>(line) {
        Ok(s) => Ok(HistoryEntry {
            at: DateTime::from_timestamp_micros(s.t).unwrap_or_default(),
            kind: s.k,
            from: s.f,
            to: s.o,
            cause: s.c,
            attempt: s.a,
            trace_id: s.r,
        }),
        Err(_) => serde_json::from_str(line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cashout_core::State;

    fn entry(trace: &str) -> HistoryEntry {
        HistoryEntry {
            at: DateTime::from_timestamp_micros(1_796_304_250_036_123).unwrap(),
            kind: cashout_core::HistoryKind::Transition,
            from: Some(State::Created),
            to: Some(State::Submitted),
            cause: "camoo accepted: payment 1 (PENDING)".into(),
            attempt: 1,
            trace_id: trace.into(),
        }
    }

    #[test]
    fn stored_history_lines_round_trip_and_drop_the_records_own_trace() {
        let own = "0af7651916cd43dd8448eb211c80319c";
        let line = compact_entry(&entry(own), own);
        assert!(!line.contains(own), "{line}");
        let back = parse_entry(&line).unwrap();
        // The trace id is put back by `Store::history`, from the record.
        assert_eq!(
            back,
            HistoryEntry {
                trace_id: String::new(),
                ..entry(own)
            }
        );
        // Another trace is kept.
        let other = compact_entry(&entry("ffff"), own);
        assert_eq!(parse_entry(&other).unwrap(), entry("ffff"));
        // Lines written in the long form are still read.
        let long = serde_json::to_string(&entry(own)).unwrap();
        assert_eq!(parse_entry(&long).unwrap(), entry(own));
        assert!(line.len() < long.len() - 40, "{line} vs {long}");
    }

    fn header() -> String {
        format!(
            "V{:010}D{:013}L{:013}N{:05}T{}\n",
            3,
            17,
            0,
            1,
            " ".repeat(40)
        )
    }

    fn header_with(due: Option<i64>, lease_until: i64, deliveries: u32, token: &str) -> String {
        let due = due.map_or_else(|| " ".repeat(13), |d| format!("{d:013}"));
        format!(
            "V{:010}D{due}L{lease_until:013}N{deliveries:05}T{token:<40}\n{{}}",
            1
        )
    }

    #[test]
    fn a_first_read_goes_on_only_when_due_unleased_and_uncounted() {
        let now = 1_000_000;
        let tok = "a".repeat(40);
        let check = |v: String| header_due_and_leased(v.as_bytes(), now);
        assert_eq!(
            check(header_with(Some(5), 0, 0, "")),
            Some((Some(5), false))
        );
        assert_eq!(check(header_with(None, 0, 0, "")), Some((None, false)));
        // A live lease, or one that lapsed.
        assert_eq!(
            check(header_with(Some(5), now + 1, 0, &tok)),
            Some((Some(5), true))
        );
        assert_eq!(
            check(header_with(Some(5), now - 1, 0, &tok)),
            Some((Some(5), false))
        );
        // Deliveries counted since the last completed step: the claim counts this one too.
        assert_eq!(check(header_with(Some(5), 0, 2, "")), Some((Some(5), true)));
        // A malformed header.
        assert_eq!(header_due_and_leased(b"V12", now), None);
    }

    #[test]
    fn a_stored_value_splits_into_header_json_and_lines() {
        let h = header();
        assert_eq!(h.len(), RECORD_HEADER_LEN);
        let value = format!("{h}{{\"a\":1}}\n{{\"t\":1}}\n{{\"t\":2}}");
        let p = RecordParts::split(value.as_bytes()).unwrap();
        assert_eq!(p.header, h.as_bytes());
        assert_eq!(p.json, b"{\"a\":1}");
        let lines: Vec<&[u8]> = p.lines().collect();
        assert_eq!(lines, vec![&b"{\"t\":1}"[..], &b"{\"t\":2}"[..]]);
        // No history line.
        let bare = format!("{h}{{\"a\":1}}");
        let p = RecordParts::split(bare.as_bytes()).unwrap();
        assert_eq!(p.json, b"{\"a\":1}");
        assert_eq!(p.lines().count(), 0);
        // A header only; shorter than a header.
        let p = RecordParts::split(h.as_bytes()).unwrap();
        assert!(p.json.is_empty() && p.lines().count() == 0);
        assert_eq!(RecordParts::split(&h.as_bytes()[..86]), None);
        assert_eq!(RecordParts::split(b""), None);
    }

    proptest::proptest! {
        /// Whatever a cashout's JSON and its history lines hold (any text, newlines included in
        /// the values), their compact serialisation never holds a raw newline, so a record
        /// written as header + JSON + `\n` + each line splits back into exactly them.
        #[test]
        fn records_split_back_into_what_was_written(
            cause in proptest::collection::vec(".*", 0..6),
            meta in ".*",
        ) {
            let json = to_json(&serde_json::json!({ "metadata": { "note": meta } }));
            let lines: Vec<String> = cause
                .iter()
                .map(|c| compact_entry(&HistoryEntry { cause: c.clone(), ..entry("x") }, "y"))
                .collect();
            let mut value = header() + &json;
            for l in &lines {
                value.push('\n');
                value.push_str(l);
            }
            let p = RecordParts::split(value.as_bytes()).unwrap();
            proptest::prop_assert_eq!(p.json, json.as_bytes());
            let got: Vec<&[u8]> = p.lines().collect();
            let want: Vec<&[u8]> = lines.iter().map(String::as_bytes).collect();
            proptest::prop_assert_eq!(got, want);
            for (l, c) in p.lines().zip(&cause) {
                let e = parse_entry(std::str::from_utf8(l).unwrap()).unwrap();
                proptest::prop_assert_eq!(&e.cause, c);
            }
        }
    }

    #[test]
    fn urls_of_every_shape_lose_their_password() {
        let cases = [
            ("user:s3cret@host:6379", "user:***@host:6379"),
            (":s3cret@host:6379", ":***@host:6379"),
            ("s3cret@host:6379", "***@host:6379"),
            ("redis://s3cret@host", "redis://***@host"),
            ("redis://u:s3c@ret@h:1", "redis://u:***@h:1"),
            ("redis://u:s3:cret@h", "redis://u:***@h"),
            ("redis://u:s3,cret@h", "redis://u:***@h"),
            ("redis://u:s3cret@[::1", "redis://u:***@[::1"),
            ("rediss://u:s3cret@h:1/0?x=1", "rediss://u:***@h:1/0?x=1"),
            (
                "user:s3cret@h1:1,user:s3cret@h2:2",
                "user:***@h1:1,user:***@h2:2",
            ),
            (
                "redis://:s3cret@h1:1, :s3cret@h2:2",
                "redis://:***@h1:1, :***@h2:2",
            ),
            (
                "redis+unix:///tmp/r.sock?db=1&pass=s3cret",
                "redis+unix:///tmp/r.sock?db=1&pass=***",
            ),
            (
                "unix:///tmp/r.sock?PASSWORD=s3cret&db=2",
                "unix:///tmp/r.sock?PASSWORD=***&db=2",
            ),
            ("redis://h:1/?password=s3cret", "redis://h:1/?password=***"),
            ("redis://u:x://y@h", "redis://u:***@h"),
            (
                "redis://h1:1,redis://:s3cret@h2:2",
                "redis://h1:1,redis://:***@h2:2",
            ),
            ("host:6379", "host:6379"),
            ("", ""),
        ];
        for (url, want) in cases {
            let got = redact_url(url);
            assert_eq!(got, want, "{url}");
            assert!(!got.contains("s3") && !got.contains("cret"), "{url}: {got}");
        }
    }

    proptest::proptest! {
        #[test]
        fn no_password_survives_redaction(
            pw in "[^,]{6,40}",
            user in "[a-z]{0,8}",
            scheme in proptest::sample::select(vec!["redis://", "rediss://", ""]),
        ) {
            let shape = format!("{scheme}{user}:***@host:6379/0,{scheme}{user}:***@other:6380");
            proptest::prop_assume!(!shape.contains(pw.as_str()));
            let single = format!("{scheme}{user}:{pw}@host:6379/0");
            let cluster = format!("{single},{scheme}{user}:{pw}@other:6380");
            for url in [single, cluster] {
                let got = redact_url(&url);
                proptest::prop_assert!(!got.contains(pw.as_str()), "{} -> {}", url, got);
            }
        }

        #[test]
        fn redaction_never_panics(url in proptest::prelude::any::<String>()) {
            let _ = redact_url(&url);
        }
    }

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact_url("redis://:s3cret@h:6379/0"),
            "redis://:***@h:6379/0"
        );
        assert_eq!(redact_url("redis://u:s3cret@h"), "redis://u:***@h");
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
        assert_eq!(
            redact_url("redis://:a@h1:7000,redis://:b@h2:7001"),
            "redis://:***@h1:7000,redis://:***@h2:7001"
        );
        let c = RedisConfig {
            url: "user:s3cret@h:6379".into(),
            ..RedisConfig::default()
        };
        assert!(!format!("{c:?}").contains("s3cret"));
        let c = RedisConfig {
            url: "redis://:s3cret@h".into(),
            ..RedisConfig::default()
        };
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
