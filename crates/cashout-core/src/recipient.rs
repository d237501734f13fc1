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

/// An OMT account id: a positive integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct OmtAccountId(i64);

/// An account id that is not a positive integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("account_id must be a positive integer")]
pub struct InvalidAccountId;

impl OmtAccountId {
    /// Accepts positive integers only.
    pub fn new(v: i64) -> Result<Self, InvalidAccountId> {
        if v > 0 {
            Ok(Self(v))
        } else {
            Err(InvalidAccountId)
        }
    }

    /// The number.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for OmtAccountId {
    type Error = InvalidAccountId;
    fn try_from(v: i64) -> Result<Self, Self::Error> {
        Self::new(v)
    }
}

impl From<OmtAccountId> for i64 {
    fn from(a: OmtAccountId) -> Self {
        a.0
    }
}

impl fmt::Display for OmtAccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An OMT one-time password: 4 to 8 digits. A secret: its `Debug` and `Display` show `***`, it
/// is never part of a view, and it is removed from the record once GETCTI no longer needs it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Otp(String);

/// An OTP that is not 4 to 8 digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("otp must be 4 to 8 digits")]
pub struct InvalidOtp;

impl Otp {
    /// Parses 4 to 8 ASCII digits.
    pub fn parse(s: &str) -> Result<Self, InvalidOtp> {
        if (4..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidOtp)
        }
    }

    /// The digits, for the GETCTI call only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Otp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Otp(***)")
    }
}

impl TryFrom<String> for Otp {
    type Error = InvalidOtp;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Otp> for String {
    fn from(o: Otp) -> Self {
        o.0
    }
}

/// An OMT recipient: the customer's pending cashout is found with account id + OTP, and the
/// name is checked against what OMT holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OmtRecipient {
    /// The customer's OMT account.
    pub account_id: OmtAccountId,
    /// The OTP; `None` once scrubbed.
    pub otp: Option<Otp>,
    /// The customer's name as the order gives it.
    pub customer_name: String,
}

/// The customer's billing address, as OMNO requires it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OmnoBilling {
    /// Street address.
    pub address: String,
    /// City.
    pub city: String,
    /// State or region.
    pub state: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country_code: String,
    /// Postal code.
    pub postal_code: String,
}

/// An OMNO recipient: the customer OMNO pays, and the routing hints it takes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OmnoRecipient {
    /// Our identifier of the customer.
    pub external_user_id: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail.
    pub email: String,
    /// Phone, as OMNO takes it (`1 1234567890`); personal data, shown masked.
    pub phone_number: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// Billing address.
    pub billing: OmnoBilling,
    /// Optional KYC document details, passed through.
    pub kyc: Option<serde_json::Map<String, serde_json::Value>>,
    /// Whether the customer is KYC-verified in our system (OMNO routes by it).
    pub kyc_verified: bool,
    /// A specific router.
    pub router_id: Option<String>,
    /// A direct route.
    pub direct_route_id: Option<String>,
}

impl fmt::Debug for OmnoRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OmnoRecipient")
            .field("external_user_id", &self.external_user_id)
            .field("phone_number", &mask_phone(&self.phone_number))
            .field("kyc_verified", &self.kyc_verified)
            .finish_non_exhaustive()
    }
}

/// The recipient of a cashout, one variant per provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Recipient {
    /// Camoo mobile money.
    Camoo(CamooRecipient),
    /// OMT cash pick-up.
    Omt(OmtRecipient),
    /// OMNO payout (boxed: much larger than the others).
    Omno(Box<OmnoRecipient>),
}

impl Recipient {
    /// A view without secrets or personal data beyond what operators need, for logs and API
    /// answers. OTPs never appear; phone numbers are masked.
    pub fn redacted(&self) -> serde_json::Value {
        match self {
            Recipient::Camoo(r) => serde_json::json!({ "phone_number": r.phone_number.masked() }),
            Recipient::Omt(r) => serde_json::json!({
                "account_id": r.account_id.get(),
                "customer_name": r.customer_name,
            }),
            Recipient::Omno(r) => serde_json::json!({
                "external_user_id": r.external_user_id,
                "first_name": r.first_name,
                "last_name": r.last_name,
                "phone_number": mask_phone(&r.phone_number),
                "kyc_verified": r.kyc_verified,
                "billing": {"country_code": r.billing.country_code},
            }),
        }
    }

    /// Forgets secrets that are no longer needed (the OMT OTP once GETCTI has answered).
    pub fn scrub_secrets(&mut self) {
        match self {
            Recipient::Camoo(_) | Recipient::Omno(_) => {}
            Recipient::Omt(r) => r.otp = None,
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

    #[test]
    fn otps_are_secret() {
        let o = Otp::parse("123456").unwrap();
        assert_eq!(format!("{o:?}"), "Otp(***)");
        assert!(Otp::parse("123").is_err());
        assert!(Otp::parse("123456789").is_err());
        assert!(Otp::parse("12a456").is_err());
        let mut r = Recipient::Omt(OmtRecipient {
            account_id: OmtAccountId::new(7).unwrap(),
            otp: Some(o),
            customer_name: "John Doe".into(),
        });
        assert!(!r.redacted().to_string().contains("123456"));
        assert!(!format!("{r:?}").contains("123456"));
        r.scrub_secrets();
        assert!(!serde_json::to_string(&r).unwrap().contains("123456"));
        assert!(OmtAccountId::new(0).is_err());
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
