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
    /// Operator tokens for `/v1/dlq…`, same format. Producer tokens get 403 there.
    pub admin_tokens: secrecy::SecretString,
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
            public_url: None,
            header_read_timeout_ms: DEFAULT_HEADER_READ_TIMEOUT_MS,
        }
    }
}
