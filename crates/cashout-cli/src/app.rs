//! Wiring: builds the store, queues, producer, adapters and driver from [`Settings`].

use crate::settings::Settings;
use anyhow::Context;
use cashout_providers::camoo::CamooClient;
use cashout_store::{JobQueue, Producer, Store};
use cashout_worker::{CamooSetup, Driver, OmnoSetup, OmtSetup, Providers};
use std::sync::Arc;
use tokio::sync::watch;

/// Opens Redis and builds the producer.
pub async fn producer(s: &Settings) -> anyhow::Result<Producer> {
    let conn = cashout_store::connect(&s.redis)
        .await
        .with_context(|| format!("redis.url: cannot connect to {}", redact_url(&s.redis.url)))?;
    let store = Store::new(conn.clone(), &s.redis);
    let queue = JobQueue::new(&store, &s.redis, s.worker.queue.clone())
        .with_context(|| format!("redis.url: {}", redact_url(&s.redis.url)))?;
    store.ping().await.context("redis did not answer PING")?;
    Ok(Producer::new(store, queue))
}

/// The provider adapters that have credentials.
pub fn providers(s: &Settings) -> anyhow::Result<Providers> {
    let mut p = Providers::default();
    if s.providers.camoo_enabled() {
        let mut camoo = s.providers.camoo.clone();
        if camoo.notification_url.is_none() {
            camoo.notification_url = s
                .api
                .public_url
                .as_deref()
                .map(|u| format!("{}/v1/providers/camoo/notify", u.trim_end_matches('/')));
        }
        let client = CamooClient::new(&camoo)?;
        p.camoo = Some(CamooSetup {
            client,
            poll: camoo.poll.clone(),
            retry: camoo.retry.clone(),
            limits: camoo.limits.clone(),
        });
    }
    if s.providers.omno_enabled() {
        let client = cashout_providers::omno::OmnoClient::new(&s.providers.omno)?;
        p.omno = Some(OmnoSetup {
            client,
            config: s.providers.omno.clone(),
        });
    }
    if s.providers.omt_enabled() {
        let client = cashout_providers::omt::OmtClient::new(&s.providers.omt)?;
        p.omt = Some(OmtSetup {
            client,
            config: s.providers.omt.clone(),
        });
    }
    Ok(p)
}

/// A driver for this process.
pub async fn driver(s: &Settings, producer: &Producer) -> anyhow::Result<Arc<Driver>> {
    let owner = cashout_worker::worker_name(cashout_core::Provider::Camoo)
        .trim_end_matches("-camoo")
        .to_owned();
    Ok(Arc::new(Driver::new(
        producer.store().clone(),
        producer.queue().clone(),
        providers(s)?,
        s.worker.clone(),
        owner,
    )))
}

/// Shows a Redis URL without its password.
pub fn redact_url(url: &str) -> String {
    cashout_store::redact_url(url)
}

/// A watch channel that turns true on Ctrl-C or SIGTERM.
pub fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            _ = term => {}
        }
        tracing::info!("shutting down");
        let _ = tx.send(true);
    });
    rx
}

/// A future that completes when `rx` turns true.
pub async fn wait(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}
