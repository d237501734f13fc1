//! The one place that builds the tracing subscriber.

use tracing_subscriber::EnvFilter;

/// Logs to stderr, human-readable or JSON; level from `RUST_LOG` (default `default_level`).
pub fn init(format: &str, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().with_current_span(true).try_init()
    } else {
        builder.try_init()
    };
}
