//! Configuration of the OMT simulator: the credentials and how business failures are answered,
//! and what `GET`/`PUT /_admin/omt/config` show and change.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How the simulator answers business failures (not found, mismatch, locked, `Cashout Failed`,
/// `Revoke Failed`). The body is the same either way; successes are always HTTP 200.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureMode {
    /// `"http200"`: HTTP 200 with `isSuccess: false`.
    #[default]
    Http200,
    /// `"http4xx"`: HTTP 404 (not found), 400 (mismatch, `Cashout Failed`, `Revoke Failed`) or
    /// 403 (locked).
    Http4xx,
}

/// Configuration of the OMT simulator.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct OmtConfig {
    /// Expected Basic user-id (default `"sandbox-user"`).
    pub username: String,
    /// Expected Basic password (default `"sandbox-pass"`).
    pub password: String,
    /// How business failures are answered (default [`FailureMode::Http200`]).
    pub failure_mode: FailureMode,
}

impl Default for OmtConfig {
    fn default() -> Self {
        Self {
            username: "sandbox-user".to_owned(),
            password: "sandbox-pass".to_owned(),
            failure_mode: FailureMode::Http200,
        }
    }
}

impl fmt::Debug for OmtConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OmtConfig")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("failure_mode", &self.failure_mode)
            .finish()
    }
}

/// Body of `PUT /_admin/omt/config` (unknown fields are a 400).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OmtConfigPatch {
    /// New failure mode, for the calls answered from then on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_mode: Option<FailureMode>,
}

impl OmtConfigPatch {
    pub(crate) fn apply(&self, config: &mut OmtConfig) {
        if let Some(mode) = self.failure_mode {
            config.failure_mode = mode;
        }
    }
}

/// Answer of `GET`/`PUT /_admin/omt/config`: the live config without the credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OmtConfigView {
    /// Current failure mode.
    pub failure_mode: FailureMode,
}
