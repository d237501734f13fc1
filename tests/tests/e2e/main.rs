//! End-to-end tests: real Redis, the sandbox over real HTTP, the real API, real workers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chaos;
mod cli;
mod cluster;
mod console;
mod contract;
mod corrupt;
mod dlq;
mod durability;
mod flow;
mod http;
mod idempotency;
mod isolation;
mod limits;
mod metrics;
mod notifications;
mod omno;
mod omt;
mod probes;
mod redis_restart;
mod retries;
mod streams;
mod traces;
mod validation;
