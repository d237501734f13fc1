//! Configuration of the Camoo simulator: what it starts with ([`CamooConfig`]) and what
//! `GET`/`PUT /_admin/camoo/config` show and change ([`CamooConfigView`], [`CamooConfigPatch`]).

use serde::{Deserialize, Serialize};

/// Configuration of the Camoo simulator.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct CamooConfig {
    /// Expected `X-Api-Key` (default `"sandbox-key"`).
    pub api_key: String,
    /// Expected `X-Api-Secret`, also the HMAC key of notifications (default `"sandbox-secret"`).
    pub api_secret: String,
    /// Time from create until a normal payout settles, in ms (default 1500).
    pub settle_delay_ms: u64,
    /// Settle time of the "long PENDING" phones (last digit 9), in ms (default 8000).
    pub long_pending_ms: u64,
    /// Starting balance in major units, one balance whatever the currency (default 1 000 000 000).
    pub balance: i64,
    /// How long `/cashout` sleeps after recording the payout, before answering, in ms (default 0).
    pub create_delay_ms: u64,
    /// How long `/verify` sleeps before answering, in ms (default 0).
    pub verify_delay_ms: u64,
    /// Send signed notifications when a payout with a `notification_url` settles (default true).
    pub notify: bool,
}

impl Default for CamooConfig {
    fn default() -> Self {
        Self {
            api_key: "sandbox-key".to_owned(),
            api_secret: "sandbox-secret".to_owned(),
            settle_delay_ms: 1500,
            long_pending_ms: 8000,
            balance: 1_000_000_000,
            create_delay_ms: 0,
            verify_delay_ms: 0,
            notify: true,
        }
    }
}

impl std::fmt::Debug for CamooConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CamooConfig")
            .field("api_key", &self.api_key)
            .field("api_secret", &"<redacted>")
            .field("settle_delay_ms", &self.settle_delay_ms)
            .field("long_pending_ms", &self.long_pending_ms)
            .field("balance", &self.balance)
            .field("create_delay_ms", &self.create_delay_ms)
            .field("verify_delay_ms", &self.verify_delay_ms)
            .field("notify", &self.notify)
            .finish()
    }
}

/// Body of `PUT /_admin/camoo/config`: any subset of the tunable fields (unknown fields are a 400).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CamooConfigPatch {
    /// New settle delay (affects payouts created afterwards).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settle_delay_ms: Option<u64>,
    /// New long-pending delay (affects payouts created afterwards).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub long_pending_ms: Option<u64>,
    /// New create delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_delay_ms: Option<u64>,
    /// New verify delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_delay_ms: Option<u64>,
    /// New remaining balance in major units (must be ≥ 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<i64>,
    /// Turn notifications on or off (checked when each payout settles).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify: Option<bool>,
}

impl CamooConfigPatch {
    /// Applies every field but the balance (which lives in the ledger) to `config`.
    pub(crate) fn apply(&self, config: &mut CamooConfig) {
        let set = |field: &mut u64, value: Option<u64>| {
            if let Some(value) = value {
                *field = value;
            }
        };
        set(&mut config.settle_delay_ms, self.settle_delay_ms);
        set(&mut config.long_pending_ms, self.long_pending_ms);
        set(&mut config.create_delay_ms, self.create_delay_ms);
        set(&mut config.verify_delay_ms, self.verify_delay_ms);
        if let Some(notify) = self.notify {
            config.notify = notify;
        }
    }
}

/// Answer of `GET`/`PUT /_admin/camoo/config`: the live config without the credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CamooConfigView {
    /// Current settle delay in ms.
    pub settle_delay_ms: u64,
    /// Current long-pending delay in ms.
    pub long_pending_ms: u64,
    /// Current create delay in ms.
    pub create_delay_ms: u64,
    /// Current verify delay in ms.
    pub verify_delay_ms: u64,
    /// Remaining balance in whole major units (rounded down).
    pub balance: i64,
    /// Whether notifications are sent.
    pub notify: bool,
}

impl CamooConfigView {
    /// The view of `config` with the balance `balance_minor` (hundredths).
    pub(crate) fn new(config: &CamooConfig, balance_minor: i64) -> Self {
        Self {
            settle_delay_ms: config.settle_delay_ms,
            long_pending_ms: config.long_pending_ms,
            create_delay_ms: config.create_delay_ms,
            verify_delay_ms: config.verify_delay_ms,
            balance: balance_minor.div_euclid(100),
            notify: config.notify,
        }
    }
}

/// Balance in major units → minor units (hundredths), if it fits and is not negative.
pub(crate) fn balance_to_minor(balance: i64) -> Option<i64> {
    if balance < 0 {
        return None;
    }
    balance.checked_mul(100)
}
