//! The `/_admin/omno` routes: the payouts as stored (with whether they were confirmed or
//! rejected), call counts per order (`/calls?order_id=X`) and the configuration (`/config`).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::Omno;
use super::api::Endpoint;
use super::config::{OmnoConfigPatch, OmnoConfigView};
use super::model::{Payout, PayoutView};
use crate::sim::{Admin, CodedError, Counts, Sim};

/// Answer of `GET /_admin/omno/calls[?order_id=X]`: authenticated calls received per endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OmnoCallCounts {
    /// `POST /public/payout` calls (valid or not); per order: those whose body had that `orderId`.
    pub create: u64,
    /// `PUT /public/payout/{payoutId}/confirm` calls (per order: on a payout of that order).
    pub confirm: u64,
    /// `PUT /public/payout/{payoutId}/reject` calls.
    pub reject: u64,
    /// `GET /public/payout/{payoutId}` calls.
    pub status: u64,
}

impl Counts<Endpoint> for OmnoCallCounts {
    fn slot(&mut self, endpoint: Endpoint) -> &mut u64 {
        match endpoint {
            Endpoint::Create => &mut self.create,
            Endpoint::Confirm => &mut self.confirm,
            Endpoint::Reject => &mut self.reject,
            Endpoint::Status => &mut self.status,
        }
    }
}

/// Answer of `GET /_admin/omno/payouts/{payoutId}`: the payout as the API shows it, plus whether
/// it was confirmed or rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminPayoutView {
    /// The payout as `GET /public/payout/{payoutId}` returns it.
    #[serde(flatten)]
    pub payout: PayoutView,
    /// Confirmed (hence executed).
    pub confirmed: bool,
    /// Rejected.
    pub rejected: bool,
}

impl AdminPayoutView {
    fn new(payout: &Payout, now: Instant) -> Self {
        Self {
            payout: payout.view_at(now),
            confirmed: payout.confirmed(),
            rejected: payout.rejected(),
        }
    }
}

/// Answer of `GET /_admin/omno/payouts[?order_id=X]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminPayoutList {
    /// Payouts in creation order.
    pub payouts: Vec<AdminPayoutView>,
}

/// Query string of `GET /_admin/omno/calls` and `/_admin/omno/payouts`.
#[derive(Debug, Default, Deserialize)]
struct OrderFilter {
    order_id: Option<String>,
}

/// The `order_id` of the query string, if any.
fn order_filter(uri: &Uri) -> Result<Option<String>, CodedError> {
    Query::<OrderFilter>::try_from_uri(uri)
        .map(|Query(filter)| filter.order_id)
        .map_err(|e| CodedError::invalid("query", format!("Invalid query: {e}")))
}

impl Admin for Omno {
    type ConfigPatch = OmnoConfigPatch;
    type ConfigView = OmnoConfigView;

    fn config_view(sim: &Sim<Self>) -> OmnoConfigView {
        sim.config().into()
    }

    fn bad_patch(error: serde_json::Error) -> CodedError {
        CodedError::invalid("body", format!("Invalid config patch: {error}"))
    }

    fn patch_config(sim: &Sim<Self>, patch: &OmnoConfigPatch) -> Result<(), CodedError> {
        patch.validate()?;
        patch.apply(&mut sim.config_mut());
        Ok(())
    }

    fn calls_filter(uri: &Uri) -> Result<Option<String>, CodedError> {
        order_filter(uri)
    }

    fn extra_routes(router: Router<Arc<Sim<Self>>>) -> Router<Arc<Sim<Self>>> {
        router
            .route("/payouts", get(list_payouts))
            .route("/payouts/{payout_id}", get(get_payout))
    }
}

/// `GET /_admin/omno/payouts[?order_id=X]`.
async fn list_payouts(
    State(sim): State<Arc<Sim<Omno>>>,
    uri: Uri,
) -> Result<Json<AdminPayoutList>, CodedError> {
    let order_id = order_filter(&uri)?;
    let now = Instant::now();
    let payouts = sim
        .ledger()
        .store
        .iter()
        .filter(|p| order_id.as_ref().is_none_or(|o| *o == p.order_id))
        .map(|p| AdminPayoutView::new(p, now))
        .collect();
    Ok(Json(AdminPayoutList { payouts }))
}

/// `GET /_admin/omno/payouts/{payoutId}`.
async fn get_payout(
    State(sim): State<Arc<Sim<Omno>>>,
    Path(payout_id): Path<String>,
) -> Result<Json<AdminPayoutView>, CodedError> {
    sim.ledger()
        .store
        .get(&payout_id)
        .map(|payout| Json(AdminPayoutView::new(payout, Instant::now())))
        .ok_or_else(|| CodedError::new(StatusCode::NOT_FOUND, "Payout not found"))
}
