//! `make chaos`: the full chaos run (see the library's docs); exits 1 when a figure that must be
//! zero is not. These change the run: `CHAOS_N`, `CHAOS_WORKER_KILL_SECS`, `CHAOS_RESET`,
//! `CHAOS_DROP`, `CHAOS_DELAY` (fractions of provider calls), `CHAOS_POST_SECS` (posts spread over
//! this long), `CHAOS_MIN_FAULT_SECS`, `CHAOS_MANUAL_EVERY` (every n-th OMNO order is manual; 0:
//! none), `CHAOS_APPENDFSYNC` (`always` or `everysec`), `CHAOS_LOG` (the processes' `RUST_LOG`),
//! `CHAOS_DIR` (keep logs and Redis data there); `CHAOS_SHORT=1` starts from the bounded run of
//! `make test`.

use anyhow::{Context, Result};
use cashout_chaos::{ChaosConfig, run};
use std::time::Duration;

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[tokio::main]
async fn main() -> Result<()> {
    let exe = std::env::current_exe()?;
    let bin = exe.parent().context("no parent directory")?.join("cashout");
    // CHAOS_SHORT=1: the bounded run of `make test`, with its progress printed.
    let mut cfg = if std::env::var("CHAOS_SHORT").as_deref() == Ok("1") {
        ChaosConfig {
            verbose: true,
            ..ChaosConfig::short(bin)
        }
    } else {
        ChaosConfig::full(bin)
    };
    if let Some(n) = env("CHAOS_N") {
        cfg.n = n;
    }
    if let Some(s) = env("CHAOS_WORKER_KILL_SECS") {
        cfg.worker_kill_every = Duration::from_secs_f64(s);
    }
    if let Some(x) = env("CHAOS_RESET") {
        cfg.faults.reset = x;
    }
    if let Some(x) = env("CHAOS_DROP") {
        cfg.faults.drop = x;
    }
    if let Some(x) = env("CHAOS_DELAY") {
        cfg.faults.delay = x;
    }
    if let Some(s) = env("CHAOS_POST_SECS") {
        cfg.post_over = Duration::from_secs(s);
    }
    if let Some(s) = env("CHAOS_MIN_FAULT_SECS") {
        cfg.min_fault_window = Duration::from_secs(s);
    }
    if let Some(m) = env("CHAOS_MANUAL_EVERY") {
        cfg.manual_every = m;
    }
    if let Ok(a) = std::env::var("CHAOS_APPENDFSYNC") {
        cfg.appendfsync = a;
    }
    if let Ok(l) = std::env::var("CHAOS_LOG") {
        cfg.log_level = l;
    }
    if let Ok(d) = std::env::var("CHAOS_DIR") {
        cfg.dir = Some(d.into());
    }
    println!(
        "cashout chaos: {} cashouts, {} workers (one kill -9 every {:?}), api and redis (appendfsync {}) kill -9 once; proxy faults: {:.1} % reset, {:.1} % dropped answers, {:.1} % delayed {} ms (client timeout {} ms)",
        cfg.n,
        cfg.workers,
        cfg.worker_kill_every,
        cfg.appendfsync,
        cfg.faults.reset * 100.0,
        cfg.faults.drop * 100.0,
        cfg.faults.delay * 100.0,
        cfg.faults.delay_ms,
        cfg.client_timeout_ms
    );
    let report = run(cfg).await?;
    println!("{report}");
    if !report.failures().is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
