//! Identifier newtypes. Each is built only through `parse`, so holding one means it is valid.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Our identifier for a cashout, shown in its hyphenated form: a UUIDv8 derived from the
/// cashout's producer-scoped idempotency key ([`CashoutId::for_key`]) for every enqueued
/// cashout, so the key finds its cashout without an index; [`CashoutId::generate`] draws a
/// UUIDv7 where no key exists (tests, tools).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CashoutId(Uuid);

/// Domain of [`CashoutId::for_key`]'s hash: no other SHA-256 we compute starts with it.
const FOR_KEY_DOMAIN: &[u8] = b"cashout-id/v1\0";

impl CashoutId {
    /// A fresh, time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    /// The id of the cashout an idempotency key creates: a UUIDv8 made of the first 16 bytes of
    /// SHA-256 over a fixed domain string, the length of `namespace` (8 bytes, big endian),
    /// `namespace`, then `scoped` (version and variant bits set as RFC 9562 says). `namespace`
    /// is the store's key prefix (deployments sharing a provider account never share an id,
    /// which providers see as our reference); `scoped` is the key within its producer's key
    /// space (`Keys::scoped`). The same inputs give the same id in every process and version.
    pub fn for_key(namespace: &str, scoped: &str) -> Self {
        let mut h = Sha256::new();
        h.update(FOR_KEY_DOMAIN);
        h.update((namespace.len() as u64).to_be_bytes());
        h.update(namespace.as_bytes());
        h.update(scoped.as_bytes());
        let digest = h.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(uuid::Builder::from_custom_bytes(bytes).into_uuid())
    }

    /// 32 uppercase hex digits, for providers whose references must be short and plain.
    pub fn simple_upper(&self) -> String {
        self.0.simple().to_string().to_ascii_uppercase()
    }

    /// Parses the textual form; anything but a UUID is refused.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        Uuid::parse_str(s.trim())
            .map(Self)
            .map_err(|_| InvalidId("cashout id must be a UUID"))
    }
}

impl fmt::Display for CashoutId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for CashoutId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for CashoutId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<CashoutId> for String {
    fn from(id: CashoutId) -> Self {
        id.to_string()
    }
}

/// Who enqueued a cashout: the name of the producer token that sent it (`api.tokens`), or the
/// name a library or CLI producer was given. Idempotency keys and reads are scoped to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProducerName(String);

impl ProducerName {
    /// The longest name accepted.
    pub const MAX_LEN: usize = 64;

    /// 1 to 64 characters, no control characters.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(InvalidId("producer name must be 1 to 64 bytes"));
        }
        if s.chars().any(char::is_control) {
            return Err(InvalidId(
                "producer name must not contain control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The name a producer without a token uses (the CLI's `enqueue`, the library's default).
    pub fn local() -> Self {
        Self("local".to_owned())
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for ProducerName {
    fn default() -> Self {
        Self::local()
    }
}

impl fmt::Display for ProducerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ProducerName {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ProducerName> for String {
    fn from(p: ProducerName) -> Self {
        p.0
    }
}

/// A malformed identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidId(pub &'static str);

/// The caller's idempotency key: 1 to 128 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The longest key accepted.
    pub const MAX_LEN: usize = 128;

    /// Accepts 1..=128 characters in the visible ASCII range (no spaces or control characters),
    /// so a key can be used verbatim inside a Redis key and a log line.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        if s.is_empty() {
            return Err(InvalidId("idempotency_key must not be empty"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(InvalidId("idempotency_key must be at most 128 characters"));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidId(
                "idempotency_key must be visible ASCII characters without spaces",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The key as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<IdempotencyKey> for String {
    fn from(k: IdempotencyKey) -> Self {
        k.0
    }
}

/// A W3C trace id (32 lowercase hex digits, not all zero), carried from enqueue to every step.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TraceId(String);

impl TraceId {
    /// A random trace id.
    pub fn generate() -> Self {
        Self(Uuid::new_v4().simple().to_string())
    }

    /// Parses 32 hex digits; all zeros is invalid per W3C trace-context.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        let ok = s.len() == 32
            && s.bytes().all(|b| b.is_ascii_hexdigit())
            && s.bytes().any(|b| b != b'0');
        if ok {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(InvalidId("trace id must be 32 hex digits, not all zero"))
        }
    }

    /// Extracts the trace id from a W3C `traceparent` header (`00-<trace>-<span>-<flags>`).
    pub fn from_traceparent(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let version = parts.next()?;
        let trace = parts.next()?;
        let span = parts.next()?;
        let flags = parts.next()?;
        if version.len() != 2 || span.len() != 16 || flags.len() != 2 || version == "ff" {
            return None;
        }
        Self::parse(trace).ok()
    }

    /// The 32 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TraceId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<TraceId> for String {
    fn from(t: TraceId) -> Self {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cashout_id_round_trips() {
        let id = CashoutId::generate();
        assert_eq!(CashoutId::parse(&id.to_string()), Ok(id));
        assert!(CashoutId::parse("not-a-uuid").is_err());
    }

    #[test]
    fn ids_derived_from_a_key_are_stable_valid_and_apart() {
        let id = CashoutId::for_key("cashout", "5.alpha:k-1");
        // Pinned: a change would give every stored cashout's key another id.
        assert_eq!(id.to_string(), PINNED);
        assert_eq!(id, CashoutId::for_key("cashout", "5.alpha:k-1"));
        assert_eq!(id.0.get_version_num(), 8);
        assert_eq!(id.0.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(CashoutId::parse(&id.to_string()), Ok(id));
        // Another producer, another key, another namespace: another id.
        assert_ne!(id, CashoutId::for_key("cashout", "4.beta:k-1"));
        assert_ne!(id, CashoutId::for_key("cashout", "5.alpha:k-2"));
        assert_ne!(id, CashoutId::for_key("other", "5.alpha:k-1"));
        // The namespace's length is hashed: no split of one string into two collides.
        assert_ne!(CashoutId::for_key("ab", "c"), CashoutId::for_key("a", "bc"));
    }

    // Computed independently: SHA-256 of the domain, the length, the namespace and the key,
    // first 16 bytes, version 8 and the RFC 9562 variant set.
    const PINNED: &str = "cbe7cec7-25fa-84ce-8392-606c649db74e";

    proptest! {
        #[test]
        fn derived_ids_are_version_8_and_parse_back(ns in ".{0,20}", key in ".{0,80}") {
            let id = CashoutId::for_key(&ns, &key);
            prop_assert_eq!(id.0.get_version_num(), 8);
            prop_assert_eq!(id.0.get_variant(), uuid::Variant::RFC4122);
            prop_assert_eq!(CashoutId::parse(&id.to_string()), Ok(id));
        }
    }

    #[test]
    fn idempotency_key_bounds() {
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(128)).is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(129)).is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse("tab\t").is_err());
        assert!(IdempotencyKey::parse("order-42:retry_1").is_ok());
    }

    #[test]
    fn traceparent_parsing() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            TraceId::from_traceparent(tp).map(|t| t.to_string()),
            Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned())
        );
        assert!(
            TraceId::from_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01")
                .is_none()
        );
        assert!(TraceId::from_traceparent("garbage").is_none());
    }

    proptest! {
        #[test]
        fn keys_of_visible_ascii_are_accepted(s in "[!-~]{1,128}") {
            prop_assert!(IdempotencyKey::parse(&s).is_ok());
        }

        #[test]
        fn keys_with_non_ascii_are_refused(prefix in "[a-z]{0,10}", c in "[^!-~]") {
            let s = format!("{prefix}{c}");
            prop_assert!(IdempotencyKey::parse(&s).is_err());
        }
    }
}
