//! Every Redis key we use, derived from one prefix so tests and tenants never share keys.

use cashout_core::{CashoutId, IdempotencyKey, OmtAccountId, Provider};

/// Key names under a prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (e.g. `cashout`).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Hash with the record (`data`, `version`, `deliveries`).
    pub fn record(&self, id: &CashoutId) -> String {
        format!("{}:cashout:{id}", self.prefix)
    }

    /// List of history entries.
    pub fn history(&self, id: &CashoutId) -> String {
        format!("{}:history:{id}", self.prefix)
    }

    /// Idempotency key → cashout id.
    pub fn idempotency(&self, key: &IdempotencyKey) -> String {
        format!("{}:idem:{key}", self.prefix)
    }

    /// Sorted set of non-terminal, unparked cashouts by when their next step is due (ms).
    pub fn due(&self) -> String {
        format!("{}:due", self.prefix)
    }

    /// Sorted set of parked cashouts (the dead-letter queue) by when they were parked (ms).
    pub fn parked(&self) -> String {
        format!("{}:parked", self.prefix)
    }

    /// Per-cashout lease.
    pub fn lease(&self, id: &CashoutId) -> String {
        format!("{}:lease:{id}", self.prefix)
    }

    /// Set when the sweeper re-enqueues a cashout, so a backlog is not re-enqueued on every sweep.
    pub fn swept(&self, id: &CashoutId) -> String {
        format!("{}:swept:{id}", self.prefix)
    }

    /// Failed attempts OMT counted for an account (the lockout guard).
    pub fn omt_failures(&self, account: OmtAccountId) -> String {
        format!("{}:omt:failures:{account}", self.prefix)
    }

    /// Set while OMT reports the account locked.
    pub fn omt_locked(&self, account: OmtAccountId) -> String {
        format!("{}:omt:locked:{account}", self.prefix)
    }

    /// Serialises the cashouts of one OMT account.
    pub fn omt_lease(&self, account: OmtAccountId) -> String {
        format!("{}:omt:lease:{account}", self.prefix)
    }

    /// The sweeper's lock (one sweeper at a time).
    pub fn sweeper_lock(&self) -> String {
        format!("{}:sweeper:lock", self.prefix)
    }

    /// The apalis queue name for a provider (apalis appends `:data`, `:active`, …).
    pub fn queue(&self, provider: Provider) -> String {
        format!("{}:queue:{provider}", self.prefix)
    }
}
