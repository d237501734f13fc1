//! Provider call metrics and spans: one latency histogram by provider, operation and outcome,
//! and the outcome recorded on the call's `provider_call` span.

use std::future::Future;
use std::time::Instant;
use tracing::Instrument;

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

/// Runs one provider call inside its `provider_call` span (provider, operation, HTTP method,
/// status, outcome; a client span for OpenTelemetry) and records its latency histogram, with
/// the outcome label `outcome` gives the result.
pub(crate) async fn timed<T>(
    provider: &'static str,
    operation: &'static str,
    method: &'static str,
    outcome: impl FnOnce(&T) -> String,
    call_fut: impl Future<Output = T>,
) -> T {
    let started = Instant::now();
    let span = tracing::info_span!(
        "provider_call",
        provider,
        operation,
        http.method = method,
        http.status_code = tracing::field::Empty,
        otel.kind = "client",
        outcome = tracing::field::Empty
    );
    let r = call_fut.instrument(span.clone()).await;
    call(&span, provider, operation, started, &outcome(&r));
    r
}
