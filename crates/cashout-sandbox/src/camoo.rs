//! Simulator of the Camoo payment API (`/v1/payment`): authenticated `cashout`, `verify` and
//! `account` endpoints, deterministic outcomes by phone digit, signed GET notifications, and the
//! `/_admin/camoo` routes tests use to inspect and tune it.
//!
//! Built on `crate::sim`: every call that passes authentication is counted, then consumes the
//! next fault queued for its endpoint (`create`, `verify` or `account`, see [`crate::faults`]) if
//! any. What is Camoo's own: the API (`api`: routes, credentials, execution against the
//! balance), the admin side (`admin`: call counts, config), the configuration (`config`), the
//! stored payouts and their outcomes (`model`), body validation and notifications.
//!
//! Notifications: an HTTP `GET notification_url?payment_id=…&status=…&status_time=…&trx=…&sig=…`
//! where `sig` is [`camoo_signature`] of the other parameters keyed with the API secret.

mod admin;
mod api;
mod config;
mod model;
mod notify;
mod validate;

use std::sync::Arc;

use crate::audit::AuditLog;
use crate::faults::FaultRegistry;
use crate::sim::{self, Sim};

pub use admin::CallCounts;
pub use api::{Account, AccountResponse, CashoutResponse, VerifyResponse};
pub use config::{CamooConfig, CamooConfigPatch, CamooConfigView};
pub use model::Payment;
pub use notify::camoo_signature;

/// What only the Camoo simulator has: the client of its notifications (redirects followed).
pub(crate) struct Camoo {
    http: reqwest::Client,
}

/// A Camoo simulator with a fresh ledger holding `config.balance`.
pub(crate) fn new(config: CamooConfig, audit: AuditLog, faults: FaultRegistry) -> Arc<Sim<Camoo>> {
    let store = model::Store::new(config.balance);
    let camoo = Camoo {
        http: sim::deliver::client(true),
    };
    Sim::new(camoo, config, store, audit, faults)
}
