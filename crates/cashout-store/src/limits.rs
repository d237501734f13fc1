//! Provider call limits shared by every worker process (`providers.<p>.limits`): a rate limit
//! (GCRA over Redis' own clock, so every process sees one time) and a cap on calls in flight
//! (a sorted set of slots that free themselves after `hold_ms` if their holder died).
//! One script call admits a call under both, or says how long to wait.

use crate::store::{Store, StoreError};
use cashout_core::Provider;
use redis::{AsyncCommands, Script};
use std::sync::LazyLock;
use std::time::Duration;

static ADMIT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/limit_admit.lua")));

/// One provider's limits as the script takes them (the worker builds it from
/// `providers.<p>.limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LimitSpec {
    /// Spacing between calls in µs; `0`: no rate limit.
    pub interval_us: u64,
    /// Calls that may start back to back (at least 1).
    pub burst: u32,
    /// Calls in flight at once; `0`: no limit.
    pub max_in_flight: u32,
    /// How long a slot lasts if never released, in ms.
    pub hold_ms: u64,
}

impl LimitSpec {
    /// Neither limit is set.
    pub fn is_unlimited(&self) -> bool {
        self.interval_us == 0 && self.max_in_flight == 0
    }
}

/// What an admission attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The call may go now (its in-flight slot, if limited, is taken under its token).
    Granted,
    /// The rate allows the next call after this wait.
    Wait(Duration),
    /// Every in-flight slot is taken; ask again shortly.
    Full,
}

impl Store {
    /// Tries to admit one call to `provider` under `limits`, holding an in-flight slot under
    /// `token` when granted. Unlimited providers are granted without touching Redis.
    pub async fn admit_call(
        &self,
        provider: Provider,
        limits: &LimitSpec,
        token: &str,
    ) -> Result<Admission, StoreError> {
        if limits.is_unlimited() {
            return Ok(Admission::Granted);
        }
        let mut c = self.connection();
        let n: i64 = ADMIT
            .key(self.keys().call_limit(provider, "rate"))
            .key(self.keys().call_limit(provider, "in_flight"))
            .arg(limits.interval_us)
            .arg(limits.burst.max(1))
            .arg(limits.max_in_flight)
            .arg(token)
            .arg(limits.hold_ms.max(1))
            .invoke_async(&mut c)
            .await?;
        Ok(match n {
            0 => Admission::Granted,
            n if n < 0 => Admission::Full,
            n => Admission::Wait(Duration::from_micros(n.unsigned_abs())),
        })
    }

    /// Frees the in-flight slot of a finished call (a no-op when there is none).
    pub async fn release_call(&self, provider: Provider, token: &str) -> Result<(), StoreError> {
        let mut c = self.connection();
        let _: i64 = c
            .zrem(self.keys().call_limit(provider, "in_flight"), token)
            .await?;
        Ok(())
    }

    /// Calls to `provider` holding an in-flight slot now (for tests and operators).
    pub async fn calls_in_flight(&self, provider: Provider) -> Result<u64, StoreError> {
        let mut c = self.connection();
        Ok(c.zcard(self.keys().call_limit(provider, "in_flight"))
            .await?)
    }
}
