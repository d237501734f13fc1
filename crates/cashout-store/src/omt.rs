//! The OMT lockout guard's state in Redis: counted failed attempts per account, the attempts
//! reserved before calls OMT could count, the account lease that serialises one account's
//! cashouts, and the "locked" mark.
//!
//! A reservation has an identity (a token, the cashout and the call) and a phase: `reserved`
//! when taken, `sent` just before its request leaves. OMT's answer settles it (removed, and
//! counted when OMT counts it). A reservation still `reserved` after `unsent_expiry` provably
//! never reached OMT (a dead worker's, or one whose holder gave up before sending) and stops
//! counting by itself. A `sent` one without an answer (a timeout, a reset, a worker killed during
//! the call) keeps counting: OMT may have counted it. Those are *unresolved*; an operator sees
//! them ([`Store::omt_unresolved`]) and clears them once OMT confirms the count. A success resets
//! the failures answered before its call was sent, since OMT's own count is then zero, but not an
//! unresolved attempt younger than `providers.omt.max_transit_secs`: such a request may still
//! reach OMT after the success (the chaos suite saw one held by a slow proxy arrive after it),
//! and OMT would count it then.

use crate::store::{Store, StoreError};
use cashout_core::OmtAccountId;
use chrono::{DateTime, TimeZone, Utc};
use redis::{AsyncCommands, Script};
use std::sync::LazyLock;
use std::time::Duration;

static RESERVE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/omt_reserve.lua")));
static SENT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/omt_sent.lua")));
static SETTLE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/omt_settle.lua")));
static RENEW: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/omt_renew.lua")));
static RESET: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/omt_reset.lua")));
static UNLOCK: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/unlock.lua")));

fn ms_of(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One reserved attempt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OmtReservation {
    /// Its token.
    pub token: String,
    /// Marked sent: its request may have reached OMT.
    pub sent: bool,
    /// When it was reserved, or marked sent.
    pub at: DateTime<Utc>,
    /// The cashout it was taken for.
    pub cashout_id: String,
    /// `GETCTI` or `PAYCTI`.
    pub call: String,
}

impl OmtReservation {
    fn parse(token: String, v: &str) -> Option<Self> {
        let mut parts = v.splitn(4, '|');
        let phase = parts.next()?;
        let at: i64 = parts.next()?.parse().ok()?;
        let cashout_id = parts.next()?.to_owned();
        let call = parts.next()?.to_owned();
        Some(Self {
            token,
            sent: phase == "s",
            at: Utc.timestamp_millis_opt(at).single()?,
            cashout_id,
            call,
        })
    }
}

/// What the guard counts for one account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OmtGuard {
    /// The account.
    pub account_id: i64,
    /// Failed attempts OMT answered as counted.
    pub failures: u32,
    /// Reserved attempts not settled by an answer.
    pub reservations: Vec<OmtReservation>,
}

impl OmtGuard {
    /// What the guard counts against the maximum (expired unsent reservations excluded only
    /// once the next reservation prunes them).
    pub fn counted(&self) -> u32 {
        self.failures
            .saturating_add(u32::try_from(self.reservations.len()).unwrap_or(u32::MAX))
    }
}

/// How long an attempt may stay without an answer before it is *stale*: far past any call's
/// timeout, so it is not a call in flight but one that will never be answered (an operator
/// must check it with OMT).
pub const STALE_AFTER: Duration = Duration::from_secs(120);

/// Attempts of `guards` sent more than [`STALE_AFTER`] before `now` and never answered.
pub fn stale_attempts(guards: &[OmtGuard], now: DateTime<Utc>) -> usize {
    let stale = chrono::TimeDelta::from_std(STALE_AFTER).unwrap_or(chrono::TimeDelta::MAX);
    guards
        .iter()
        .flat_map(|g| &g.reservations)
        .filter(|r| r.sent && now - r.at > stale)
        .count()
}

impl Store {
    /// The guard's state for an account.
    pub async fn omt_guard(&self, account: OmtAccountId) -> Result<OmtGuard, StoreError> {
        let mut c = self.connection();
        let failures: Option<u32> = c.get(self.keys().omt_failures(account)).await?;
        let raw: Vec<(String, String)> = c.hgetall(self.keys().omt_reservations(account)).await?;
        let mut reservations: Vec<OmtReservation> = raw
            .into_iter()
            .filter_map(|(t, v)| OmtReservation::parse(t, &v))
            .collect();
        reservations.sort_by_key(|r| r.at);
        Ok(OmtGuard {
            account_id: account.get(),
            failures: failures.unwrap_or(0),
            reservations,
        })
    }

    /// Failed attempts the guard counts for an account: answered ones plus reservations.
    pub async fn omt_failures(&self, account: OmtAccountId) -> Result<u32, StoreError> {
        Ok(self.omt_guard(account).await?.counted())
    }

    /// Reserves one possible failed attempt (`token`, for `cashout_id`'s `call`) before a call
    /// OMT could count. Refuses (returns `None`) when `max` are counted already. A reservation
    /// not [marked sent](Store::omt_mark_sent) within `unsent_expiry` stops counting.
    pub async fn omt_reserve_attempt(
        &self,
        account: OmtAccountId,
        max: u32,
        token: &str,
        cashout_id: &str,
        call: &str,
        unsent_expiry: Duration,
    ) -> Result<Option<u32>, StoreError> {
        let mut c = self.connection();
        let n: i64 = RESERVE
            .key(self.keys().omt_failures(account))
            .key(self.keys().omt_reservations(account))
            .arg(max)
            .arg(token)
            .arg(format!("{cashout_id}|{call}"))
            .arg(ms_of(unsent_expiry))
            .invoke_async(&mut c)
            .await?;
        Ok(u32::try_from(n).ok())
    }

    /// Marks a reservation sent, just before its request leaves. `false` when it is gone
    /// (expired unsent, or cleared): the request must then not be sent.
    pub async fn omt_mark_sent(
        &self,
        account: OmtAccountId,
        token: &str,
    ) -> Result<bool, StoreError> {
        Ok(self.omt_mark_sent_counting(account, token).await?.is_some())
    }

    /// [`Store::omt_mark_sent`], returning the failures OMT had answered at that moment (what a
    /// success of this call may reset, [`Store::omt_reset_after_success`]); `None` when the
    /// reservation is gone and the request must not be sent.
    pub async fn omt_mark_sent_counting(
        &self,
        account: OmtAccountId,
        token: &str,
    ) -> Result<Option<u32>, StoreError> {
        let mut c = self.connection();
        // Indexed first (a separate command, another slot on a cluster): a reservation marked
        // sent is always listed; an index entry without one is pruned when listing.
        let _: i64 = c.sadd(self.keys().omt_unresolved(), account.get()).await?;
        let n: i64 = SENT
            .key(self.keys().omt_reservations(account))
            .key(self.keys().omt_failures(account))
            .arg(token)
            .invoke_async(&mut c)
            .await?;
        Ok(u32::try_from(n - 1).ok())
    }

    /// Settles a reservation with OMT's answer: removed, and counted when OMT counted it.
    pub async fn omt_settle(
        &self,
        account: OmtAccountId,
        token: &str,
        counted: bool,
    ) -> Result<(), StoreError> {
        let mut c = self.connection();
        let _: i64 = SETTLE
            .key(self.keys().omt_failures(account))
            .key(self.keys().omt_reservations(account))
            .arg(token)
            .arg(if counted { "1" } else { "0" })
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }

    /// OMT answered a success for the call of reservation `reservation`, made under the account
    /// lease `lease`, when `failures_when_sent` failures were counted: OMT's count is zero.
    /// Our reservation goes; while the lease is still ours, the failures counted when the call
    /// was sent are taken off (one answered later may have reached OMT after the success), and
    /// reservations of other calls sent and never answered are dropped only when older than
    /// `in_transit` (they reached OMT before the success); younger ones stay counted and listed.
    /// `in_transit` zero keeps them all. `true` unless the lease had lapsed.
    pub async fn omt_reset_after_success(
        &self,
        account: OmtAccountId,
        lease: &str,
        reservation: &str,
        failures_when_sent: u32,
        in_transit: Duration,
    ) -> Result<bool, StoreError> {
        let mut c = self.connection();
        let n: i64 = RESET
            .key(self.keys().omt_failures(account))
            .key(self.keys().omt_reservations(account))
            .key(self.keys().omt_lease(account))
            .arg(lease)
            .arg(reservation)
            .arg(failures_when_sent)
            .arg(ms_of(in_transit))
            .invoke_async(&mut c)
            .await?;
        Ok(n == 1)
    }

    /// An operator who checked with OMT resets the account's count, reservations included
    /// (unconditional: the operator's word is the truth).
    pub async fn omt_reset_failures(&self, account: OmtAccountId) -> Result<(), StoreError> {
        let mut c = self.connection();
        let _: i64 = c
            .del(&[
                self.keys().omt_failures(account),
                self.keys().omt_reservations(account),
            ])
            .await?;
        Ok(())
    }

    /// An operator clears one unresolved reservation (after checking with OMT). `false` when
    /// there was none with this token.
    pub async fn omt_clear_reservation(
        &self,
        account: OmtAccountId,
        token: &str,
    ) -> Result<bool, StoreError> {
        let mut c = self.connection();
        let n: i64 = c.hdel(self.keys().omt_reservations(account), token).await?;
        Ok(n == 1)
    }

    /// Every account with sent reservations that no answer settled: what an operator must
    /// check with OMT. Sorted by account.
    pub async fn omt_unresolved(&self) -> Result<Vec<OmtGuard>, StoreError> {
        let mut c = self.connection();
        let mut accounts: Vec<i64> = c.smembers(self.keys().omt_unresolved()).await?;
        accounts.sort_unstable();
        let mut out = Vec::new();
        for a in accounts {
            let Ok(account) = OmtAccountId::new(a) else {
                continue;
            };
            let mut g = self.omt_guard(account).await?;
            g.reservations.retain(|r| r.sent);
            if g.reservations.is_empty() {
                let _: i64 = c.srem(self.keys().omt_unresolved(), a).await?;
            } else {
                out.push(g);
            }
        }
        Ok(out)
    }

    /// Marks an OMT account locked (OMT said so) for `ttl`, with OMT's reason.
    pub async fn omt_mark_locked(
        &self,
        account: OmtAccountId,
        reason: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut c = self.connection();
        let _: () = redis::cmd("SET")
            .arg(self.keys().omt_locked(account))
            .arg(reason)
            .arg("PX")
            .arg(ms_of(ttl).max(1))
            .query_async(&mut c)
            .await?;
        Ok(())
    }

    /// Why an OMT account is marked locked, if it is.
    pub async fn omt_locked(&self, account: OmtAccountId) -> Result<Option<String>, StoreError> {
        let mut c = self.connection();
        Ok(c.get(self.keys().omt_locked(account)).await?)
    }

    /// Takes the lease that serialises one OMT account's cashouts, for `ttl`; its holder
    /// renews it ([`Store::renew_omt_lease`]) while it works, so a dead holder's lapses soon.
    pub async fn try_omt_lease(
        &self,
        account: OmtAccountId,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut c = self.connection();
        let res: Option<String> = redis::cmd("SET")
            .arg(self.keys().omt_lease(account))
            .arg(owner)
            .arg("NX")
            .arg("PX")
            .arg(ms_of(ttl).max(1))
            .query_async(&mut c)
            .await?;
        Ok(res.is_some())
    }

    /// Extends the account lease if `owner` still holds it.
    pub async fn renew_omt_lease(
        &self,
        account: OmtAccountId,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut c = self.connection();
        let n: i64 = RENEW
            .key(self.keys().omt_lease(account))
            .arg(owner)
            .arg(ms_of(ttl).max(1))
            .invoke_async(&mut c)
            .await?;
        Ok(n == 1)
    }

    /// Gives the account lease back.
    pub async fn release_omt_lease(
        &self,
        account: OmtAccountId,
        owner: &str,
    ) -> Result<(), StoreError> {
        let mut c = self.connection();
        let _: i64 = UNLOCK
            .key(self.keys().omt_lease(account))
            .arg(owner)
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_attempts_sent_long_ago_are_stale() {
        let now = Utc::now();
        let ms = |ago: i64| (now.timestamp_millis() - ago).to_string();
        let r = |t: &str, phase: &str, ago: i64| {
            OmtReservation::parse(t.to_owned(), &format!("{phase}|{}|c-1|GETCTI", ms(ago))).unwrap()
        };
        let g = OmtGuard {
            account_id: 1,
            failures: 0,
            reservations: vec![
                r("in-flight", "s", 5_000),
                r("stale", "s", 300_000),
                r("unsent", "r", 300_000),
            ],
        };
        assert_eq!(stale_attempts(&[g], now), 1);
        assert_eq!(stale_attempts(&[], now), 0);
    }
}
