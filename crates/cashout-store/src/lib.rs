//! Redis persistence for cashouts: the record (source of truth) with its history, under an id
//! derived from its idempotency key; the due and parked indexes, per-cashout leases, and the
//! Redis Streams that deliver cashout ids to apalis workers. [`Producer`] is the Rust client that
//! writes straight to Redis.

mod audit;
mod batch;
pub mod conn;
mod corrupt;
pub mod delivery;
pub mod dlq;
mod keys;
pub mod limits;
mod omt;
pub mod outcomes;
pub mod producer;
pub mod queue;
mod store;

pub use audit::{Audit, AuditError, order_problem};
pub use conn::{RedisConn, connect};
pub use corrupt::CorruptRecord;
pub use keys::{GROUP, Keys};
pub use omt::{
    OmtGuard, OmtReservation, STALE_AFTER as OMT_STALE_AFTER, stale_attempts as omt_stale_attempts,
};
pub use producer::{Enqueued, Notice, Nudge, Producer};
pub use queue::{AckLayer, CashoutJob, JobQueue, QueueConfig, StreamBackend};
pub use store::{
    Change, Claim, CreateOutcome, Modified, Peek, RECORD_HEADER_LEN, RecordParts, RedisConfig,
    SaveOutcome, Store, StoreError, WriteMode, redact_url,
};
