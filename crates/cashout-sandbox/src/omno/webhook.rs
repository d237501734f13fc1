//! OMNO webhooks: after a confirm, one background task per payout walks its status changes
//! (`PENDING`, then `ON_HOLD` / the final status) and, at each, POSTs `{payoutId, orderId, status}`
//! to the `webhook_url` configured at that moment (unsigned, as documented), retrying until HTTP
//! 200.

use std::sync::Weak;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::{Inner, OmnoWebhook};
use crate::util::unless_closed;

/// Delivery attempts before giving up.
const ATTEMPTS: u32 = 5;
/// Pause between two attempts.
const RETRY_DELAY: Duration = Duration::from_millis(500);

/// Waits for each `(instant, status)` change of payout `payout_id` in turn and sends its webhook
/// (each delivery runs on its own, so retries never delay the next change). Stops silently if
/// the simulator is dropped.
pub(crate) async fn deliver_changes(
    simulator: Weak<Inner>,
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
        let Some(inner) = simulator.upgrade() else {
            return;
        };
        let Some(url) = inner.config().webhook_url else {
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
        tokio::spawn(deliver(inner.http.clone(), closed.clone(), url, webhook));
    }
}

/// Up to [`ATTEMPTS`] POSTs of `webhook`, [`RETRY_DELAY`] apart, until one gets HTTP 200.
async fn deliver(
    client: reqwest::Client,
    mut closed: watch::Receiver<()>,
    url: reqwest::Url,
    webhook: OmnoWebhook,
) {
    let (id, status) = (&webhook.payout_id, &webhook.status);
    for attempt in 1..=ATTEMPTS {
        match unless_closed(&mut closed, client.post(url.clone()).json(&webhook).send()).await {
            None => return,
            Some(Ok(response)) if response.status() == reqwest::StatusCode::OK => {
                tracing::info!(payout_id = %id, status = %status, attempt, "omno webhook delivered");
                return;
            }
            Some(Ok(response)) => {
                tracing::debug!(payout_id = %id, status = %status, attempt, http_status = %response.status(), "omno webhook refused");
            }
            Some(Err(error)) => {
                tracing::debug!(payout_id = %id, status = %status, attempt, error = %error.without_url(), "omno webhook failed");
            }
        }
        if attempt < ATTEMPTS
            && unless_closed(&mut closed, tokio::time::sleep(RETRY_DELAY))
                .await
                .is_none()
        {
            return;
        }
    }
    tracing::warn!(payout_id = %id, status = %status, attempts = ATTEMPTS, "omno webhook not acknowledged; giving up");
}
