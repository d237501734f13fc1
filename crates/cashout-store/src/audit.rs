//! An audit of everything stored under a prefix: every cashout record decodes, holds an order
//! the API would accept exactly as stored, carries its own fingerprint, is found by its
//! idempotency key (its id is the one the key derives) and has a readable history (the lines its
//! record holds after the JSON); a side history list belongs to a parked corrupt record (the
//! only record whose lines are not in the record itself); no separate idempotency key is left
//! from the layout before ids were derived from keys. Used
//! after fuzzing (`make fuzz`) and by `cashout audit`. Problems name the key and what is wrong,
//! never a stored value (records hold phone numbers).

use crate::store::{Store, StoreError};
use cashout_core::{CashoutId, CashoutOrder, Provider};
use redis::AsyncCommands;
use serde_json::Value;

/// What an audit found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Audit {
    /// Cashout records read.
    pub records: u64,
    /// Records parked as `corrupt_record` (listed in `problems` too: they cannot be read).
    pub corrupt_parked: u64,
    /// One line per problem: the key, and what is wrong with it.
    pub problems: Vec<String>,
}

impl Audit {
    /// True when nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Why an audit could not run.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Redis failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// On a cluster SCAN would see one node only.
    #[error("the audit needs a single Redis: on a cluster SCAN sees one node")]
    Cluster,
}

/// `s` with Redis glob characters escaped, so a prefix matches only itself.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The order as a `POST /v1/cashouts` body: what the caller could have sent to get it. A
/// scrubbed OTP is replaced by a placeholder (it is compared without its secret anyway).
fn as_request(order: &CashoutOrder) -> Result<Value, serde_json::Error> {
    let mut v = serde_json::to_value(order)?;
    if let Some(obj) = v.as_object_mut() {
        if order.provider != Provider::Omno {
            obj.remove("approval");
        }
        if let Some(Value::Object(r)) = obj.get_mut("recipient") {
            r.remove("kind");
            if order.provider == Provider::Omt && r.get("otp").is_none_or(Value::is_null) {
                r.insert("otp".to_owned(), Value::String("0000".to_owned()));
            }
        }
    }
    Ok(v)
}

/// Why a stored order is not one the API could have accepted as stored, if it is not.
pub fn order_problem(order: &CashoutOrder) -> Option<String> {
    let request = match as_request(order) {
        Ok(r) => r,
        Err(e) => return Some(format!("the order does not serialize: {e}")),
    };
    match CashoutOrder::parse(&request) {
        Err(e) => Some(format!(
            "the order would be refused today: {} ({})",
            e.field, e.code
        )),
        Ok(mut parsed) => {
            let mut stored = order.clone();
            parsed.recipient.scrub_secrets();
            stored.recipient.scrub_secrets();
            (parsed != stored)
                .then(|| "the order differs from what parsing it gives (not normalized)".to_owned())
        }
    }
}

/// The cashout id a key of a cashout ends with (`…:cashout:<id>`, `…:history:<id>`).
fn id_of(key: &str) -> Option<CashoutId> {
    key.rsplit(':')
        .next()
        .and_then(|s| CashoutId::parse(s).ok())
}

impl Store {
    /// Every key of this store's prefix matching `pattern` (after the partition tag).
    async fn scan_keys(&self, what: &str) -> Result<Vec<String>, StoreError> {
        let pattern = format!("{}:{{*}}:{what}:*", glob_escape(self.keys().prefix()));
        let mut c = self.connection();
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut c)
                .await
                .map_err(StoreError::from)?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// Reads every record and side history list under the prefix and checks them (see the
    /// module). A single Redis only: on a cluster SCAN sees one node, so it is refused.
    pub async fn audit(&self) -> Result<Audit, AuditError> {
        if matches!(self.connection(), crate::RedisConn::Cluster(_)) {
            return Err(AuditError::Cluster);
        }
        let mut audit = Audit::default();
        let mut c = self.connection();
        for key in self.scan_keys("cashout").await? {
            audit.records += 1;
            let Some(id) = id_of(&key) else {
                audit.problems.push(format!("{key}: not a cashout id"));
                continue;
            };
            if self.keys().record(&id) != key {
                audit
                    .problems
                    .push(format!("{key}: not in the partition of its id"));
                continue;
            }
            let cashout = match self.get(&id).await {
                Ok(Some(c)) => c,
                Ok(None) => continue, // expired meanwhile
                Err(StoreError::Corrupt { message, .. }) => {
                    if self.corrupt(&id).await?.is_some() {
                        audit.corrupt_parked += 1;
                    }
                    audit
                        .problems
                        .push(format!("{key}: does not decode: {message}"));
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if cashout.id != id {
                audit
                    .problems
                    .push(format!("{key}: holds cashout {}", cashout.id));
            }
            if let Some(p) = order_problem(&cashout.order) {
                audit.problems.push(format!("{key}: {p}"));
            }
            if cashout.fingerprint != cashout.order.fingerprint() {
                audit
                    .problems
                    .push(format!("{key}: the fingerprint is not the order's"));
            }
            if self
                .keys()
                .cashout_id(&cashout.producer, &cashout.order.idempotency_key)
                != id
            {
                audit.problems.push(format!(
                    "{key}: its id is not its idempotency key's (the key does not find it)"
                ));
            }
            match self.history(&cashout).await {
                Ok(h) if h.is_empty() => audit.problems.push(format!("{key}: no history")),
                Ok(_) => {}
                Err(StoreError::Corrupt { message, .. }) => audit
                    .problems
                    .push(format!("{key}: a history line does not decode: {message}")),
                Err(e) => return Err(e.into()),
            }
        }
        for key in self.scan_keys("history").await? {
            let Some(id) = id_of(&key) else {
                audit.problems.push(format!("{key}: not a cashout id"));
                continue;
            };
            let parked_corrupt: bool = c
                .exists(self.keys().corrupt(&id))
                .await
                .map_err(StoreError::from)?;
            if !parked_corrupt {
                audit.problems.push(format!(
                    "{key}: a side history list, but the record was never parked corrupt"
                ));
            }
        }
        for key in self.scan_keys("idem").await? {
            audit.problems.push(format!(
                "{key}: a separate idempotency key (the layout before ids were derived from keys): \
                 nothing reads it"
            ));
        }
        Ok(audit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order(v: Value) -> CashoutOrder {
        CashoutOrder::parse(&v).expect("a valid order")
    }

    #[test]
    fn accepted_orders_of_every_provider_pass() {
        let camoo = order(
            json!({"idempotency_key": "k", "provider": "camoo", "amount": 1500,
            "currency": "XAF", "recipient": {"phone_number": "+237612345678"},
            "metadata": {"a": [1, {"b": null}]}}),
        );
        assert_eq!(order_problem(&camoo), None);
        let mut omt = order(
            json!({"idempotency_key": "k", "provider": "omt", "amount": 500,
            "currency": "USD", "recipient": {"account_id": 7, "otp": 123456,
            "customer_name": "  John   Smith "}}),
        );
        assert_eq!(order_problem(&omt), None);
        omt.recipient.scrub_secrets();
        assert_eq!(order_problem(&omt), None, "a scrubbed OTP is fine");
        let omno = order(
            json!({"idempotency_key": "k", "provider": "omno", "amount": 1250,
            "currency": "EUR", "approval": "manual", "recipient": {"external_user_id": " u1 ",
            "first_name": "A", "last_name": "B", "email": "a@b.io", "phone_number": "1 234567",
            "date_of_birth": "1990-01-31", "kyc_verified": true, "kyc": {"doc": "x"},
            "billing": {"address": "1 St", "city": "C", "state": "S", "country_code": "US",
            "postal_code": "1"}}}),
        );
        assert_eq!(order_problem(&omno), None);
    }

    #[test]
    fn orders_the_api_would_refuse_or_normalize_are_found() {
        let good = order(
            json!({"idempotency_key": "k", "provider": "camoo", "amount": 1500,
            "currency": "XAF", "recipient": {"phone_number": "+237612345678"}}),
        );
        let mut too_much = good.clone();
        too_much.amount = cashout_core::Amount::from_minor(i64::MAX).expect("positive");
        assert!(order_problem(&too_much).is_some_and(|p| p.contains("amount")));
        let mut wrong_currency = good.clone();
        wrong_currency.currency = cashout_core::Currency::Lbp;
        assert!(order_problem(&wrong_currency).is_some_and(|p| p.contains("currency")));
        let mut manual = good.clone();
        manual.approval = cashout_core::Approval::Manual;
        assert!(order_problem(&manual).is_some_and(|p| p.contains("normalized")));
        let mut deep = good;
        let mut v = json!(1);
        for _ in 0..20 {
            v = json!({ "x": v });
        }
        deep.metadata = v.as_object().cloned();
        assert!(order_problem(&deep).is_some_and(|p| p.contains("metadata")));
    }
}
