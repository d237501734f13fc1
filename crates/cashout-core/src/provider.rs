//! The payout providers.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A payout provider. Each has its own queue, so a slow provider cannot starve the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// OMT (Lebanon): GETCTI → PAYCTI.
    Omt,
    /// OMNO: create → confirm.
    Omno,
    /// Camoo (Cameroon mobile money): cashout → verify.
    Camoo,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Provider; 3] = [Provider::Omt, Provider::Omno, Provider::Camoo];

    /// The lowercase name used in the API, config keys and queue names.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Omt => "omt",
            Provider::Omno => "omno",
            Provider::Camoo => "camoo",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = UnknownProvider;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or(UnknownProvider)
    }
}

/// A provider name we do not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("provider must be one of camoo, omt, omno")]
pub struct UnknownProvider;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Provider::ALL {
            assert_eq!(p.as_str().parse::<Provider>(), Ok(p));
        }
        assert!("Camoo".parse::<Provider>().is_err());
    }
}
