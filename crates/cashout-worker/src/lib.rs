//! The workers. Redis Streams deliver cashout ids to apalis workers; [`Driver`] claims the
//! record and performs the next step under a per-cashout lease; the [`sweeper`] promotes due
//! steps (and redeliveries) onto the streams; the [`runtime`] supervises one apalis worker per
//! provider and restarts it with a backoff.

mod camoo;
mod config;
mod driver;
mod flow;
mod limits;
mod omno;
mod omt;
mod revoke;
pub mod runtime;
pub mod schedule;
pub mod sweeper;

pub use cashout_providers::RetryPolicy;
pub use config::WorkerConfig;
pub use driver::{CamooSetup, Driver, OmnoSetup, OmtSetup, Providers, StepReport};
pub use revoke::RevokeError;
pub use runtime::{WorkerExit, run, worker_name};
