//! End-to-end tests: real Redis, the sandbox over real HTTP, the real API, real workers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chaos;
mod cli;
mod cluster;
mod corrupt;
mod dlq;
mod durability;
mod flow;
mod http;
mod idempotency;
mod isolation;
mod metrics;
mod notifications;
mod omno;
mod omt;
mod redis_restart;
mod retries;
mod streams;
mod traces;
mod validation;
