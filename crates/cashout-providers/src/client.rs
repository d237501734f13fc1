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

/// A provider's HTTP answer, read once for every adapter: its status (recorded on the current
/// span as `http.status_code`), its `Retry-After`, and its body.
pub(crate) struct Answer {
    /// The HTTP status.
    pub(crate) status: u16,
    /// `Retry-After`, as a delay from now (RFC 9110: delay-seconds or an HTTP-date).
    pub(crate) retry_after: Option<Duration>,
    /// The body.
    pub(crate) bytes: Vec<u8>,
}

impl Answer {
    /// Reads `resp` whole. A body that cannot be read is a transport error.
    pub(crate) async fn read(resp: reqwest::Response) -> Result<Self, crate::ProviderError> {
        let status = resp.status().as_u16();
        tracing::Span::current().record("http.status_code", status);
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, chrono::Utc::now()));
        let bytes = resp
            .bytes()
            .await
            .map_err(crate::ProviderError::from_reqwest)?
            .to_vec();
        Ok(Self {
            status,
            retry_after,
            bytes,
        })
    }

    /// Whether the status is 2xx.
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// An HTTP error with this answer's status and `Retry-After` and `message` (redacted of
    /// digit runs and cut to 300 characters: it reaches logs and the history).
    pub(crate) fn error(&self, message: &str) -> crate::ProviderError {
        crate::ProviderError::Http {
            status: self.status,
            message: crate::camoo::transformers::redact(message)
                .chars()
                .take(300)
                .collect(),
            retry_after: self.retry_after,
        }
    }
}

/// A `Retry-After` value as a delay from `now`: delay-seconds (`120`) or an HTTP-date
/// (`Sun, 06 Nov 1994 08:49:37 GMT`; one in the past is no delay). Anything else is ignored.
pub(crate) fn retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(v.parse().unwrap_or(u64::MAX)));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-03T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after("Thu, 03 Dec 2026 12:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Thu, 03 Dec 2026 11:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        for bad in ["", "-5", "1.5", "soon", "12s"] {
            assert_eq!(retry_after(bad, now), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn retry_after_never_panics(v in ".{0,64}") {
            let _ = retry_after(&v, chrono::Utc::now());
        }
    }
}
