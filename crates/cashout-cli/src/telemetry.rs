//! The one place that builds the tracing subscriber: logs to stderr (text or JSON, level from
//! `RUST_LOG`), and, when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) is set, spans
//! exported over OTLP/HTTP with W3C trace-context propagation. `OTEL_SERVICE_NAME` and
//! `OTEL_RESOURCE_ATTRIBUTES` are honoured. Must run before the tokio runtime starts (the
//! exporter's HTTP client is a blocking one, driven by the batch processor's own thread).

use crate::settings::LogFormat;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Flushes and stops the exporter when dropped (at the end of `main`).
pub struct Guard(Option<SdkTracerProvider>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = p.shutdown();
        }
    }
}

fn exporter_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|k| std::env::var(k).is_ok_and(|v| !v.trim().is_empty()))
}

/// Installs the subscriber. `service` names the process when `OTEL_SERVICE_NAME` is unset.
pub fn init(format: LogFormat, default_level: &str, service: &str) -> Guard {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let provider = if exporter_configured() {
        match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
        {
            Ok(exporter) => {
                let mut resource = opentelemetry_sdk::Resource::builder();
                if std::env::var("OTEL_SERVICE_NAME").is_err() {
                    resource = resource.with_service_name(service.to_owned());
                }
                Some(
                    SdkTracerProvider::builder()
                        .with_batch_exporter(exporter)
                        .with_resource(resource.build())
                        .build(),
                )
            }
            Err(e) => {
                eprintln!("warning: OTLP exporter not started: {e}");
                None
            }
        }
    } else {
        None
    };
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("cashout")));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let _ = if format == LogFormat::Json {
        registry
            .with(fmt.json().with_current_span(true).with_span_list(true))
            .try_init()
    } else {
        registry.with(fmt).try_init()
    };
    Guard(provider)
}
