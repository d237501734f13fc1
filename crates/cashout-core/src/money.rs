//! Money: integer minor units and a closed set of currencies. Conversion to a provider's
//! major-unit decimal happens at the provider edge through [`Amount::to_major_string`].

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The currencies we pay out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    /// Lebanese pound (ISO 4217 exponent 2).
    Lbp,
    /// US dollar.
    Usd,
    /// Central African CFA franc (no minor unit).
    Xaf,
    /// West African CFA franc (no minor unit).
    Xof,
    /// Euro.
    Eur,
}

impl Currency {
    /// Every currency, for exhaustive tests and error messages.
    pub const ALL: [Currency; 5] = [
        Currency::Lbp,
        Currency::Usd,
        Currency::Xaf,
        Currency::Xof,
        Currency::Eur,
    ];

    /// Number of minor-unit digits (ISO 4217).
    pub fn exponent(self) -> u32 {
        match self {
            Currency::Lbp | Currency::Usd | Currency::Eur => 2,
            Currency::Xaf | Currency::Xof => 0,
        }
    }

    /// The ISO code.
    pub fn code(self) -> &'static str {
        match self {
            Currency::Lbp => "LBP",
            Currency::Usd => "USD",
            Currency::Xaf => "XAF",
            Currency::Xof => "XOF",
            Currency::Eur => "EUR",
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = UnknownCurrency;
    /// Exact ISO code, case-sensitive: `"usd"` is refused so that upstream bugs show early.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::ALL
            .into_iter()
            .find(|c| c.code() == s)
            .ok_or(UnknownCurrency)
    }
}

/// A currency code we do not pay out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("currency must be one of LBP, USD, XAF, XOF, EUR")]
pub struct UnknownCurrency;

/// A strictly positive amount in minor units (cents for USD, francs for XAF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Amount(i64);

/// An amount that is zero or negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("amount must be a positive integer number of minor units")]
pub struct InvalidAmount;

impl Amount {
    /// Accepts only strictly positive minor units.
    pub fn from_minor(minor: i64) -> Result<Self, InvalidAmount> {
        if minor > 0 {
            Ok(Self(minor))
        } else {
            Err(InvalidAmount)
        }
    }

    /// The integer number of minor units.
    pub fn minor(self) -> i64 {
        self.0
    }

    /// The amount in major units as an exact decimal string (`1250` USD → `"12.50"`,
    /// `1500` XAF → `"1500"`), for providers that take major units.
    pub fn to_major_string(self, currency: Currency) -> String {
        let exp = currency.exponent();
        if exp == 0 {
            return self.0.to_string();
        }
        let div = 10_i64.pow(exp);
        format!(
            "{}.{:0width$}",
            self.0 / div,
            self.0 % div,
            width = exp as usize
        )
    }
}

impl TryFrom<i64> for Amount {
    type Error = InvalidAmount;
    fn try_from(v: i64) -> Result<Self, Self::Error> {
        Self::from_minor(v)
    }
}

impl From<Amount> for i64 {
    fn from(a: Amount) -> Self {
        a.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exponents() {
        assert_eq!(Currency::Usd.exponent(), 2);
        assert_eq!(Currency::Lbp.exponent(), 2);
        assert_eq!(Currency::Eur.exponent(), 2);
        assert_eq!(Currency::Xaf.exponent(), 0);
        assert_eq!(Currency::Xof.exponent(), 0);
    }

    #[test]
    fn currency_codes_round_trip() {
        for c in Currency::ALL {
            assert_eq!(c.code().parse::<Currency>(), Ok(c));
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.code()));
        }
        assert!("usd".parse::<Currency>().is_err());
        assert!("GBP".parse::<Currency>().is_err());
    }

    #[test]
    fn amounts_must_be_positive() {
        assert!(Amount::from_minor(0).is_err());
        assert!(Amount::from_minor(-5).is_err());
        assert_eq!(Amount::from_minor(1).map(Amount::minor), Ok(1));
    }

    #[test]
    fn major_strings() {
        let a = |m| Amount::from_minor(m).unwrap();
        assert_eq!(a(1250).to_major_string(Currency::Usd), "12.50");
        assert_eq!(a(5).to_major_string(Currency::Eur), "0.05");
        assert_eq!(a(1500).to_major_string(Currency::Xaf), "1500");
        assert_eq!(a(100_000).to_major_string(Currency::Lbp), "1000.00");
    }

    proptest! {
        #[test]
        fn major_string_is_exact(minor in 1i64..i64::MAX, idx in 0usize..5) {
            let c = Currency::ALL[idx];
            let s = Amount::from_minor(minor).unwrap().to_major_string(c);
            let digits: String = s.chars().filter(|ch| *ch != '.').collect();
            let back: i64 = digits.parse().unwrap();
            prop_assert_eq!(back, minor);
            let frac = s.split('.').nth(1).map_or(0, str::len);
            prop_assert_eq!(frac as u32, c.exponent());
        }
    }
}
