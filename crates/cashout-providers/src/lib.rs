//! Provider adapters. Each provider has a client (HTTP) and transformers (wire types and the
//! exhaustive mapping of its statuses into ours); every error is a [`ProviderError`] that
//! classifies itself into a [`cashout_core::Disposition`].

pub mod camoo;
mod client;
mod error;
mod observe;
pub mod omno;
pub mod omt;
mod policy;
mod reading;

pub use client::ConfigError;
pub use error::{Operation, ProviderError};
pub use policy::{CallLimits, DEFAULT_REFUSED_STATUSES, PollPolicy, RetryPolicy, Timeouts};
pub use reading::{PayoutOutcome, Reading};
