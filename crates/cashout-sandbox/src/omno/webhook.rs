//! OMNO webhooks: after a confirm, one background task per payout walks its status changes
//! (`PENDING`, then `ON_HOLD` / the final status) and, at each, POSTs `{payoutId, orderId, status}`
//! to the `webhook_url` configured at that moment (unsigned, as documented), retrying until HTTP
//! 200 ([`until_ok`]).

use std::sync::Weak;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

use super::Omno;
use crate::sim::Sim;
use crate::sim::deliver::until_ok;
use crate::util::unless_closed;

/// Body of the webhooks POSTed to `webhook_url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OmnoWebhook {
    /// The payout.
    pub payout_id: String,
    /// Its `orderId`.
    pub order_id: String,
    /// Its new status.
    pub status: String,
}

/// Waits for each `(instant, status)` change of payout `payout_id` in turn and sends its webhook
/// (each delivery runs on its own, so retries never delay the next change). Stops silently if
/// the simulator is dropped.
pub(crate) async fn deliver_changes(
    simulator: Weak<Sim<Omno>>,
    mut closed: watch::Receiver<()>,
    payout_id: String,
    order_id: String,
    changes: Vec<(Instant, &'static str)>,
) {
    for (at, status) in changes {
        if unless_closed(&mut closed, tokio::time::sleep_until(at))
            .await
            .is_none()
        {
            return;
        }
        let Some(sim) = simulator.upgrade() else {
            return;
        };
        let Some(url) = sim.config().webhook_url else {
            continue;
        };
        let url = match reqwest::Url::parse(&url) {
            Ok(url) => url,
            Err(error) => {
                tracing::warn!(%error, payout_id = %payout_id, "omno webhook_url is not a URL; not sending");
                continue;
            }
        };
        let webhook = OmnoWebhook {
            payout_id: payout_id.clone(),
            order_id: order_id.clone(),
            status: status.to_owned(),
        };
        let (client, mut closed) = (sim.provider.http.clone(), closed.clone());
        let span = tracing::info_span!("omno webhook", payout_id = %payout_id, status);
        tokio::spawn(async move {
            until_ok(&mut closed, span, || {
                client.post(url.clone()).json(&webhook)
            })
            .await;
        });
    }
}
