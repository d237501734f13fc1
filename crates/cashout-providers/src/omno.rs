//! OMNO (Bearer token): `POST /public/payout` creates (no money moves), `PUT …/confirm` executes,
//! `PUT …/reject` cancels before confirmation, `GET /public/payout/{id}` reads. The token is a
//! static bearer token from configuration (no OAuth2 client-credentials flow yet). HTTP here;
//! wire types and the status mapping in [`transformers`].

pub mod transformers;

use crate::client;
use crate::error::ProviderError;
use crate::observe;
use crate::policy::{PollPolicy, RetryPolicy, Timeouts};
use reqwest::header::AUTHORIZATION;
use secrecy::SecretString;
use serde::Deserialize;
use std::time::Duration;
pub use transformers::{CreatePayout, Created, OmnoStatus, Payout, PayoutStatus};

/// OMNO settings (`CASHOUT_PROVIDERS__OMNO__…`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OmnoConfig {
    /// Base URL without the path: `https://api.omno.com` (sandbox `https://api.omno.dev`).
    pub base_url: String,
    /// The bearer token.
    pub token: SecretString,
    /// Client timeouts (`create_ms` for create and confirm, `status_ms` for reads and reject).
    pub timeouts: Timeouts,
    /// The status-read schedule after confirmation.
    pub poll: PollPolicy,
    /// Retries of retryable errors.
    pub retry: RetryPolicy,
    /// Rate and concurrency limits on calls, across all workers (off by default).
    pub limits: crate::policy::CallLimits,
}

impl Default for OmnoConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.omno.com".to_owned(),
            token: SecretString::from(""),
            timeouts: Timeouts::default(),
            poll: PollPolicy::default(),
            retry: RetryPolicy::default(),
            limits: crate::policy::CallLimits::default(),
        }
    }
}

pub use crate::client::ConfigError;

/// The OMNO HTTP client.
#[derive(Clone)]
pub struct OmnoClient {
    http: reqwest::Client,
    base_url: String,
    timeouts: Timeouts,
}

impl std::fmt::Debug for OmnoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OmnoClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl OmnoClient {
    /// Builds a client; refuses an empty token or a bad URL.
    pub fn new(config: &OmnoConfig) -> Result<Self, ConfigError> {
        const P: &str = "omno";
        let base_url = client::base_url(P, &config.base_url)?;
        let token = client::required(P, "token", &config.token)?;
        let bearer = client::sensitive(P, "token", &format!("Bearer {token}"))?;
        let http = client::build(P, vec![(AUTHORIZATION, bearer)], config.timeouts.connect_ms)?;
        Ok(Self {
            http,
            base_url,
            timeouts: config.timeouts.clone(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/public/payout{path}", self.base_url)
    }

    /// `create`, timed (see `observe`).
    pub async fn create(&self, req: &CreatePayout) -> Result<Created, ProviderError> {
        observe::timed(
            "omno",
            "create",
            "POST",
            observe::outcome,
            self.create_inner(req),
        )
        .await
    }

    /// `POST /public/payout`. Creates a payout waiting for confirmation; no money moves yet, but
    /// OMNO does not dedupe `orderId`, so a lost answer is never blindly resent.
    async fn create_inner(&self, req: &CreatePayout) -> Result<Created, ProviderError> {
        let resp = self
            .http
            .post(self.url(""))
            .timeout(Duration::from_millis(self.timeouts.create_ms))
            .json(req)
            .send()
            .await
            .map_err(ProviderError::from_reqwest)?;
        let created: Created = transformers::read(resp).await?;
        if transformers::path_segment(&created.payout_id).is_empty() {
            return Err(ProviderError::Decode(
                "create answered without a payoutId".into(),
            ));
        }
        Ok(created)
    }

    /// `confirm`, timed (see `observe`).
    pub async fn confirm(&self, payout_id: &str) -> Result<(), ProviderError> {
        observe::timed(
            "omno",
            "confirm",
            "PUT",
            observe::outcome,
            self.confirm_inner(payout_id),
        )
        .await
    }

    /// `PUT /public/payout/{id}/confirm`: executes the payout.
    async fn confirm_inner(&self, payout_id: &str) -> Result<(), ProviderError> {
        self.put(payout_id, "confirm", self.timeouts.create_ms)
            .await
    }

    /// `reject`, timed (see `observe`).
    pub async fn reject(&self, payout_id: &str) -> Result<(), ProviderError> {
        observe::timed(
            "omno",
            "reject",
            "PUT",
            observe::outcome,
            self.reject_inner(payout_id),
        )
        .await
    }

    /// `PUT /public/payout/{id}/reject`: cancels it before confirmation.
    async fn reject_inner(&self, payout_id: &str) -> Result<(), ProviderError> {
        self.put(payout_id, "reject", self.timeouts.status_ms).await
    }

    async fn put(
        &self,
        payout_id: &str,
        action: &str,
        timeout_ms: u64,
    ) -> Result<(), ProviderError> {
        let resp = self
            .http
            .put(self.url(&format!(
                "/{}/{action}",
                transformers::path_segment(payout_id)
            )))
            .timeout(Duration::from_millis(timeout_ms))
            .send()
            .await
            .map_err(ProviderError::from_reqwest)?;
        transformers::read::<serde_json::Value>(resp)
            .await
            .map(|_| ())
    }

    /// `status`, timed (see `observe`).
    pub async fn get(&self, payout_id: &str) -> Result<Payout, ProviderError> {
        observe::timed(
            "omno",
            "status",
            "GET",
            observe::outcome,
            self.get_inner(payout_id),
        )
        .await
    }

    /// `GET /public/payout/{id}`: the truth about a payout.
    async fn get_inner(&self, payout_id: &str) -> Result<Payout, ProviderError> {
        let resp = self
            .http
            .get(self.url(&format!("/{}", transformers::path_segment(payout_id))))
            .timeout(Duration::from_millis(self.timeouts.status_ms))
            .send()
            .await
            .map_err(ProviderError::from_reqwest)?;
        transformers::read(resp).await
    }
}
