//! Simulator of the OMT cashout API (`/api/v1/cashout`): Basic-authenticated `GETCTI`, `PAYCTI`
//! and `Revoke` on cashouts that tests seed per account through `/_admin/omt`, with the account's
//! failed attempts, its locks (4th failed attempt, expired cashout), and a choice of how business
//! failures are answered ([`FailureMode`]: HTTP 200 with `isSuccess: false`, or a 4xx).
//!
//! Built on `crate::sim`: every call that passes authentication is counted (globally and, when
//! its `accountId` parses, for that account), then consumes the next fault queued for its
//! endpoint (`getcti`, `paycti` or `revoke`, see [`crate::faults`]) if any. What is OMT's own: the
//! API (`api`: routes, Basic auth, answers per failure mode), the admin side (`admin`: seeding
//! and locking accounts, per-account counts), the configuration (`config`) and the accounts'
//! transitions (`model`).
//!
//! OTPs, passwords and full mobile numbers are never logged.

mod admin;
mod api;
mod auth;
mod config;
mod model;

use std::collections::HashMap;
use std::sync::Arc;

use crate::audit::AuditLog;
use crate::faults::FaultRegistry;
use crate::sim::Sim;

pub use admin::{AccountView, LockAccount, NewPending, OmtCallCounts, PendingView};
pub use api::{GetCtiResponse, PayCtiRequest, RevokeRequest};
pub use config::{FailureMode, OmtConfig, OmtConfigPatch, OmtConfigView};
pub use model::{CtiInfo, LockReason, PendingOutcome, PendingStatus};

/// The OMT simulator (nothing of its own beyond the skeleton's state).
pub(crate) struct Omt;

/// An OMT simulator with no accounts yet.
pub(crate) fn new(config: OmtConfig, audit: AuditLog, faults: FaultRegistry) -> Arc<Sim<Omt>> {
    Sim::new(Omt, config, HashMap::new(), audit, faults)
}
