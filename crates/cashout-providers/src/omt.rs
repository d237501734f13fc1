//! OMT (HTTP Basic auth): `GETCTI?accountId&otp` finds the customer's pending cashout, `PAYCTI`
//! pays it, `Revoke` cancels it. Answers are synchronous; there is no status call, so a PAYCTI
//! whose answer is lost can only be settled by a person. HTTP here; wire types and the
//! classification of failures in [`transformers`].

pub mod transformers;

use crate::client;
use crate::error::ProviderError;
use crate::observe;
use crate::policy::{RetryPolicy, Timeouts};
use cashout_core::{OmtAccountId, Otp};
use reqwest::header::AUTHORIZATION;
use secrecy::SecretString;
use serde::Deserialize;
use std::time::Duration;
pub use transformers::{CtiDetails, OmtAnswer, OmtFailure, PayCti, omt_currency};

/// OMT settings (`CASHOUT_PROVIDERS__OMT__…`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OmtConfig {
    /// Base URL without the path, as documented: `https://omt-cashout.almajmoua.org:8451`.
    pub base_url: String,
    /// Basic auth user.
    pub username: SecretString,
    /// Basic auth password.
    pub password: SecretString,
    /// Client timeouts (`status_ms` for GETCTI and Revoke, `create_ms` for PAYCTI).
    pub timeouts: Timeouts,
    /// Retries of retryable GETCTI errors (PAYCTI is never retried once it may have left).
    pub retry: RetryPolicy,
    /// Failed attempts per account we allow before the guard refuses more (OMT locks at 4).
    pub max_failed_attempts: u32,
    /// How long an account OMT reported locked is treated as locked without asking again.
    pub lock_ttl_secs: u64,
    /// The longest an OMT request can still be on its way after it was sent (a slow network, a
    /// proxy holding it). A success forgets unanswered attempts older than this plus its own
    /// call's timeout (they reached OMT before it); younger ones stay counted. `0`: never.
    pub max_transit_secs: u64,
    /// Rate and concurrency limits on calls, across all workers (off by default).
    pub limits: crate::policy::CallLimits,
}

impl Default for OmtConfig {
    fn default() -> Self {
        Self {
            base_url: "https://omt-cashout.almajmoua.org:8451".to_owned(),
            username: SecretString::from(""),
            password: SecretString::from(""),
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
            limits: crate::policy::CallLimits::default(),
            max_failed_attempts: 3,
            lock_ttl_secs: 86_400,
            max_transit_secs: 600,
        }
    }
}

pub use crate::client::ConfigError;

/// The OMT HTTP client.
#[derive(Clone)]
pub struct OmtClient {
    http: reqwest::Client,
    base_url: String,
    timeouts: Timeouts,
}

impl std::fmt::Debug for OmtClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OmtClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl OmtClient {
    /// Builds a client; refuses empty credentials, a guard above OMT's own limit, or a bad URL.
    pub fn new(config: &OmtConfig) -> Result<Self, ConfigError> {
        const P: &str = "omt";
        let base_url = client::base_url(P, &config.base_url)?;
        let user = client::required(P, "username", &config.username)?;
        let password = client::required(P, "password", &config.password)?;
        if config.max_failed_attempts > 3 {
            return Err(ConfigError::new(
                P,
                "max_failed_attempts",
                "must be at most 3: OMT locks the account at the 4th failure",
            ));
        }
        let basic = format!("Basic {}", base64(format!("{user}:{password}").as_bytes()));
        let http = client::build(
            P,
            vec![(AUTHORIZATION, client::sensitive(P, "username", &basic)?)],
            config.timeouts.connect_ms,
        )?;
        Ok(Self {
            http,
            base_url,
            timeouts: config.timeouts.clone(),
        })
    }

    fn url(&self, endpoint: &str) -> String {
        format!("{}/api/v1/cashout/{endpoint}", self.base_url)
    }

    /// `getcti`, timed (see `observe`).
    pub async fn get_cti(
        &self,
        account: OmtAccountId,
        otp: &Otp,
    ) -> Result<OmtAnswer<CtiDetails>, ProviderError> {
        observe::timed(
            "omt",
            "getcti",
            "GET",
            omt_outcome,
            self.get_cti_inner(account, otp),
        )
        .await
    }

    /// `GETCTI`: the customer's pending cashout. A read, but a wrong OTP counts towards OMT's
    /// lock: the caller must go through the lockout guard first.
    async fn get_cti_inner(
        &self,
        account: OmtAccountId,
        otp: &Otp,
    ) -> Result<OmtAnswer<CtiDetails>, ProviderError> {
        let resp = self
            .http
            .get(self.url("GETCTI"))
            .timeout(Duration::from_millis(self.timeouts.status_ms))
            .query(&[
                ("accountId", account.get().to_string()),
                ("otp", otp.expose().to_owned()),
            ])
            .send()
            .await
            .map_err(ProviderError::from_reqwest)?;
        transformers::read(resp).await
    }

    /// `paycti`, timed (see `observe`).
    pub async fn pay_cti(&self, req: &PayCti) -> Result<OmtAnswer<()>, ProviderError> {
        observe::timed(
            "omt",
            "paycti",
            "POST",
            omt_outcome,
            self.pay_cti_inner(req),
        )
        .await
    }

    /// `PAYCTI`: pays. Never send it twice for one cashout.
    async fn pay_cti_inner(&self, req: &PayCti) -> Result<OmtAnswer<()>, ProviderError> {
        let resp = self
            .http
            .post(self.url("PAYCTI"))
            .timeout(Duration::from_millis(self.timeouts.create_ms))
            .json(req)
            .send()
            .await
            .map_err(ProviderError::from_reqwest)?;
        transformers::read::<serde_json::Value>(resp)
            .await
            .map(OmtAnswer::discard)
    }

    /// `revoke`, timed (see `observe`).
    pub async fn revoke(&self, account: OmtAccountId) -> Result<OmtAnswer<()>, ProviderError> {
        observe::timed(
            "omt",
            "revoke",
            "POST",
            omt_outcome,
            self.revoke_inner(account),
        )
        .await
    }

    /// `Revoke`: cancels the account's pending cashout.
    async fn revoke_inner(&self, account: OmtAccountId) -> Result<OmtAnswer<()>, ProviderError> {
        let resp = self
            .http
            .post(self.url("Revoke"))
            .timeout(Duration::from_millis(self.timeouts.status_ms))
            .json(&serde_json::json!({ "accountId": account.get() }))
            .send()
            .await
            .map_err(ProviderError::from_reqwest)?;
        transformers::read::<serde_json::Value>(resp)
            .await
            .map(OmtAnswer::discard)
    }
}

/// Standard base64 (RFC 4648) for the Basic auth header.
fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The outcome label of an OMT call: a failure text OMT answered is `refused`.
fn omt_outcome<T>(r: &Result<OmtAnswer<T>, ProviderError>) -> String {
    match r {
        Ok(OmtAnswer::Failed(_)) => "refused".to_owned(),
        other => observe::outcome(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
    }

    #[test]
    fn the_guard_cannot_exceed_omts_limit() {
        let cfg = OmtConfig {
            username: SecretString::from("u"),
            password: SecretString::from("p"),
            max_failed_attempts: 4,
            ..OmtConfig::default()
        };
        assert_eq!(OmtClient::new(&cfg).unwrap_err().key, "max_failed_attempts");
    }
}
