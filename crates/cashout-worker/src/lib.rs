//! The workers. apalis-redis delivers cashout ids; [`Driver`] re-reads the record and performs
//! the next step under a per-cashout lease; the [`sweeper`] re-enqueues whatever is overdue; the
//! [`runtime`] supervises one apalis worker per provider queue and restarts it with a backoff.

mod config;
mod driver;
mod omno;
mod omt;
mod revoke;
pub mod runtime;
pub mod schedule;
pub mod sweeper;

pub use cashout_providers::RetryPolicy;
pub use config::{SweeperConfig, WorkerConfig};
pub use driver::{CamooSetup, Driver, OmnoSetup, OmtSetup, Providers, StepReport};
pub use revoke::RevokeError;
pub use runtime::{WorkerExit, run, worker_name};
