//! The process's metrics recorder (Prometheus text) and the worker's `/metrics` listener.

use cashout_api::MetricsRender;
use cashout_store::Producer;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder once per process and returns a renderer (`None` if another recorder
/// was installed first).
pub fn install() -> Option<MetricsRender> {
    let handle = HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("cashout_provider_call_seconds".to_owned()),
                &[
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                ],
            )
            .ok()?;
        builder.install_recorder().ok()
    });
    handle
        .clone()
        .map(|h| Arc::new(move || h.render()) as MetricsRender)
}

/// Serves `GET /metrics` for a worker process until `shutdown`; a bind failure is logged.
pub async fn serve_worker_metrics(
    listen: String,
    producer: Producer,
    render: MetricsRender,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    if listen.is_empty() {
        return;
    }
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(%listen, error = %e, "worker.metrics_listen: cannot bind; no /metrics here");
            return;
        }
    };
    tracing::info!(%listen, "worker metrics listening");
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let producer = producer.clone();
            let render = render.clone();
            async move {
                if let Err(e) = producer.refresh_gauges().await {
                    tracing::warn!(error = %e, "could not read gauges from redis");
                }
                render()
            }
        }),
    );
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::warn!(error = %e, "worker metrics server stopped");
    }
}
