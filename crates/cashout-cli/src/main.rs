//! The `cashout` binary: one process type per role, plus operator commands.

mod app;
mod demo;
mod dlq;
mod metrics;
mod settings;
mod telemetry;

use anyhow::{Context, bail};
use cashout_api::{AppState, CashoutView};
use cashout_core::{CashoutId, CashoutOrder, ProducerName};
use cashout_store::Enqueued;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use settings::Settings;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "cashout",
    version,
    about = "Durable payouts through OMT, OMNO and Camoo"
)]
struct Cli {
    /// TOML configuration file (also `CASHOUT_CONFIG`); environment variables `CASHOUT_…`
    /// (with `__` for nesting) override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (producer endpoints, provider notifications, health, OpenAPI).
    Api,
    /// Run a worker for every configured provider queue, and the sweeper.
    Worker,
    /// Serve the local provider simulators (Camoo) with their payout audit.
    Sandbox {
        /// `host:port` to listen on (default from `sandbox.listen`).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Start Redis-backed API, workers and sandbox in one process, pay a mixed batch of
    /// cashouts through the HTTP API and print a summary.
    Demo(demo::DemoArgs),
    /// Enqueue one cashout straight into Redis (same validation as the API).
    Enqueue {
        /// Idempotency key.
        #[arg(long)]
        key: String,
        /// Provider (`camoo`).
        #[arg(long, default_value = "camoo")]
        provider: String,
        /// Amount in minor units.
        #[arg(long)]
        amount: i64,
        /// Currency code (XAF, XOF, EUR, USD, LBP).
        #[arg(long)]
        currency: String,
        /// Recipient phone number (E.164) for Camoo.
        #[arg(long)]
        phone: Option<String>,
        /// Metadata as a JSON object.
        #[arg(long)]
        metadata: Option<String>,
        /// The producer to enqueue as: its idempotency keys, and the API token name that may
        /// read the cashout.
        #[arg(long, default_value = "local")]
        producer: String,
    },
    /// Show a cashout, its state and its history.
    Status {
        /// Cashout id.
        id: String,
    },
    /// Revoke a cashout: `created` with no provider call, a submitted OMT cashout at OMT.
    Revoke {
        /// Cashout id.
        id: String,
        /// Who does it (default cli:$USER).
        #[arg(long)]
        operator: Option<String>,
    },
    /// Work the dead-letter queue: list, show, replay, resolve, discard.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Check every stored cashout under the prefix: it decodes, holds an order the API would
    /// accept as stored, is found by its idempotency key (its id is the key's) and has a
    /// readable history. Exits non-zero on any problem (single Redis only).
    Audit,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    // Before the runtime: the OTLP exporter's client is a blocking one.
    let (level, service) = match cli.command {
        Command::Api => ("info", "cashout-api"),
        Command::Worker => ("info", "cashout-worker"),
        Command::Sandbox { .. } => ("info", "cashout-sandbox"),
        Command::Demo(_) => ("error", "cashout-demo"),
        _ => ("warn", "cashout-cli"),
    };
    let guard = telemetry::init(settings.log.format, level, service);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(run(cli, settings));
    drop(rt);
    drop(guard);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command {
        Command::Api => api(settings).await,
        Command::Worker => worker(settings).await,
        Command::Sandbox { listen } => {
            let addr = listen.unwrap_or_else(|| settings.sandbox.listen.clone());
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("sandbox.listen: cannot bind {addr}"))?;
            tracing::info!(addr = %listener.local_addr()?, "sandbox listening");
            let cfg = cashout_sandbox::SandboxConfig {
                camoo: settings.sandbox.camoo.clone(),
                omt: settings.sandbox.omt.clone(),
                omno: settings.sandbox.omno.clone(),
            };
            cashout_sandbox::serve(listener, cfg, app::wait(app::shutdown_signal())).await?;
            Ok(())
        }
        Command::Demo(args) => demo::run(settings, args).await,
        Command::Enqueue {
            key,
            provider,
            amount,
            currency,
            phone,
            metadata,
            producer: producer_name,
        } => {
            let producer_name = ProducerName::parse(&producer_name)
                .map_err(|e| anyhow::anyhow!("--producer: {e}"))?;
            let metadata: Option<Value> = metadata
                .map(|m| serde_json::from_str(&m))
                .transpose()
                .context("--metadata must be a JSON object")?;
            let mut body = json!({
                "idempotency_key": key,
                "provider": provider,
                "amount": amount,
                "currency": currency,
                "recipient": { "phone_number": phone },
            });
            if let Some(m) = metadata {
                body["metadata"] = m;
            }
            let order = CashoutOrder::parse(&body).map_err(|e| anyhow::anyhow!("{e}"))?;
            let producer = app::producer(&settings).await?.named(producer_name);
            let (word, c) = match producer.enqueue(order, None).await? {
                Enqueued::Created(c) => ("created", c),
                Enqueued::Existing(c) => ("existing", c),
                Enqueued::Conflict(c) => {
                    bail!(
                        "idempotency key already used for cashout {} with a different order",
                        c.id
                    )
                }
            };
            eprintln!("{word}");
            println!(
                "{}",
                serde_json::to_string_pretty(&CashoutView::new(&c, None))?
            );
            Ok(())
        }
        Command::Revoke { id, operator } => {
            let id = CashoutId::parse(&id).map_err(|e| anyhow::anyhow!("{e}"))?;
            let producer = app::producer(&settings).await?;
            let driver = app::driver(&settings, &producer).await?;
            let actor = operator.unwrap_or_else(|| {
                format!(
                    "cli:{}",
                    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
                )
            });
            let c = driver.revoke(&id, &actor).await?;
            println!("{}  {}", c.id, c.state);
            Ok(())
        }
        Command::Dlq(cmd) => {
            let producer = app::producer(&settings).await?;
            dlq::run(&producer, cmd).await
        }
        Command::Audit => {
            let producer = app::producer(&settings).await?;
            let audit = producer.store().audit().await?;
            for p in &audit.problems {
                println!("problem: {p}");
            }
            println!(
                "{} cashout records, {} parked corrupt, {} problems",
                audit.records,
                audit.corrupt_parked,
                audit.problems.len()
            );
            if !audit.is_clean() {
                bail!("{} problems in the stored records", audit.problems.len());
            }
            Ok(())
        }
        Command::Status { id } => {
            let id = CashoutId::parse(&id).map_err(|e| anyhow::anyhow!("{e}"))?;
            let producer = app::producer(&settings).await?;
            let Some(c) = producer.store().get(&id).await? else {
                bail!("no cashout {id}");
            };
            let history = producer.store().history(&c).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&CashoutView::new(&c, Some(history)))?
            );
            Ok(())
        }
    }
}

async fn api(settings: Settings) -> anyhow::Result<()> {
    let tokens = settings.tokens()?;
    if tokens.is_empty() {
        bail!("api.tokens: no bearer token configured (CASHOUT_API__TOKENS=name:secret,…)");
    }
    let producer = app::producer(&settings).await?;
    let secret = settings
        .providers
        .camoo_enabled()
        .then(|| settings.providers.camoo.api_secret.clone())
        .filter(|s| !s.expose_secret().is_empty());
    let driver = app::driver(&settings, &producer).await?;
    let mut state = AppState::new(producer, tokens, secret)
        .with_admin_tokens(settings.admin_tokens()?)
        .with_notifications(settings.api.notifications.clone())
        .with_operators_on_producer_routes(settings.api.operators_on_producer_routes)
        .with_console(settings.console.clone())
        .with_driver(driver);
    if let Some(render) = metrics::install() {
        state = state.with_metrics(render);
    }
    let listener = tokio::net::TcpListener::bind(&settings.api.listen)
        .await
        .with_context(|| format!("api.listen: cannot bind {}", settings.api.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "api listening");
    cashout_api::serve_with(
        listener,
        state,
        std::time::Duration::from_millis(settings.api.header_read_timeout_ms),
        app::wait(app::shutdown_signal()),
    )
    .await?;
    Ok(())
}

async fn worker(settings: Settings) -> anyhow::Result<()> {
    let producer = app::producer(&settings).await?;
    let driver = app::driver(&settings, &producer).await?;
    let shutdown = app::shutdown_signal();
    if let Some(render) = metrics::install() {
        tokio::spawn(metrics::serve_worker_metrics(
            settings.worker.metrics_listen.clone(),
            producer.clone(),
            render,
            app::wait(shutdown.clone()),
        ));
    }
    cashout_worker::run(driver, shutdown).await?;
    Ok(())
}
