//! The orders of a run: Camoo, OMT and OMNO cashouts whose sandbox outcomes are known in advance,
//! OMT accounts seeded with their pending cashouts, and "contested" OMT accounts that receive one
//! right OTP and several wrong ones at the same moment.

use rand::Rng;
use serde_json::{Value, json};

/// What the driver does with an OMNO `manual` cashout once it waits in `submitted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manual {
    /// Nothing to do (not a manual cashout).
    No,
    /// `POST /v1/cashouts/{id}/approve`.
    Approve,
    /// `POST /v1/cashouts/{id}/revoke`.
    Revoke,
}

/// One order to post.
#[derive(Debug, Clone)]
pub struct Order {
    /// Its idempotency key (every retry reuses it).
    pub key: String,
    /// The body of `POST /v1/cashouts`.
    pub body: Value,
    /// `camoo`, `omt` or `omno`.
    pub provider: &'static str,
    /// The OMT account, for OMT orders.
    pub omt_account: Option<i64>,
    /// Whether it carries a wrong OTP.
    pub wrong_otp: bool,
    /// The operator action it needs.
    pub manual: Manual,
}

/// An OMT account's pending cashout, for `POST /_admin/omt/pending`.
#[derive(Debug, Clone)]
pub struct Seed {
    /// The body.
    pub body: Value,
}

/// Everything a run sends, and the personal data and OTPs to look for in the logs.
#[derive(Debug, Default)]
pub struct Plan {
    /// Orders, in posting order (a contested account's orders are adjacent, so they are posted
    /// concurrently).
    pub orders: Vec<Order>,
    /// OMT pending cashouts to seed before posting.
    pub seeds: Vec<Seed>,
    /// Every OTP sent (right and wrong), as decimal strings.
    pub otps: Vec<String>,
    /// Every full phone number sent or seeded, as its digits (the longest run for OMNO's
    /// spaced format).
    pub phones: Vec<String>,
    /// OMT accounts used.
    pub omt_accounts: Vec<i64>,
}

/// Camoo: the last digit of the phone picks the outcome (1–6 confirmed, 0 failed, 7
/// `UNDERINVESTIGATION` then success).
const CAMOO_DIGITS: [u8; 10] = [1, 2, 3, 4, 5, 6, 0, 7, 1, 2];
/// OMNO: the last character of the user id (1–4 success, 0 declined, 7 failed, 8 on hold then
/// success).
const OMNO_DIGITS: [u8; 10] = [1, 2, 3, 0, 7, 8, 1, 2, 3, 4];

/// Builds `n` orders: 40 % Camoo, 30 % OMT, 30 % OMNO. Every `contest_every`-th OMT account
/// (0: none) also gets `wrong_per_contest` wrong-OTP orders posted with its right one; every
/// `manual_every`-th OMNO order (0: none) is `manual`, approved or revoked in turn.
pub fn build(
    n: usize,
    run: &str,
    contest_every: usize,
    wrong_per_contest: usize,
    manual_every: usize,
) -> Plan {
    let mut rng = rand::rng();
    let mut plan = Plan::default();
    let mut omt_n = 0_usize;
    let mut omno_n = 0_usize;
    let mut camoo_n = 0_usize;
    let mut i = 0_usize;
    while plan.orders.len() < n {
        let key = |suffix: &str| format!("chaos-{run}-{i}{suffix}");
        match i % 10 {
            0..=3 => {
                camoo_n += 1;
                let digit = CAMOO_DIGITS[camoo_n % CAMOO_DIGITS.len()];
                let phone = format!("+2376{:07}{digit}", i % 10_000_000);
                plan.phones.push(phone.trim_start_matches('+').to_owned());
                plan.orders.push(Order {
                    key: key(""),
                    body: json!({
                        "idempotency_key": key(""),
                        "provider": "camoo",
                        "amount": 1_000 + (i % 50) as i64 * 10,
                        "currency": "XAF",
                        "recipient": {"phone_number": phone},
                        "metadata": {"chaos": i}
                    }),
                    provider: "camoo",
                    omt_account: None,
                    wrong_otp: false,
                    manual: Manual::No,
                });
            }
            4..=6 => {
                omt_n += 1;
                let account = 7_000_000 + i as i64;
                let otp: i64 = rng.random_range(10_000_000..100_000_000);
                let (major, currency, code) = if i.is_multiple_of(2) {
                    (100 + (i % 40) as i64, 1, "USD")
                } else {
                    (1_000_000 + (i % 40) as i64 * 1_000, 0, "LBP")
                };
                let mobile = format!("+96171{:06}", i % 1_000_000);
                plan.phones.push(mobile.trim_start_matches('+').to_owned());
                plan.otps.push(otp.to_string());
                plan.omt_accounts.push(account);
                plan.seeds.push(Seed {
                    body: json!({
                        "account_id": account, "otp": otp, "amount": major, "currency": currency,
                        "first_name": "Rami", "middle_name": "", "last_name": format!("Haddad{i}"),
                        "mobile_number": mobile
                    }),
                });
                let omt = |k: String, o: i64| {
                    json!({
                        "idempotency_key": k,
                        "provider": "omt",
                        "amount": major * 100,
                        "currency": code,
                        "recipient": {"account_id": account, "otp": o, "customer_name": format!("Rami Haddad{i}")},
                    })
                };
                let contested = contest_every > 0 && omt_n.is_multiple_of(contest_every);
                // In a contested account the wrong ones go first, so that some of them are
                // ahead of the right one.
                if contested {
                    for w in 0..wrong_per_contest {
                        let wrong: i64 = loop {
                            let x = rng.random_range(10_000_000..100_000_000);
                            if x != otp {
                                break x;
                            }
                        };
                        plan.otps.push(wrong.to_string());
                        let k = key(&format!("-wrong{w}"));
                        plan.orders.push(Order {
                            key: k.clone(),
                            body: omt(k, wrong),
                            provider: "omt",
                            omt_account: Some(account),
                            wrong_otp: true,
                            manual: Manual::No,
                        });
                    }
                }
                plan.orders.push(Order {
                    key: key(""),
                    body: omt(key(""), otp),
                    provider: "omt",
                    omt_account: Some(account),
                    wrong_otp: false,
                    manual: Manual::No,
                });
            }
            _ => {
                omno_n += 1;
                let digit = OMNO_DIGITS[omno_n % OMNO_DIGITS.len()];
                let manual = if manual_every > 0 && omno_n.is_multiple_of(manual_every) {
                    if (omno_n / manual_every).is_multiple_of(2) {
                        Manual::Approve
                    } else {
                        Manual::Revoke
                    }
                } else {
                    Manual::No
                };
                // Manual ones settle only after approval: give them a paying user.
                let digit = if manual == Manual::No { digit } else { 1 };
                let phone_digits = format!("555{:07}", i % 10_000_000);
                plan.phones.push(phone_digits.clone());
                plan.orders.push(Order {
                    key: key(""),
                    body: json!({
                        "idempotency_key": key(""),
                        "provider": "omno",
                        "amount": 5_000 + (i % 30) as i64 * 100,
                        "currency": "USD",
                        "approval": if manual == Manual::No { "auto" } else { "manual" },
                        "recipient": {
                            "external_user_id": format!("u-{i}-{digit}"), "first_name": "Ana",
                            "last_name": format!("Lopez{i}"), "email": format!("ana{i}@example.com"),
                            "phone_number": format!("1 {phone_digits}"),
                            "date_of_birth": "1988-04-02", "kyc_verified": true,
                            "billing": {"address": "1 Plaza", "city": "Madrid", "state": "MD",
                                        "country_code": "ES", "postal_code": "28001"}
                        }
                    }),
                    provider: "omno",
                    omt_account: None,
                    wrong_otp: false,
                    manual,
                });
            }
        }
        i += 1;
    }
    plan.orders.truncate(n);
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_and_contested_accounts_are_in_the_plan() {
        let p = build(1_000, "t", 5, 4, 10);
        assert_eq!(p.orders.len(), 1_000);
        for provider in ["camoo", "omt", "omno"] {
            assert!(p.orders.iter().any(|o| o.provider == provider));
        }
        let wrong = p.orders.iter().filter(|o| o.wrong_otp).count();
        assert!(wrong >= 40, "{wrong}");
        assert!(p.orders.iter().any(|o| o.manual == Manual::Approve));
        assert!(p.orders.iter().any(|o| o.manual == Manual::Revoke));
        let mut keys: Vec<&str> = p.orders.iter().map(|o| o.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), 1_000, "keys are unique");
    }
}
