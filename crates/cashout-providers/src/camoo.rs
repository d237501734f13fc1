//! Camoo (`X-Api-Key` + `X-Api-Secret`): `POST /cashout`, `GET /verify?id=`, `GET /account`,
//! and the signed GET notification. HTTP lives here; wire types and status mapping in
//! [`transformers`]; the notification signature in [`signature`].

pub mod signature;
pub mod transformers;

use crate::client;
use crate::error::ProviderError;
use crate::observe;
use crate::policy::{PollPolicy, RetryPolicy, Timeouts};
use reqwest::StatusCode;
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::SecretString;
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
    /// Rate and concurrency limits on calls, across all workers (off by default).
    pub limits: crate::policy::CallLimits,
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
            limits: crate::policy::CallLimits::default(),
        }
    }
}

pub use crate::client::ConfigError;

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
        const P: &str = "camoo";
        let base_url = client::base_url(P, &config.base_url)?;
        let key = client::required(P, "api_key", &config.api_key)?;
        let secret = client::required(P, "api_secret", &config.api_secret)?;
        let http = client::build(
            P,
            vec![
                (
                    HeaderName::from_static("x-api-key"),
                    client::sensitive(P, "api_key", key)?,
                ),
                (
                    HeaderName::from_static("x-api-secret"),
                    client::sensitive(P, "api_secret", secret)?,
                ),
                (
                    HeaderName::from_static("x-api-version"),
                    HeaderValue::from_static("v1"),
                ),
            ],
            config.timeouts.connect_ms,
        )?;
        Ok(Self {
            http,
            base_url,
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
        observe::timed(
            "camoo",
            "create",
            "POST",
            observe::outcome,
            self.create_inner(req),
        )
        .await
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
        observe::timed(
            "camoo",
            "verify",
            "GET",
            observe::outcome,
            self.verify_inner(id),
        )
        .await
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
        observe::timed(
            "camoo",
            "account",
            "GET",
            observe::outcome,
            self.account_inner(),
        )
        .await
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
    let answer = crate::client::Answer::read(resp).await?;
    if ok.iter().any(|s| s.as_u16() == answer.status) {
        serde_json::from_slice(&answer.bytes)
            .map_err(|e| ProviderError::Decode(transformers::redact(&e.to_string())))
    } else {
        Err(answer.error(&transformers::error_message(&answer.bytes)))
    }
}
