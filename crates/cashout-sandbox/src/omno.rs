//! Simulator of the OMNO payout API (`/public/payout`): Bearer-authenticated create, confirm,
//! reject and status, deterministic outcomes by the customer's `externalUserId`, optional
//! currency conversion, unsigned JSON webhooks, and the `/_admin/omno` routes tests use to inspect
//! and tune it.
//!
//! Creating a payout moves no money: it waits for a confirm (which executes it: the audit entry)
//! or a reject. Built on `crate::sim`: every call that passes authentication is counted
//! (globally and for its `orderId`: the body's for a create, the payout's for the others), then
//! consumes the next fault queued for its endpoint (`create`, `confirm`, `reject` or `status`,
//! see [`crate::faults`]) if any. What is OMNO's own: the API (`api`), the admin side
//! (`admin`: payouts, per-order counts), the configuration (`config`), the payouts' stages and
//! timelines (`model`), body validation and webhooks.
//!
//! # Outcomes
//!
//! Chosen by the **last character of `customer.externalUserId`**; the status is computed from the
//! time elapsed since the confirm whenever it is read, so it is deterministic:
//!
//! | last character | after confirm |
//! |---|---|
//! | `0` | `PENDING` until `settle_delay_ms`, then `DECLINED` with `statusReason` `{"reason": "DECLINED", "detailedStatus": "NO_PROVIDER_AVAILABLE"}` (the audit entry stays: it records what was executed) |
//! | `9` | `PENDING` forever |
//! | `8` | `PENDING` until `settle_delay_ms`, then `ON_HOLD` (not a documented status) for another `settle_delay_ms`, then `SUCCESS` |
//! | `7` | `PENDING` until `settle_delay_ms`, then `FAILED` |
//! | anything else | `PENDING` until `settle_delay_ms`, then `SUCCESS` |
//!
//! Before the confirm, reads show `WAITING_FOR_CONFIRMATION` (the create answer says `CREATED`);
//! a reject makes it `REJECTED`, final. The settle delay is the one configured when the payout is
//! confirmed; the conversion (`convert_to`) the one configured when it is created.
//!
//! The token and full phone numbers are never logged; a payout keeps only the phone's last 3
//! digits.

mod admin;
mod api;
mod config;
mod model;
mod validate;
mod webhook;

use std::sync::Arc;

use crate::audit::AuditLog;
use crate::faults::FaultRegistry;
use crate::sim::{self, Payouts, Sim};

pub use admin::{AdminPayoutList, AdminPayoutView, OmnoCallCounts};
pub use api::{CreatePayoutResponse, IframeUrls};
pub use config::{OmnoConfig, OmnoConfigPatch, OmnoConfigView};
pub use model::{PayoutView, StatusReason};
pub use webhook::OmnoWebhook;

/// What only the OMNO simulator has: the client of its webhooks (redirects not followed).
pub(crate) struct Omno {
    http: reqwest::Client,
}

/// An OMNO simulator with no payouts yet.
pub(crate) fn new(config: OmnoConfig, audit: AuditLog, faults: FaultRegistry) -> Arc<Sim<Omno>> {
    let omno = Omno {
        http: sim::deliver::client(false),
    };
    Sim::new(omno, config, Payouts::default(), audit, faults)
}
