//! Callbacks a simulator sends on its own (Camoo notifications, OMNO webhooks): the HTTP client
//! they use and the retry loop, up to [`ATTEMPTS`] sends [`RETRY_DELAY`] apart until one gets
//! HTTP 200, stopped when the simulator is dropped.

use std::time::Duration;

use tokio::sync::watch;
use tracing::Instrument;

use crate::util::unless_closed;

/// Delivery attempts before giving up.
pub(crate) const ATTEMPTS: u32 = 5;
/// Pause between two attempts.
pub(crate) const RETRY_DELAY: Duration = Duration::from_millis(500);

/// The client of a simulator's callbacks: no proxy, 5 s per attempt; redirects followed or not.
pub(crate) fn client(follow_redirects: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5));
    let builder = if follow_redirects {
        builder
    } else {
        builder.redirect(reqwest::redirect::Policy::none())
    };
    builder.build().unwrap_or_default()
}

/// Sends `request()` until it gets HTTP 200, at most [`ATTEMPTS`] times [`RETRY_DELAY`] apart,
/// logging under `span`. `true` once acknowledged; `false` when it gave up or the simulator was
/// dropped.
pub(crate) async fn until_ok(
    closed: &mut watch::Receiver<()>,
    span: tracing::Span,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> bool {
    async move {
        for attempt in 1..=ATTEMPTS {
            match unless_closed(closed, request().send()).await {
                None => return false,
                Some(Ok(response)) if response.status() == reqwest::StatusCode::OK => {
                    tracing::info!(attempt, "delivered");
                    return true;
                }
                Some(Ok(response)) => {
                    tracing::debug!(attempt, http_status = %response.status(), "refused");
                }
                Some(Err(error)) => {
                    tracing::debug!(attempt, error = %error.without_url(), "failed");
                }
            }
            if attempt < ATTEMPTS
                && unless_closed(closed, tokio::time::sleep(RETRY_DELAY))
                    .await
                    .is_none()
            {
                return false;
            }
        }
        tracing::warn!(attempts = ATTEMPTS, "not acknowledged; giving up");
        false
    }
    .instrument(span)
    .await
}
