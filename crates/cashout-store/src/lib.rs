//! Redis persistence for cashouts: the record (source of truth) with its history, the
//! idempotency index, the due and parked indexes, per-cashout leases, and the apalis-redis queues
//! that deliver job ids to workers. [`Producer`] is the Rust client that writes straight to Redis.

pub mod dlq;
mod keys;
pub mod producer;
pub mod queue;
mod store;

pub use keys::Keys;
pub use producer::{Enqueued, Nudge, Producer};
pub use queue::{CashoutJob, JobQueue, QueueConfig};
pub use store::{
    Change, CreateOutcome, Modified, RedisConfig, SaveOutcome, Store, StoreError, connect,
    redact_url,
};
