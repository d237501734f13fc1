//! Camoo (`X-Api-Key` + `X-Api-Secret`): `POST /cashout`, `GET /verify?id=`, `GET /account`,
//! and the signed GET notification. HTTP lives here; wire types and status mapping in
//! [`transformers`]; the notification signature in [`signature`].

pub mod signature;
pub mod transformers;

use crate::error::ProviderError;
use crate::observe;
use crate::policy::{PollPolicy, RetryPolicy, Timeouts};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;
pub use transformers::{Account, CreateCashout, Payment, PaymentStatus};

/// Camoo settings (`CASHOUT_PROVIDERS__CAMOO__…`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CamooConfig {
    /// Base URL including the path, as documented: `https://api.camoo.cm/v1/payment`.
    pub base_url: String,
    /// `X-Api-Key`.
    pub api_key: SecretString,
    /// `X-Api-Secret`; also the HMAC key of notifications.
    pub api_secret: SecretString,
    /// Where Camoo should send notifications (our `GET /v1/providers/camoo/notify`); sent as
    /// `notification_url` when set.
    pub notification_url: Option<String>,
    /// Client timeouts per operation (`create_ms`, `status_ms` for verify, `account_ms`).
    pub timeouts: Timeouts,
    /// The verify schedule.
    pub poll: PollPolicy,
    /// Retries of retryable errors.
    pub retry: RetryPolicy,
}

impl Default for CamooConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.camoo.cm/v1/payment".to_owned(),
            api_key: SecretString::from(""),
            api_secret: SecretString::from(""),
            notification_url: None,
            timeouts: Timeouts::default(),
            poll: PollPolicy::default(),
            retry: RetryPolicy::default(),
        }
    }
}

/// A setting that makes the client unusable.
#[derive(Debug, thiserror::Error)]
#[error("providers.camoo.{key}: {message}")]
pub struct ConfigError {
    /// The offending key.
    pub key: &'static str,
    /// Why.
    pub message: String,
}

/// The Camoo HTTP client.
#[derive(Clone)]
pub struct CamooClient {
    http: reqwest::Client,
    base_url: String,
    notification_url: Option<String>,
    timeouts: Timeouts,
}

impl std::fmt::Debug for CamooClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CamooClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl CamooClient {
    /// Builds a client; refuses empty credentials or a malformed base URL.
    pub fn new(config: &CamooConfig) -> Result<Self, ConfigError> {
        let base = url::Url::parse(&config.base_url).map_err(|e| ConfigError {
            key: "base_url",
            message: e.to_string(),
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ConfigError {
                key: "base_url",
                message: "must be an http(s) URL".to_owned(),
            });
        }
        let header = |key: &'static str, v: &SecretString| {
            if v.expose_secret().is_empty() {
                return Err(ConfigError {
                    key,
                    message: "must be set".to_owned(),
                });
            }
            let mut h = HeaderValue::from_str(v.expose_secret()).map_err(|_| ConfigError {
                key,
                message: "must be printable ASCII".to_owned(),
            })?;
            h.set_sensitive(true);
            Ok(h)
        };
        let mut headers = HeaderMap::new();
        headers.insert("X-Api-Key", header("api_key", &config.api_key)?);
        headers.insert("X-Api-Secret", header("api_secret", &config.api_secret)?);
        headers.insert("X-Api-Version", HeaderValue::from_static("v1"));
        headers.insert("Accept", HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_millis(config.timeouts.connect_ms))
            // Never follow redirects: a 303 after an executed create would be re-sent as a GET
            // and read as a refusal, and the credential headers would travel to another host.
            // A 3xx is an unknown outcome for a create and a contract problem for a read.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError {
                key: "base_url",
                message: e.to_string(),
            })?;
        Ok(Self {
            http,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            notification_url: config.notification_url.clone(),
            timeouts: config.timeouts.clone(),
        })
    }

    /// The `notification_url` we send, if any.
    pub fn notification_url(&self) -> Option<&str> {
        self.notification_url.as_deref()
    }

    /// `create`, timed (see `observe`).
    pub async fn create(&self, req: &CreateCashout) -> Result<Payment, ProviderError> {
        let started = std::time::Instant::now();
        let span = tracing::info_span!(
            "provider_call",
            provider = "camoo",
            operation = "create",
            http.method = "POST",
            http.status_code = tracing::field::Empty,
            otel.kind = "client",
            outcome = tracing::field::Empty
        );
        let r = tracing::Instrument::instrument(self.create_inner(req), span.clone()).await;
        observe::call(&span, "camoo", "create", started, &observe::outcome(&r));
        r
    }

    /// `POST /cashout`. Executes a payout: never call it twice for one cashout.
    async fn create_inner(&self, req: &CreateCashout) -> Result<Payment, ProviderError> {
        let resp = self
            .http
            .post(format!("{}/cashout", self.base_url))
            .timeout(Duration::from_millis(self.timeouts.create_ms))
            .json(req)
            .send()
            .await
            .map_err(ProviderError::from_reqwest)?;
        // 201 is documented, 200 is what the official SDK accepts: take both.
        let body: transformers::CreateResponse =
            read(resp, &[StatusCode::OK, StatusCode::CREATED]).await?;
        Ok(body.cash_out)
    }

    /// `verify`, timed (see `observe`).
    pub async fn verify(&self, id: &str) -> Result<Payment, ProviderError> {
        let started = std::time::Instant::now();
        let span = tracing::info_span!(
            "provider_call",
            provider = "camoo",
            operation = "verify",
            http.method = "GET",
            http.status_code = tracing::field::Empty,
            otel.kind = "client",
            outcome = tracing::field::Empty
        );
        let r = tracing::Instrument::instrument(self.verify_inner(id), span.clone()).await;
        observe::call(&span, "camoo", "verify", started, &observe::outcome(&r));
        r
    }

    /// `GET /verify?id=`: the truth about a payout.
    async fn verify_inner(&self, id: &str) -> Result<Payment, ProviderError> {
        let resp = self
            .http
            .get(format!("{}/verify", self.base_url))
            .timeout(Duration::from_millis(self.timeouts.status_ms))
            .query(&[("id", id)])
            .send()
            .await
            .map_err(ProviderError::from_reqwest)?;
        let body: transformers::VerifyResponse = read(resp, &[StatusCode::OK]).await?;
        Ok(body.verify)
    }

    /// `account`, timed (see `observe`).
    pub async fn account(&self) -> Result<Account, ProviderError> {
        let started = std::time::Instant::now();
        let span = tracing::info_span!(
            "provider_call",
            provider = "camoo",
            operation = "account",
            http.method = "GET",
            http.status_code = tracing::field::Empty,
            otel.kind = "client",
            outcome = tracing::field::Empty
        );
        let r = tracing::Instrument::instrument(self.account_inner(), span.clone()).await;
        observe::call(&span, "camoo", "account", started, &observe::outcome(&r));
        r
    }

    /// `GET /account`: the merchant balance.
    async fn account_inner(&self) -> Result<Account, ProviderError> {
        let resp = self
            .http
            .get(format!("{}/account", self.base_url))
            .timeout(Duration::from_millis(self.timeouts.account_ms))
            .send()
            .await
            .map_err(ProviderError::from_reqwest)?;
        let body: transformers::AccountResponse = read(resp, &[StatusCode::OK]).await?;
        Ok(body.account)
    }
}

async fn read<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
    ok: &[StatusCode],
) -> Result<T, ProviderError> {
    let status = resp.status();
    tracing::Span::current().record("http.status_code", status.as_u16());
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = resp.bytes().await.map_err(ProviderError::from_reqwest)?;
    if ok.contains(&status) {
        serde_json::from_slice(&bytes)
            .map_err(|e| ProviderError::Decode(transformers::redact(&e.to_string())))
    } else {
        Err(ProviderError::Http {
            status: status.as_u16(),
            message: transformers::error_message(&bytes),
            retry_after,
        })
    }
}
