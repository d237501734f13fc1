//! Who receives the money, per provider. Phone numbers are personal data: they are stored to pay,
//! and shown only masked ([`PhoneNumber::masked`]).

use serde::{Deserialize, Serialize};
use std::fmt;

/// An E.164 phone number: `+`, then 8 to 15 digits, the first not zero.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

/// A phone number that is not E.164.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("phone_number must be in E.164 form: '+' then 8 to 15 digits")]
pub struct InvalidPhone;

impl PhoneNumber {
    /// Parses E.164 strictly (no spaces, no national form), so that what we store is what
    /// the provider receives.
    pub fn parse(s: &str) -> Result<Self, InvalidPhone> {
        let digits = s.strip_prefix('+').ok_or(InvalidPhone)?;
        let ok = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidPhone)
        }
    }

    /// The full number, for the provider call only. Never log or return it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// All but the last three digits replaced by `*`: safe for logs, traces and API answers.
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

/// Masks any phone-like string to its last three characters.
pub fn mask_phone(s: &str) -> String {
    let n = s.chars().count();
    s.chars()
        .enumerate()
        .map(|(i, c)| if i + 3 < n { '*' } else { c })
        .collect()
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = InvalidPhone;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<PhoneNumber> for String {
    fn from(p: PhoneNumber) -> Self {
        p.0
    }
}

/// A Camoo recipient: the mobile-money phone to pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CamooRecipient {
    /// The phone number in E.164 form.
    pub phone_number: PhoneNumber,
}

/// The recipient of a cashout, one variant per provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Recipient {
    /// Camoo mobile money.
    Camoo(CamooRecipient),
}

impl Recipient {
    /// A view without personal data, for logs and API answers.
    pub fn redacted(&self) -> serde_json::Value {
        match self {
            Recipient::Camoo(r) => serde_json::json!({ "phone_number": r.phone_number.masked() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn e164_only() {
        assert!(PhoneNumber::parse("+237612345678").is_ok());
        assert!(PhoneNumber::parse("237612345678").is_err());
        assert!(PhoneNumber::parse("+0237612345678").is_err());
        assert!(PhoneNumber::parse("+2376 1234567").is_err());
        assert!(PhoneNumber::parse("+1234567").is_err());
        assert!(PhoneNumber::parse("+1234567890123456").is_err());
    }

    #[test]
    fn masked_keeps_last_three() {
        let p = PhoneNumber::parse("+237612345678").unwrap();
        assert_eq!(p.masked(), "**********678");
        assert!(!format!("{p:?}").contains("612345"));
        let r = Recipient::Camoo(CamooRecipient { phone_number: p });
        assert!(!r.redacted().to_string().contains("612345"));
    }

    proptest! {
        #[test]
        fn mask_never_reveals_more_than_three(s in "\\+[1-9][0-9]{7,14}") {
            let m = mask_phone(&s);
            prop_assert_eq!(m.chars().filter(|c| *c != '*').count(), 3);
            prop_assert_eq!(m.len(), s.len());
        }
    }
}
