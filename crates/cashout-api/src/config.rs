//! API settings (`CASHOUT_API__…`).

use serde::Deserialize;

/// Where and how the API listens.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// `host:port`.
    pub listen: String,
    /// Bearer tokens, comma-separated `name:secret` pairs (the name attributes actions).
    pub tokens: secrecy::SecretString,
    /// Operator tokens for `/v1/dlq…` and revoke/approve, same format. Producer tokens get 403
    /// there.
    pub admin_tokens: secrecy::SecretString,
    /// Lets operator tokens use the producer routes too (`POST /v1/cashouts` as a producer of
    /// their own name, `GET /v1/cashouts/{id}` of any producer's cashout). Off by default: an
    /// operator token presented there gets 403.
    pub operators_on_producer_routes: bool,
    /// Provider notifications (`/v1/providers/…`).
    pub notifications: NotifyConfig,
    /// How the API is reached from outside; provider notification URLs are built from it
    /// when not configured explicitly.
    pub public_url: Option<String>,
    /// How long a client may take to send a request's line and headers (slowloris guard); an
    /// idle keep-alive connection is closed after it too.
    pub header_read_timeout_ms: u64,
}

/// The default of `api.header_read_timeout_ms`.
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            tokens: secrecy::SecretString::from(""),
            admin_tokens: secrecy::SecretString::from(""),
            operators_on_producer_routes: false,
            notifications: NotifyConfig::default(),
            public_url: None,
            header_read_timeout_ms: DEFAULT_HEADER_READ_TIMEOUT_MS,
        }
    }
}

/// How provider notifications are accepted (`CASHOUT_API__NOTIFICATIONS__…`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// A shared secret OMNO must present, as `?token=` in the webhook URL configured at OMNO or
    /// as an `X-Webhook-Token` header (OMNO documents no signature). When set, a webhook
    /// without it is 401. When unset, webhooks are accepted but can only bring forward the
    /// status read of a payout already on record.
    pub omno_webhook_token: Option<secrecy::SecretString>,
    /// A notification for a cashout within this long of the last one acted on for it is
    /// answered 200 and not acted on (ms).
    pub min_interval_ms: u64,
    /// A signed Camoo notification whose `status_time` is older than this (or more than five
    /// minutes ahead of our clock) is answered 200 and not acted on: a replay (ms).
    pub camoo_max_age_ms: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            omno_webhook_token: None,
            min_interval_ms: 2_000,
            camoo_max_age_ms: 24 * 3_600_000,
        }
    }
}
