//! The `/_admin/camoo` routes: call counts (`/calls`, no filter) and the live configuration
//! (`/config`, with the remaining balance).

use std::convert::Infallible;

use axum::http::Uri;
use serde::{Deserialize, Serialize};
use serde_json::Map;
use tokio::time::Instant;

use super::Camoo;
use super::api::{Endpoint, invalid_data};
use super::config::{CamooConfigPatch, CamooConfigView, balance_to_minor};
use crate::sim::{Admin, CodedError, Counts, Sim};

/// Answer of `GET /_admin/camoo/calls`: authenticated calls received per endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCounts {
    /// `POST /cashout` calls (valid or not) that passed authentication.
    pub create: u64,
    /// `GET /verify` calls that passed authentication.
    pub verify: u64,
    /// `GET /account` calls that passed authentication.
    pub account: u64,
}

impl Counts<Endpoint> for CallCounts {
    fn slot(&mut self, endpoint: Endpoint) -> &mut u64 {
        match endpoint {
            Endpoint::Create => &mut self.create,
            Endpoint::Verify => &mut self.verify,
            Endpoint::Account => &mut self.account,
        }
    }
}

impl Admin for Camoo {
    type ConfigPatch = CamooConfigPatch;
    type ConfigView = CamooConfigView;

    fn config_view(sim: &Sim<Self>) -> CamooConfigView {
        let config = sim.config();
        let balance_minor = sim.ledger().store.balance_minor(Instant::now());
        CamooConfigView::new(&config, balance_minor)
    }

    fn bad_patch(error: serde_json::Error) -> CodedError {
        let message = format!("Invalid config patch: {error}");
        CodedError::fields(message, Map::new())
    }

    fn patch_config(sim: &Sim<Self>, patch: &CamooConfigPatch) -> Result<(), CodedError> {
        let balance_minor = match patch.balance {
            Some(balance) => Some(balance_to_minor(balance).ok_or_else(|| {
                let mut errors = Map::new();
                errors.insert(
                    "balance".to_owned(),
                    "The balance must be between 0 and i64::MAX / 100.".into(),
                );
                invalid_data(errors)
            })?),
            None => None,
        };
        let mut config = sim.config_mut();
        patch.apply(&mut config);
        if let (Some(balance), Some(minor)) = (patch.balance, balance_minor) {
            config.balance = balance;
            sim.ledger().store.balance_minor = minor;
        }
        Ok(())
    }

    /// Camoo's counts have no subject: any query string is ignored.
    fn calls_filter(_: &Uri) -> Result<Option<Infallible>, CodedError> {
        Ok(None)
    }
}
