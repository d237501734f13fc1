//! The cashout store: records, history and indexes, each write atomic (Lua).

use crate::keys::Keys;
use cashout_core::{Cashout, CashoutId, HistoryEntry, IdempotencyKey, OmtAccountId};
use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use serde::Deserialize;
use std::sync::LazyLock;
use std::time::Duration;

static CREATE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/create.lua")));
static SAVE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/save.lua")));
/// `HINCRBY` only on an existing record, so an expired one is not recreated without a TTL.
static COUNT_DELIVERY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('EXISTS', KEYS[1]) == 1 then \
           return redis.call('HINCRBY', KEYS[1], 'deliveries', 1) end return 0",
    )
});
/// Counts a possible failed attempt unless `max` are counted already (-1).
static OMT_RESERVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local n = tonumber(redis.call('GET', KEYS[1]) or '0') \
         if n >= tonumber(ARGV[1]) then return -1 end \
         return redis.call('INCR', KEYS[1])",
    )
});
/// Gives back a reserved attempt, never below zero.
static OMT_RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then \
           return redis.call('DECR', KEYS[1]) end return 0",
    )
});
static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/release.lua")));
pub(crate) static TRIM_DONE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/trim_done.lua")));

/// How to reach Redis. Its `Debug` hides a password in the URL.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:port/db`.
    pub url: String,
    /// Prefix of every key we write.
    pub prefix: String,
    /// How long one Redis command may take before it counts as failed. redis-rs' default
    /// (500 ms) killed workers during a short Redis pause; see docs/queue.md.
    pub response_timeout_ms: u64,
    /// How long connecting may take.
    pub connection_timeout_ms: u64,
    /// How long a finished cashout is kept (record, history, idempotency key).
    pub retention_days: u64,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(&self.url))
            .field("prefix", &self.prefix)
            .field("response_timeout_ms", &self.response_timeout_ms)
            .field("connection_timeout_ms", &self.connection_timeout_ms)
            .field("retention_days", &self.retention_days)
            .finish()
    }
}

/// A Redis URL with any password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379".to_owned(),
            prefix: "cashout".to_owned(),
            response_timeout_ms: 5_000,
            connection_timeout_ms: 2_000,
            retention_days: 30,
        }
    }
}

/// A Redis failure or a record we cannot read.
#[derive(Debug, thiserror::Error)]
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
    /// Pushing a job to the queue failed.
    #[error("queue: {0}")]
    Queue(String),
}

/// Opens a connection manager (reconnects by itself) with our timeouts.
pub async fn connect(config: &RedisConfig) -> Result<ConnectionManager, StoreError> {
    let client = redis::Client::open(config.url.as_str())?;
    let cm = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_millis(config.response_timeout_ms)))
        .set_connection_timeout(Some(Duration::from_millis(config.connection_timeout_ms)))
        .set_number_of_retries(3)
        .set_max_delay(Duration::from_secs(2));
    Ok(client.get_connection_manager_with_config(cm).await?)
}

/// Result of [`Store::create`].
#[derive(Debug)]
pub enum CreateOutcome {
    /// A new cashout was written.
    Created,
    /// The idempotency key was taken by this cashout.
    Existing(CashoutId),
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

/// Cashout records in Redis.
#[derive(Clone)]
pub struct Store {
    conn: ConnectionManager,
    keys: Keys,
    retention: Duration,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("keys", &self.keys).finish()
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    // Our own types always serialize: no maps with non-string keys, no failing impls.
    serde_json::to_string(v).unwrap_or_else(|e| format!("{{\"serialize_error\":\"{e}\"}}"))
}

impl Store {
    /// A store over an open connection.
    pub fn new(conn: ConnectionManager, config: &RedisConfig) -> Self {
        Self {
            conn,
            keys: Keys::new(config.prefix.clone()),
            retention: Duration::from_secs(config.retention_days.saturating_mul(86_400)),
        }
    }

    /// The key names.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The connection (cheap to clone).
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// `PING`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut c).await?;
        Ok(())
    }

    /// Writes a new cashout and its idempotency key atomically, unless the key is taken.
    pub async fn create(
        &self,
        cashout: &Cashout,
        entry: &HistoryEntry,
    ) -> Result<CreateOutcome, StoreError> {
        let mut c = self.conn.clone();
        let (created, id): (i64, String) = CREATE
            .key(self.keys.idempotency(&cashout.order.idempotency_key))
            .key(self.keys.record(&cashout.id))
            .key(self.keys.history(&cashout.id))
            .key(self.keys.due())
            .arg(cashout.id.to_string())
            .arg(to_json(cashout))
            .arg(cashout.version)
            .arg(to_json(entry))
            .arg(cashout.next_action_at.map_or(0, ms))
            .invoke_async(&mut c)
            .await?;
        if created == 1 {
            return Ok(CreateOutcome::Created);
        }
        let existing = CashoutId::parse(&id).map_err(|e| StoreError::Corrupt {
            key: self.keys.idempotency(&cashout.order.idempotency_key),
            message: e.to_string(),
        })?;
        Ok(CreateOutcome::Existing(existing))
    }

    /// Reads a record.
    pub async fn get(&self, id: &CashoutId) -> Result<Option<Cashout>, StoreError> {
        let key = self.keys.record(id);
        let mut c = self.conn.clone();
        let data: Option<String> = c.hget(&key, "data").await?;
        data.map(|d| {
            serde_json::from_str(&d).map_err(|e| StoreError::Corrupt {
                key: key.clone(),
                message: e.to_string(),
            })
        })
        .transpose()
    }

    /// The cashout an idempotency key points to.
    pub async fn find_by_key(&self, key: &IdempotencyKey) -> Result<Option<CashoutId>, StoreError> {
        let mut c = self.conn.clone();
        let id: Option<String> = c.get(self.keys.idempotency(key)).await?;
        Ok(id.and_then(|s| CashoutId::parse(&s).ok()))
    }

    /// The history, oldest first.
    pub async fn history(&self, id: &CashoutId) -> Result<Vec<HistoryEntry>, StoreError> {
        let key = self.keys.history(id);
        let mut c = self.conn.clone();
        let lines: Vec<String> = c.lrange(&key, 0, -1).await?;
        lines
            .iter()
            .map(|l| {
                serde_json::from_str(l).map_err(|e| StoreError::Corrupt {
                    key: key.clone(),
                    message: e.to_string(),
                })
            })
            .collect()
    }

    /// Writes `next` if the stored version is still `expected`, with its history lines, and keeps
    /// the due and parked indexes in step. Sets `next.version` and `next.updated_at`.
    /// `completes_step` resets the delivery counter (progress was made).
    pub async fn save(
        &self,
        expected: u64,
        next: &mut Cashout,
        entries: &[HistoryEntry],
        completes_step: bool,
        now: DateTime<Utc>,
    ) -> Result<SaveOutcome, StoreError> {
        next.version = expected + 1;
        next.updated_at = now;
        let due = if next.state.is_terminal() || next.parked.is_some() {
            String::new()
        } else {
            next.next_action_at
                .map_or(String::new(), |t| ms(t).to_string())
        };
        let parked = next
            .parked
            .as_ref()
            .map_or(String::new(), |p| ms(p.at).to_string());
        let retention = if next.state.is_terminal() && !self.retention.is_zero() {
            self.retention.as_millis().to_string()
        } else {
            String::new()
        };
        let mut inv = SAVE.prepare_invoke();
        inv.key(self.keys.record(&next.id))
            .key(self.keys.history(&next.id))
            .key(self.keys.due())
            .key(self.keys.parked())
            .key(self.keys.idempotency(&next.order.idempotency_key))
            .arg(expected)
            .arg(next.version)
            .arg(to_json(next))
            .arg(next.id.to_string())
            .arg(due)
            .arg(parked)
            .arg(if completes_step { "1" } else { "0" })
            .arg(retention);
        for e in entries {
            inv.arg(to_json(e));
        }
        let mut c = self.conn.clone();
        let ok: i64 = inv.invoke_async(&mut c).await?;
        Ok(if ok == 1 {
            SaveOutcome::Saved
        } else {
            SaveOutcome::Conflict
        })
    }

    /// Applies `f` to the freshest record and writes the result with a compare-and-set; on a
    /// conflict, re-reads and applies `f` again, so `f` must decide from the record it is given.
    pub async fn modify<T, F>(
        &self,
        id: &CashoutId,
        completes_step: bool,
        mut f: F,
    ) -> Result<Modified<T>, StoreError>
    where
        F: FnMut(&mut Cashout, DateTime<Utc>) -> Change<T>,
    {
        const TRIES: usize = 16;
        for _ in 0..TRIES {
            let Some(rec) = self.get(id).await? else {
                return Ok(Modified::NotFound);
            };
            let now = Utc::now();
            let mut next = rec.clone();
            match f(&mut next, now) {
                Change::Skip(v) => return Ok(Modified::Skipped(rec, v)),
                Change::Write { entries, value } => {
                    match self
                        .save(rec.version, &mut next, &entries, completes_step, now)
                        .await?
                    {
                        SaveOutcome::Saved => return Ok(Modified::Written(next, entries, value)),
                        SaveOutcome::Conflict => continue,
                    }
                }
            }
        }
        Err(StoreError::Contention)
    }

    /// Counts one more delivery of this cashout's job and returns the count since the last
    /// completed step (0 when the record no longer exists).
    pub async fn count_delivery(&self, id: &CashoutId) -> Result<u32, StoreError> {
        let mut c = self.conn.clone();
        let n: i64 = COUNT_DELIVERY
            .key(self.keys.record(id))
            .invoke_async(&mut c)
            .await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Removes a cashout from the due index (its record is gone).
    pub async fn forget_due(&self, id: &CashoutId) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: i64 = c.zrem(self.keys.due(), id.to_string()).await?;
        Ok(())
    }

    /// Takes the per-cashout lease for `ttl` unless someone holds it.
    pub async fn try_lease(
        &self,
        id: &CashoutId,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.try_lock(&self.keys.lease(id), owner, ttl).await
    }

    /// Gives the lease back if we still hold it.
    pub async fn release_lease(&self, id: &CashoutId, owner: &str) -> Result<(), StoreError> {
        self.unlock(&self.keys.lease(id), owner).await
    }

    /// True while someone holds the cashout's lease.
    pub async fn is_leased(&self, id: &CashoutId) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        Ok(c.exists(self.keys.lease(id)).await?)
    }

    /// Claims the right to re-enqueue `id` once per `ttl` (the sweeper's grace period).
    pub async fn claim_sweep(&self, id: &CashoutId, ttl: Duration) -> Result<bool, StoreError> {
        self.try_lock(&self.keys.swept(id), "1", ttl).await
    }

    /// Failed attempts recorded for an OMT account.
    pub async fn omt_failures(&self, account: OmtAccountId) -> Result<u32, StoreError> {
        let mut c = self.conn.clone();
        let n: Option<u32> = c.get(self.keys.omt_failures(account)).await?;
        Ok(n.unwrap_or(0))
    }

    /// Reserves one possible failed attempt before an OMT call that could fail: counts it now,
    /// so a worker that dies during the call leaves it counted. Refuses (returns `None`) when
    /// `max` are already counted. Give it back with [`Store::omt_release_attempt`] when OMT
    /// answered with something it does not count.
    pub async fn omt_reserve_attempt(
        &self,
        account: OmtAccountId,
        max: u32,
    ) -> Result<Option<u32>, StoreError> {
        let mut c = self.conn.clone();
        let n: i64 = OMT_RESERVE
            .key(self.keys.omt_failures(account))
            .arg(max)
            .invoke_async(&mut c)
            .await?;
        Ok(u32::try_from(n).ok())
    }

    /// Gives back an attempt reserved with [`Store::omt_reserve_attempt`].
    pub async fn omt_release_attempt(&self, account: OmtAccountId) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: i64 = OMT_RELEASE
            .key(self.keys.omt_failures(account))
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }

    /// A success: OMT's counter is back at zero, so is ours.
    pub async fn omt_reset_failures(&self, account: OmtAccountId) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: i64 = c.del(self.keys.omt_failures(account)).await?;
        Ok(())
    }

    /// Marks an OMT account locked (OMT said so) for `ttl`, with OMT's reason.
    pub async fn omt_mark_locked(
        &self,
        account: OmtAccountId,
        reason: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let _: () = redis::cmd("SET")
            .arg(self.keys.omt_locked(account))
            .arg(reason)
            .arg("PX")
            .arg(ms)
            .query_async(&mut c)
            .await?;
        Ok(())
    }

    /// Why an OMT account is marked locked, if it is.
    pub async fn omt_locked(&self, account: OmtAccountId) -> Result<Option<String>, StoreError> {
        let mut c = self.conn.clone();
        Ok(c.get(self.keys.omt_locked(account)).await?)
    }

    /// Takes the lease that serialises one OMT account's cashouts.
    pub async fn try_omt_lease(
        &self,
        account: OmtAccountId,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.try_lock(&self.keys.omt_lease(account), owner, ttl)
            .await
    }

    /// Gives the account lease back.
    pub async fn release_omt_lease(
        &self,
        account: OmtAccountId,
        owner: &str,
    ) -> Result<(), StoreError> {
        self.unlock(&self.keys.omt_lease(account), owner).await
    }

    /// Takes the sweeper lock.
    pub async fn try_sweeper_lock(&self, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.try_lock(&self.keys.sweeper_lock(), owner, ttl).await
    }

    /// Gives the sweeper lock back.
    pub async fn release_sweeper_lock(&self, owner: &str) -> Result<(), StoreError> {
        self.unlock(&self.keys.sweeper_lock(), owner).await
    }

    async fn try_lock(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let res: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(owner)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut c)
            .await?;
        Ok(res.is_some())
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: i64 = RELEASE.key(key).arg(owner).invoke_async(&mut c).await?;
        Ok(())
    }

    /// Cashouts whose next step was due at or before `before`, oldest first.
    pub async fn overdue(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<CashoutId>, StoreError> {
        let mut c = self.conn.clone();
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(self.keys.due())
            .arg("-inf")
            .arg(ms(before))
            .arg("BYSCORE")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut c)
            .await?;
        Ok(ids
            .iter()
            .filter_map(|s| CashoutId::parse(s).ok())
            .collect())
    }

    /// Parked cashout ids, oldest first.
    pub async fn parked(&self, limit: usize) -> Result<Vec<CashoutId>, StoreError> {
        let mut c = self.conn.clone();
        let ids: Vec<String> = c
            .zrange(
                self.keys.parked(),
                0,
                isize::try_from(limit).unwrap_or(isize::MAX) - 1,
            )
            .await?;
        Ok(ids
            .iter()
            .filter_map(|s| CashoutId::parse(s).ok())
            .collect())
    }

    /// Parked ids with their parking time (ms), from `min_ms` on, in order: `count` of them
    /// after skipping `offset`.
    pub async fn parked_range(
        &self,
        min_ms: i64,
        offset: usize,
        count: usize,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let mut c = self.conn.clone();
        let raw: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(self.keys.parked())
            .arg(min_ms)
            .arg("+inf")
            .arg("BYSCORE")
            .arg("LIMIT")
            .arg(offset)
            .arg(count)
            .arg("WITHSCORES")
            .query_async(&mut c)
            .await?;
        #[allow(clippy::cast_possible_truncation)]
        Ok(raw.into_iter().map(|(id, s)| (id, s as i64)).collect())
    }

    /// Number of parked cashouts.
    pub async fn parked_count(&self) -> Result<u64, StoreError> {
        let mut c = self.conn.clone();
        Ok(c.zcard(self.keys.parked()).await?)
    }

    /// Number of non-terminal, unparked cashouts.
    pub async fn pending_count(&self) -> Result<u64, StoreError> {
        let mut c = self.conn.clone();
        Ok(c.zcard(self.keys.due()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact_url("redis://:s3cret@h:6379/0"),
            "redis://:***@h:6379/0"
        );
        assert_eq!(redact_url("redis://u:s3cret@h"), "redis://u:***@h");
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
        let c = RedisConfig {
            url: "redis://:s3cret@h".into(),
            ..RedisConfig::default()
        };
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
