//! Configuration of the OMNO simulator: the token, the settle delay, the webhook URL and the
//! conversion, and what `GET`/`PUT /_admin/omno/config` show and change (never the token).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::sim::CodedError;

/// Configuration of the OMNO simulator.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct OmnoConfig {
    /// Expected Bearer token (default `"sandbox-omno-token"`).
    pub token: String,
    /// Time from confirm until a payout settles, in ms (default 1500).
    pub settle_delay_ms: u64,
    /// Where webhooks are POSTed, if anywhere (default none).
    pub webhook_url: Option<String>,
    /// Convert every payout into this currency at the fixed rate 0.9 (default none: no
    /// conversion), e.g. `"EUR"`: a payout of 100 USD then shows `amount` 90, `currency` `EUR`,
    /// `initialAmount` 100, `initialCurrency` `USD`.
    pub convert_to: Option<String>,
}

impl Default for OmnoConfig {
    fn default() -> Self {
        Self {
            token: "sandbox-omno-token".to_owned(),
            settle_delay_ms: 1500,
            webhook_url: None,
            convert_to: None,
        }
    }
}

impl fmt::Debug for OmnoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OmnoConfig")
            .field("token", &"<redacted>")
            .field("settle_delay_ms", &self.settle_delay_ms)
            .field("webhook_url", &self.webhook_url)
            .field("convert_to", &self.convert_to)
            .finish()
    }
}

/// `Some(value)` for a field that is present, even as `null` (`Some(None)`); absent stays `None`
/// through `#[serde(default)]`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Body of `PUT /_admin/omno/config`: any subset of the tunable fields (unknown fields are a 400).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OmnoConfigPatch {
    /// New settle delay (affects payouts confirmed afterwards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_delay_ms: Option<u64>,
    /// New webhook URL (`http`/`https`); `null` stops webhooks. Read at each status change.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub webhook_url: Option<Option<String>>,
    /// New conversion target (3 letters); `null` stops converting. Affects payouts created
    /// afterwards.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub convert_to: Option<Option<String>>,
}

impl OmnoConfigPatch {
    /// Refuses a webhook URL that is not `http`/`https` or a conversion target that is not 3
    /// letters.
    pub(crate) fn validate(&self) -> Result<(), CodedError> {
        if let Some(Some(url)) = &self.webhook_url {
            let valid =
                reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !valid {
                return Err(CodedError::invalid(
                    "webhook_url",
                    "The webhook_url must be an http or https URL.",
                ));
            }
        }
        if let Some(Some(currency)) = &self.convert_to
            && !(currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_alphabetic()))
        {
            return Err(CodedError::invalid(
                "convert_to",
                "The convert_to must be 3 letters (ISO 4217).",
            ));
        }
        Ok(())
    }

    /// Applies a validated patch to `config`.
    pub(crate) fn apply(&self, config: &mut OmnoConfig) {
        if let Some(v) = self.settle_delay_ms {
            config.settle_delay_ms = v;
        }
        if let Some(v) = &self.webhook_url {
            config.webhook_url.clone_from(v);
        }
        if let Some(v) = &self.convert_to {
            config.convert_to = v.as_ref().map(|c| c.to_ascii_uppercase());
        }
    }
}

/// Answer of `GET`/`PUT /_admin/omno/config`: the live config without the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OmnoConfigView {
    /// Current settle delay in ms.
    pub settle_delay_ms: u64,
    /// Current webhook URL, `null` when none.
    pub webhook_url: Option<String>,
    /// Current conversion target, `null` when none.
    pub convert_to: Option<String>,
}

impl From<OmnoConfig> for OmnoConfigView {
    fn from(config: OmnoConfig) -> Self {
        Self {
            settle_delay_ms: config.settle_delay_ms,
            webhook_url: config.webhook_url,
            convert_to: config.convert_to,
        }
    }
}
