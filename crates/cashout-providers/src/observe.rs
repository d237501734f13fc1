//! Provider call metrics and spans: one latency histogram by provider, operation and outcome,
//! and the outcome recorded on the call's `provider_call` span.

use std::time::Instant;

/// Records one call's duration. `outcome` is `ok`, `refused` (the provider said no) or the error
/// kind (`connect`, `timeout`, `transport`, `http_<status>`, `decode`).
pub(crate) fn call(
    span: &tracing::Span,
    provider: &'static str,
    operation: &'static str,
    started: Instant,
    outcome: &str,
) {
    span.record("outcome", outcome);
    metrics::histogram!(
        "cashout_provider_call_seconds",
        "provider" => provider,
        "operation" => operation,
        "outcome" => outcome.to_owned()
    )
    .record(started.elapsed().as_secs_f64());
}

/// The outcome label of a result.
pub(crate) fn outcome<T>(r: &Result<T, crate::ProviderError>) -> String {
    match r {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.kind(),
    }
}
