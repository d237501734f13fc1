//! Every Redis key we use, derived from one prefix so tests and tenants never share keys.
//!
//! Keys are **partitioned** for Redis Cluster: every key of one cashout (the record, the side
//! keys of a corrupt record) and of one queue partition (stream, due and parked indexes) carries
//! the hash tag `{p}` of its partition, `p = fnv1a(id) mod partitions`, so each script touches
//! one slot. There is no idempotency index: a cashout's id is derived from its producer-scoped
//! idempotency key ([`Keys::cashout_id`]), so its record is the key's record. Nothing a worker
//! needs on every step is global.

use cashout_core::{CashoutId, IdempotencyKey, OmtAccountId, ProducerName, Provider};

/// Key names under a prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
    partitions: u16,
}

/// FNV-1a, 64 bit: stable across processes and versions (unlike `std`'s hasher).
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Keys {
    /// Keys under `prefix` (e.g. `cashout`) in one partition.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self::with_partitions(prefix, 1)
    }

    /// Keys under `prefix` spread over `partitions` hash slots (at least 1).
    pub fn with_partitions(prefix: impl Into<String>, partitions: u16) -> Self {
        Self {
            prefix: prefix.into(),
            partitions: partitions.max(1),
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// How many partitions.
    pub fn partitions(&self) -> u16 {
        self.partitions
    }

    /// Every partition number.
    pub fn all_partitions(&self) -> impl Iterator<Item = u16> + use<> {
        0..self.partitions
    }

    /// The partition of a string (a cashout id).
    pub fn partition_of(&self, s: &str) -> u16 {
        u16::try_from(fnv1a(s) % u64::from(self.partitions)).unwrap_or(0)
    }

    /// The partition of a cashout.
    pub fn partition(&self, id: &CashoutId) -> u16 {
        self.partition_of(&id.to_string())
    }

    fn tagged(&self, p: u16) -> String {
        format!("{}:{{{p}}}", self.prefix)
    }

    /// The record: a string, a fixed-width header (version, due, lease, deliveries, lease token;
    /// see `lua/record.lua`), the cashout as JSON, then its history lines, each after a `\n`.
    pub fn record(&self, id: &CashoutId) -> String {
        format!("{}:cashout:{id}", self.tagged(self.partition(id)))
    }

    /// History lines written for a record that cannot be rewritten: one that does not decode,
    /// parked `corrupt_record` and kept byte for byte as found, whose own lines (in the record)
    /// cannot be appended to. A list; nothing else has one.
    pub fn history(&self, id: &CashoutId) -> String {
        format!("{}:history:{id}", self.tagged(self.partition(id)))
    }

    /// An idempotency key within its producer's key space: `<name length>.<name>:<key>`, so no
    /// two (producer, key) pairs share a string.
    pub fn scoped(producer: &ProducerName, key: &IdempotencyKey) -> String {
        format!("{}.{producer}:{key}", producer.as_str().len())
    }

    /// The id of the cashout a producer's idempotency key creates, under this prefix
    /// ([`CashoutId::for_key`]): its record is found by the key with one `GET`, and producers
    /// have separate key spaces, so one producer's key never finds another's cashout.
    pub fn cashout_id(&self, producer: &ProducerName, key: &IdempotencyKey) -> CashoutId {
        CashoutId::for_key(&self.prefix, &Self::scoped(producer, key))
    }

    /// Sorted set of a partition's non-terminal, unparked cashouts of one provider, scored by
    /// when a worker must look at them next (ms): the step's due time while it waits, a
    /// redelivery deadline once it is on the stream.
    pub fn due(&self, provider: Provider, p: u16) -> String {
        format!("{}:due:{provider}", self.tagged(p))
    }

    /// [`Keys::due`] of the cashout's partition.
    pub fn due_of(&self, id: &CashoutId, provider: Provider) -> String {
        self.due(provider, self.partition(id))
    }

    /// Sorted set of a partition's parked cashouts (the dead-letter queue) by parking time (ms).
    pub fn parked(&self, p: u16) -> String {
        format!("{}:parked", self.tagged(p))
    }

    /// Hash of a partition's outcomes in one minute (`provider:state` and `provider:parked` →
    /// count), kept two hours: what the console's last-hour chart reads.
    pub fn outcomes(&self, p: u16, minute: i64) -> String {
        format!("{}:outcomes:{minute}", self.tagged(p))
    }

    /// [`Keys::outcomes`] of the cashout's partition.
    pub fn outcomes_of(&self, id: &CashoutId, minute: i64) -> String {
        self.outcomes(self.partition(id), minute)
    }

    /// [`Keys::parked`] of the cashout's partition.
    pub fn parked_of(&self, id: &CashoutId) -> String {
        self.parked(self.partition(id))
    }

    /// The stream of a provider's partition: entries are deliveries (`id`, trace context).
    pub fn stream(&self, provider: Provider, p: u16) -> String {
        format!("{}:queue:{provider}", self.tagged(p))
    }

    /// [`Keys::stream`] of the cashout's partition.
    pub fn stream_of(&self, id: &CashoutId, provider: Provider) -> String {
        self.stream(provider, self.partition(id))
    }

    /// One OMT account's keys share the hash tag `{omt-<account>}`, so the guard's scripts
    /// touch one slot.
    fn omt(&self, account: OmtAccountId, what: &str) -> String {
        format!("{}:omt:{{omt-{account}}}:{what}", self.prefix)
    }

    /// Failed attempts OMT counted for an account (as far as we know).
    pub fn omt_failures(&self, account: OmtAccountId) -> String {
        self.omt(account, "failures")
    }

    /// Hash of an account's reserved attempts: token → `phase|at_ms|cashout|call`, phase `r`
    /// (reserved, not sent yet) or `s` (sent, no answer recorded yet).
    pub fn omt_reservations(&self, account: OmtAccountId) -> String {
        self.omt(account, "reservations")
    }

    /// Set of accounts that may have sent reservations without a recorded answer (pruned when
    /// listed).
    pub fn omt_unresolved(&self) -> String {
        format!("{}:omt:unresolved", self.prefix)
    }

    /// Marks an OMT account locked (OMT said so), with OMT's reason.
    pub fn omt_locked(&self, account: OmtAccountId) -> String {
        self.omt(account, "locked")
    }

    /// Call limits of one provider (`providers.<p>.limits`), shared by every worker: `rate`
    /// holds the next free call time of the rate limit (µs), `in_flight` the calls out now
    /// (token → when its slot frees itself, ms). One hash tag per provider.
    pub fn call_limit(&self, provider: Provider, what: &str) -> String {
        format!("{}:limit:{{limit-{provider}}}:{what}", self.prefix)
    }

    /// Serialises the cashouts of one OMT account.
    pub fn omt_lease(&self, account: OmtAccountId) -> String {
        self.omt(account, "lease")
    }
}

impl Keys {
    /// Set when a record that cannot be decoded is parked (`corrupt_record`): why, when, from
    /// which stream; the record itself is left as found. Same hash tag as the record.
    pub fn corrupt(&self, id: &CashoutId) -> String {
        format!("{}:corrupt:{id}", self.tagged(self.partition(id)))
    }

    /// The due zsets of every provider in the cashout's partition.
    pub fn dues_of(&self, id: &CashoutId) -> Vec<String> {
        let p = self.partition(id);
        Provider::ALL.iter().map(|pr| self.due(*pr, p)).collect()
    }
}

/// The consumer group every worker of a stream belongs to.
pub const GROUP: &str = "workers";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_partition_puts_everything_in_one_slot() {
        let k = Keys::new("cashout");
        let id = CashoutId::generate();
        assert_eq!(k.partition(&id), 0);
        assert!(k.record(&id).starts_with("cashout:{0}:cashout:"));
        assert_eq!(k.stream(Provider::Camoo, 0), "cashout:{0}:queue:camoo");
        assert_eq!(k.corrupt(&id), format!("cashout:{{0}}:corrupt:{id}"));
    }

    #[test]
    fn the_corrupt_key_shares_the_records_hash_tag() {
        let k = Keys::with_partitions("cashout", 12);
        for _ in 0..100 {
            let id = CashoutId::generate();
            let tag = |key: &str| key.split('}').next().map(str::to_owned);
            assert_eq!(tag(&k.corrupt(&id)), tag(&k.record(&id)));
            for due in k.dues_of(&id) {
                assert_eq!(tag(&due), tag(&k.record(&id)));
            }
        }
    }

    #[test]
    fn partitions_are_stable_and_bounded() {
        let k = Keys::with_partitions("cashout", 8);
        for i in 0..1_000 {
            let s = format!("key-{i}");
            assert!(k.partition_of(&s) < 8);
            assert_eq!(k.partition_of(&s), k.partition_of(&s));
        }
        // FNV-1a of "a" is fixed: a change of hash would move every stored key.
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn idempotency_keys_give_ids_per_producer_and_prefix() {
        let k = Keys::new("cashout");
        let p = |s: &str| ProducerName::parse(s).unwrap();
        let key = |s: &str| IdempotencyKey::parse(s).unwrap();
        let id = k.cashout_id(&p("alpha"), &key("k-1"));
        assert_eq!(id, k.cashout_id(&p("alpha"), &key("k-1")));
        assert_eq!(id, CashoutId::for_key("cashout", "5.alpha:k-1"));
        assert_ne!(id, k.cashout_id(&p("beta"), &key("k-1")));
        // A name ending where a key begins cannot collide with a shorter name.
        assert_ne!(
            k.cashout_id(&p("a:b"), &key("c")),
            k.cashout_id(&p("a"), &key("b:c"))
        );
        assert_eq!(Keys::scoped(&p("alpha"), &key("k-1")), "5.alpha:k-1");
        // Another deployment (prefix) sharing a provider account never shares an id.
        assert_ne!(id, Keys::new("other").cashout_id(&p("alpha"), &key("k-1")));
    }
}
