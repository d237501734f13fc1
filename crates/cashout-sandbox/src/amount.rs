//! Money amounts as the simulators handle them: positive, in hundredths of a major unit, parsed
//! from JSON numbers or decimal strings and shown in major units (`1500`, `12.50`).

use std::fmt;

/// A positive amount in hundredths of a major unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Amount(i64);

/// Why an amount was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AmountError {
    #[error("The amount must be a decimal number such as 1500 or \"12.50\".")]
    Invalid,
    #[error("The amount must be greater than 0.")]
    NotPositive,
    #[error("The amount may have at most 2 decimal places.")]
    TooPrecise,
    #[error("The amount is too large.")]
    TooLarge,
}

/// Most integer digits accepted (keeps hundredths well inside `i64`).
const MAX_INTEGER_DIGITS: usize = 15;

impl Amount {
    /// Wraps an amount already in hundredths.
    pub(crate) fn from_minor(minor: i64) -> Self {
        Self(minor)
    }

    /// The amount in hundredths of a major unit.
    pub(crate) fn minor(self) -> i64 {
        self.0
    }

    /// Whether the amount has no fractional part.
    pub(crate) fn is_whole(self) -> bool {
        self.0 % 100 == 0
    }

    /// Parses a plain decimal (`"1500"`, `"12.5"`, `"12.50"`, `"-3"` → `NotPositive`).
    pub(crate) fn parse_decimal(text: &str) -> Result<Self, AmountError> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (integer, fraction) = match digits.split_once('.') {
            Some((integer, fraction)) if !fraction.is_empty() => (integer, fraction),
            Some(_) => return Err(AmountError::Invalid),
            None => (digits, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if integer.is_empty() || !all_digits(integer) || !all_digits(fraction) {
            return Err(AmountError::Invalid);
        }
        let integer = integer.trim_start_matches('0');
        if integer.len() > MAX_INTEGER_DIGITS {
            return Err(AmountError::TooLarge);
        }
        let fraction = fraction.trim_end_matches('0');
        if fraction.len() > 2 {
            return Err(AmountError::TooPrecise);
        }
        let whole: i64 = if integer.is_empty() {
            0
        } else {
            integer.parse().map_err(|_| AmountError::TooLarge)?
        };
        let cents: i64 = format!("{fraction:0<2}")
            .parse()
            .map_err(|_| AmountError::Invalid)?;
        let minor = whole
            .checked_mul(100)
            .and_then(|m| m.checked_add(cents))
            .ok_or(AmountError::TooLarge)?;
        if negative || minor == 0 {
            return Err(AmountError::NotPositive);
        }
        Ok(Self(minor))
    }

    /// Parses a JSON number (integer or float).
    pub(crate) fn from_json_number(number: &serde_json::Number) -> Result<Self, AmountError> {
        if let Some(n) = number.as_i64() {
            if n <= 0 {
                return Err(AmountError::NotPositive);
            }
            return n
                .checked_mul(100)
                .filter(|_| n.unsigned_abs() < 10u64.pow(MAX_INTEGER_DIGITS as u32))
                .map(Self)
                .ok_or(AmountError::TooLarge);
        }
        if number.is_u64() {
            return Err(AmountError::TooLarge);
        }
        match number.as_f64() {
            // f64's Display never uses exponent notation and gives the shortest exact form.
            Some(f) if f.is_finite() => Self::parse_decimal(&format!("{f}")),
            _ => Err(AmountError::Invalid),
        }
    }
}

impl fmt::Display for Amount {
    /// Major units: `1500` when whole, else two decimals (`12.50`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (whole, cents) = (abs / 100, abs % 100);
        if cents == 0 {
            write!(f, "{sign}{whole}")
        } else {
            write!(f, "{sign}{whole}.{cents:02}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_and_format() {
        let ok = |s: &str| Amount::parse_decimal(s).map(|a| a.to_string());
        assert_eq!(ok("1500"), Ok("1500".to_owned()));
        assert_eq!(ok("12.5"), Ok("12.50".to_owned()));
        assert_eq!(ok("12.50"), Ok("12.50".to_owned()));
        assert_eq!(ok("0012.500"), Ok("12.50".to_owned()));
        assert_eq!(ok("0.01"), Ok("0.01".to_owned()));
        assert_eq!(ok("0"), Err(AmountError::NotPositive));
        assert_eq!(ok("-5"), Err(AmountError::NotPositive));
        assert_eq!(ok("1.234"), Err(AmountError::TooPrecise));
        assert_eq!(ok("abc"), Err(AmountError::Invalid));
        assert_eq!(ok("1."), Err(AmountError::Invalid));
        assert_eq!(ok(".5"), Err(AmountError::Invalid));
        assert_eq!(ok("1e3"), Err(AmountError::Invalid));
        assert_eq!(ok("1234567890123456"), Err(AmountError::TooLarge));
        let num = |v: serde_json::Value| match v {
            serde_json::Value::Number(n) => Amount::from_json_number(&n).map(|a| a.to_string()),
            _ => unreachable!(),
        };
        assert_eq!(num(serde_json::json!(1500)), Ok("1500".to_owned()));
        assert_eq!(num(serde_json::json!(12.5)), Ok("12.50".to_owned()));
        assert_eq!(num(serde_json::json!(1500.0)), Ok("1500".to_owned()));
        assert_eq!(num(serde_json::json!(-1)), Err(AmountError::NotPositive));
        assert_eq!(num(serde_json::json!(u64::MAX)), Err(AmountError::TooLarge));
        assert_eq!(
            num(serde_json::json!(1_000_000_000_000_000i64)),
            Err(AmountError::TooLarge)
        );
        assert!(Amount::parse_decimal("1500.00").is_ok_and(Amount::is_whole));
    }
}
