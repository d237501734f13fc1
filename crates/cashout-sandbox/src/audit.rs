//! Provider-neutral audit of executed payouts: every provider simulator records here the moment it
//! actually "sends money", so tests and the demo can check what left the account and how often.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

/// One payout a simulated provider executed (money sent to a phone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Which simulator executed it, e.g. `"camoo"`.
    pub provider: String,
    /// The provider's own id for the payout (Camoo: the `id` returned by `/cashout`).
    pub provider_id: String,
    /// The client's reference, when it sent one.
    pub external_reference: Option<String>,
    /// Amount in major units, normalised (`"1500"`, `"12.50"`).
    pub amount: String,
    /// ISO-4217 currency code.
    pub currency: String,
    /// Last three digits of the beneficiary phone (never the full number).
    pub phone_last3: String,
    /// When the payout was executed, ISO-8601 UTC.
    pub executed_at: String,
}

/// Body of `GET /_admin/payouts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutList {
    /// Executed payouts, in execution order.
    pub payouts: Vec<AuditEntry>,
}

/// Shared, append-only log of executed payouts (cheap to clone: all clones share one log).
#[derive(Debug, Clone, Default)]
pub struct AuditLog {
    entries: Arc<Mutex<Vec<AuditEntry>>>,
}

impl AuditLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an executed payout.
    pub fn record(&self, entry: AuditEntry) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry);
    }

    /// All entries, in execution order.
    pub fn entries(&self) -> Vec<AuditEntry> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Entries whose `external_reference` equals `reference`, in execution order.
    pub fn by_external_reference(&self, reference: &str) -> Vec<AuditEntry> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|e| e.external_reference.as_deref() == Some(reference))
            .cloned()
            .collect()
    }
}

/// Query string of `GET /_admin/payouts`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PayoutFilter {
    external_reference: Option<String>,
}

/// `GET /_admin/payouts[?external_reference=X]`.
pub(crate) async fn list_payouts(
    State(log): State<AuditLog>,
    Query(filter): Query<PayoutFilter>,
) -> Json<PayoutList> {
    let payouts = match filter.external_reference {
        Some(reference) => log.by_external_reference(&reference),
        None => log.entries(),
    };
    Json(PayoutList { payouts })
}
