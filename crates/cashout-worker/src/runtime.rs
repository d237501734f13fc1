//! Runs the workers of one process: one apalis worker per provider over our stream backend, each
//! supervised and restarted with a backoff under a fresh consumer name, plus the promoter. When every queue's worker has given up, [`run`] returns an
//! error so the process exits non-zero instead of idling while it looks alive.

use crate::driver::Driver;
use crate::schedule::exponential;
use crate::sweeper;
use apalis::prelude::{BoxDynError, Data, WorkerBuilder, WorkerBuilderExt};
use cashout_core::Provider;
use cashout_store::CashoutJob;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

/// Why the workers stopped on their own.
#[derive(Debug, thiserror::Error)]
pub enum WorkerExit {
    /// Every queue's worker failed more often than allowed in a row.
    #[error("all workers died: {0}")]
    AllDied(String),
    /// No provider is configured, so there is nothing to consume.
    #[error("no provider is configured")]
    NothingToRun,
}

/// A worker name unique to this process and start: host, pid and a random suffix.
pub fn worker_name(provider: Provider) -> String {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    format!(
        "{host}-{}-{:08x}-{provider}",
        std::process::id(),
        rand::random::<u32>()
    )
}

async fn handle_job(job: CashoutJob, driver: Data<Arc<Driver>>) -> Result<(), BoxDynError> {
    let inflight = metrics::gauge!("cashout_inflight_jobs");
    inflight.increment(1.0);
    let result = driver.handle(&job).await;
    inflight.decrement(1.0);
    match result {
        Ok(report) => {
            debug!(cashout_id = %job.cashout_id, ?report, "delivery handled");
            Ok(())
        }
        Err(e) => {
            // Not acknowledged: the entry is claimed again after the idle time, and the due
            // zset delivers the cashout again in any case.
            warn!(cashout_id = %job.cashout_id, error = %e,
                "delivery failed on redis; it will be delivered again");
            Err(Box::new(e))
        }
    }
}

/// Runs until `shutdown` turns true (then returns `Ok`) or every worker has died.
pub async fn run(driver: Arc<Driver>, shutdown: watch::Receiver<bool>) -> Result<(), WorkerExit> {
    let providers = driver.providers().enabled();
    if providers.is_empty() {
        return Err(WorkerExit::NothingToRun);
    }
    info!(
        owner = driver.owner(),
        queues = ?providers.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        orphan_recovery_s = driver.config().queue.orphan_recovery().as_secs(),
        "workers starting"
    );
    let sweeper = tokio::spawn(sweeper::run(driver.clone(), shutdown.clone()));
    {
        // Stop scheduling retries the moment shutdown starts (in-flight jobs still finish).
        let driver = driver.clone();
        let mut rx = shutdown.clone();
        tokio::spawn(async move {
            if rx.wait_for(|v| *v).await.is_ok() {
                driver.begin_shutdown();
            }
        });
    }
    let mut tasks = Vec::new();
    for p in providers {
        tasks.push(tokio::spawn(supervise(driver.clone(), p, shutdown.clone())));
    }
    let mut failures = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(e),
            Err(join) => failures.push(format!("worker task panicked: {join}")),
        }
    }
    sweeper.abort();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(WorkerExit::AllDied(failures.join("; ")))
    }
}

async fn supervise(
    driver: Arc<Driver>,
    provider: Provider,
    shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    let cfg = driver.config().clone();
    let mut failures: u32 = 0;
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let name = worker_name(provider);
        let backend = driver.queue().consumer(provider, name.clone());
        let worker = WorkerBuilder::new(name.clone())
            .backend(backend)
            .concurrency(cfg.concurrency.max(1))
            .data(driver.clone())
            .build(handle_job);
        let mut rx = shutdown.clone();
        let started = Instant::now();
        info!(worker = %name, "worker started");
        let res = worker
            .run_until(async move {
                let _ = rx.wait_for(|v| *v).await;
                Ok::<(), std::io::Error>(())
            })
            .await;
        if *shutdown.borrow() {
            info!(worker = %name, "worker stopped");
            return Ok(());
        }
        match res {
            Ok(()) => warn!(worker = %name, "worker stopped by itself"),
            Err(e) => error!(worker = %name, error = %e, "worker died"),
        }
        if started.elapsed() > Duration::from_secs(60) {
            failures = 0;
        }
        failures += 1;
        if failures > cfg.max_restarts {
            return Err(format!(
                "{provider} worker failed {failures} times in a row"
            ));
        }
        let delay = exponential(
            Duration::from_millis(500),
            2.0,
            Duration::from_secs(30),
            failures - 1,
        );
        let mut rx = shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = rx.wait_for(|v| *v) => return Ok(()),
        }
    }
}
