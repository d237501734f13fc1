//! Camoo notifications: the signature canonicalisation and the background task that sends the
//! signed GET to a payout's `notification_url` when it settles, retrying until HTTP 200.

use std::sync::Weak;

use chrono::Utc;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::Sha256;
use tokio::sync::watch;
use tokio::time::Instant;

use super::Camoo;
use crate::sim::Sim;
use crate::sim::deliver::until_ok;
use crate::util::{iso, unless_closed};

/// RFC 3986: everything but `A-Z a-z 0-9 - . _ ~` is percent-encoded (upper-case hex).
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The canonical string: parameters except `sig`, sorted by key (then value), joined as
/// `key=value` with `&`, values percent-encoded per RFC 3986.
pub(crate) fn canonical_query(params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .copied()
        .filter(|(key, _)| *key != "sig")
        .collect();
    sorted.sort_unstable();
    sorted
        .iter()
        .map(|(key, value)| format!("{key}={}", utf8_percent_encode(value, RFC3986)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Signature of a Camoo notification: lowercase hex of HMAC-SHA256 keyed with `secret` over the
/// canonical string of `params` (a `sig` entry, if present, is ignored).
///
/// The canonical string drops `sig`, sorts by key, and joins `key=value` with `&`, each value
/// percent-encoded per RFC 3986 (unreserved `A-Z a-z 0-9 - . _ ~` kept, the rest `%XX`).
pub fn camoo_signature(params: &[(&str, &str)], secret: &str) -> String {
    sign(&canonical_query(params), secret)
}

fn sign(canonical: &str, secret: &str) -> String {
    // HMAC accepts keys of any length, so this never fails.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(canonical.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Builds the signed notification URL of payout `id`, if it has a URL and a final status.
fn notification_url(sim: &Sim<Camoo>, id: &str, secret: &str) -> Option<reqwest::Url> {
    let ledger = sim.ledger();
    let payout = ledger.store.payouts.get(id)?;
    let mut url = payout.notification_url.clone()?;
    let status = payout.outcome.final_status()?;
    let status_time = iso(payout.completed_utc()?);
    let mut params = vec![
        ("payment_id", payout.id.as_str()),
        ("status", status),
        ("status_time", status_time.as_str()),
    ];
    if let Some(trx) = payout.external_reference.as_deref() {
        params.push(("trx", trx));
    }
    let canonical = canonical_query(&params);
    let query = format!("{canonical}&sig={}", sign(&canonical, secret));
    let query = match url.query() {
        Some(existing) if !existing.is_empty() => format!("{existing}&{query}"),
        _ => query,
    };
    url.set_query(Some(&query));
    Some(url)
}

/// Waits until `at` (the payout's settle time), then notifies (see [`until_ok`]) and
/// records when it was acknowledged. Stops silently if the simulator is dropped.
pub(crate) async fn deliver(
    simulator: Weak<Sim<Camoo>>,
    mut closed: watch::Receiver<()>,
    id: String,
    at: Instant,
) {
    if unless_closed(&mut closed, tokio::time::sleep_until(at))
        .await
        .is_none()
    {
        return;
    }
    let Some((client, url)) = simulator.upgrade().and_then(|sim| {
        let config = sim.config();
        if !config.notify {
            tracing::debug!(id = %id, "camoo notifications off; not notifying");
            return None;
        }
        let url = notification_url(&sim, &id, &config.api_secret)?;
        Some((sim.provider.http.clone(), url))
    }) else {
        return;
    };
    let span = tracing::info_span!("camoo notification", id = %id);
    if until_ok(&mut closed, span, || client.get(url.clone())).await
        && let Some(sim) = simulator.upgrade()
        && let Some(payout) = sim.ledger().store.payouts.get_mut(&id)
    {
        payout.notified_at = Some(Utc::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_vector() {
        let params = [
            ("trx", "order/42 é"),
            ("status_time", "2026-11-21T05:00:00Z"),
            ("sig", "ignored"),
            ("payment_id", "7d3c1b9e-0000-4000-8000-000000000001"),
            ("status", "CONFIRMED"),
        ];
        assert_eq!(
            canonical_query(&params),
            "payment_id=7d3c1b9e-0000-4000-8000-000000000001&status=CONFIRMED\
             &status_time=2026-11-21T05%3A00%3A00Z&trx=order%2F42%20%C3%A9"
        );
        // Computed independently (Python hmac/hashlib).
        assert_eq!(
            camoo_signature(&params, "sandbox-secret"),
            "f73eefaed4349a510bc4f0444930a749c2b3295793a5a0c90819638fa20f00af"
        );
    }
}
