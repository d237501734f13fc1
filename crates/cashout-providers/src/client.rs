//! What every provider client is built from: a checked base URL, credentials as sensitive
//! headers, and one reqwest client that never follows redirects (a 303 after an executed payout
//! would be re-sent as a GET and read as a refusal, and credential headers would travel to
//! another host; a 3xx is an unknown outcome for a create and a contract problem for a read).

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// A setting that makes a provider client unusable. Names the key, never its value.
#[derive(Debug, thiserror::Error)]
#[error("providers.{provider}.{key}: {message}")]
pub struct ConfigError {
    /// `camoo`, `omt`, `omno`.
    pub provider: &'static str,
    /// The offending key.
    pub key: &'static str,
    /// Why.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(
        provider: &'static str,
        key: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            provider,
            key,
            message: message.into(),
        }
    }
}

/// The base URL without a trailing slash, after checking it is http(s).
pub(crate) fn base_url(provider: &'static str, url: &str) -> Result<String, ConfigError> {
    let parsed =
        url::Url::parse(url).map_err(|e| ConfigError::new(provider, "base_url", e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::new(
            provider,
            "base_url",
            "must be an http(s) URL",
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// A configured secret, refused when empty.
pub(crate) fn required<'a>(
    provider: &'static str,
    key: &'static str,
    secret: &'a SecretString,
) -> Result<&'a str, ConfigError> {
    let v = secret.expose_secret();
    if v.is_empty() {
        return Err(ConfigError::new(provider, key, "must be set"));
    }
    Ok(v)
}

/// A header value never shown in `Debug` output.
pub(crate) fn sensitive(
    provider: &'static str,
    key: &'static str,
    value: &str,
) -> Result<HeaderValue, ConfigError> {
    let mut h = HeaderValue::from_str(value)
        .map_err(|_| ConfigError::new(provider, key, "must be printable ASCII"))?;
    h.set_sensitive(true);
    Ok(h)
}

/// The HTTP client: these headers on every request, JSON accepted, the connect timeout, and
/// no redirects followed.
pub(crate) fn build(
    provider: &'static str,
    headers: Vec<(HeaderName, HeaderValue)>,
    connect_ms: u64,
) -> Result<reqwest::Client, ConfigError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(name, value);
    }
    map.insert(
        reqwest::header::ACCEPT,
        HeaderValue::from_static("application/json"),
    );
    reqwest::Client::builder()
        .default_headers(map)
        .connect_timeout(Duration::from_millis(connect_ms))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ConfigError::new(provider, "base_url", e.to_string()))
}
