//! Helpers for the end-to-end tests: each test gets its own Redis key prefix, its own sandbox on
//! port 0, the real API on port 0, in-process workers or real `cashout worker` processes, and
//! helpers that wait for a condition (bounded) instead of sleeping for a guess.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod browser;
pub mod contract;

use cashout_api::AppState;
use cashout_core::{CashoutId, CashoutOrder};
use cashout_providers::PollPolicy;
use cashout_providers::camoo::{CamooClient, CamooConfig};
use cashout_providers::omno::{OmnoClient, OmnoConfig};
use cashout_providers::omt::{OmtClient, OmtConfig};
use cashout_providers::{RetryPolicy, Timeouts};
use cashout_sandbox::{SandboxConfig, SandboxHandle};
use cashout_store::{JobQueue, Producer, QueueConfig, RedisConfig, Store};
use cashout_worker::{CamooSetup, Driver, OmnoSetup, OmtSetup, Providers, WorkerConfig};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The bearer token every test app accepts.
pub const TOKEN: &str = "test-token-0123456789";

/// The operator token every test app accepts on `/v1/dlq…`.
pub const ADMIN_TOKEN: &str = "admin-token-9876543210";

/// A second producer's token (name `other`): its cashouts and keys are its own.
pub const OTHER_TOKEN: &str = "other-token-5555555555";

/// Redis for tests: `CASHOUT_REDIS__URL`, else the machine's local Redis.
pub fn redis_url() -> String {
    std::env::var("CASHOUT_REDIS__URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Quiet logs unless `TEST_LOG` is set.
pub fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info".into()),
                )
                .with_test_writer()
                .try_init();
        }
    });
}

/// Knobs a test may turn before the app starts.
#[derive(Debug, Clone)]
pub struct Options {
    /// The sandbox's behaviour.
    pub sandbox: SandboxConfig,
    /// Verify schedule.
    pub poll: PollPolicy,
    /// Camoo retries.
    pub retry: RetryPolicy,
    /// Worker settings.
    pub worker: WorkerConfig,
    /// Send `notification_url` to Camoo.
    pub notifications: bool,
    /// Camoo call timeout.
    pub camoo_timeout_ms: u64,
    /// Redis to use instead of [`redis_url`].
    pub redis_url: Option<String>,
    /// `redis.redeliver_after_ms`: a delivered cashout with no step recorded comes back.
    pub redeliver_after_ms: u64,
    /// `redis.partitions`.
    pub partitions: u16,
    /// `api.notifications`.
    pub notify: cashout_api::NotifyConfig,
    /// `api.operators_on_producer_routes`.
    pub operators_on_producer_routes: bool,
    /// `api.header_read_timeout_ms`.
    pub header_read_timeout_ms: u64,
    /// `console.…`.
    pub console: cashout_api::ConsoleConfig,
}

impl Default for Options {
    fn default() -> Self {
        let mut sandbox = SandboxConfig::default();
        sandbox.camoo.settle_delay_ms = 300;
        sandbox.camoo.long_pending_ms = 2_500;
        Self {
            sandbox,
            poll: PollPolicy {
                first_delay_ms: 200,
                factor: 1.5,
                max_delay_ms: 1_000,
                deadline_secs: 60,
            },
            retry: RetryPolicy {
                first_delay_ms: 200,
                factor: 2.0,
                max_delay_ms: 1_000,
                max_attempts: 4,
                ..RetryPolicy::default()
            },
            worker: WorkerConfig {
                concurrency: 16,
                lease_ms: 5_000,
                max_deliveries: 5,
                continue_within_ms: 200,
                max_steps_per_delivery: 8,
                queue: QueueConfig {
                    batch_size: 10,
                    block_ms: 500,
                    claim_idle_ms: 1_500,
                    promote_interval_ms: 20,
                    promote_chunk: 100,
                    trim_interval_ms: 300,
                    forget_consumer_after_ms: 60_000,
                },
                max_restarts: 5,
                metrics_listen: String::new(),
            },
            notifications: false,
            camoo_timeout_ms: 3_000,
            redis_url: None,
            redeliver_after_ms: 1_000,
            partitions: 1,
            notify: cashout_api::NotifyConfig::default(),
            operators_on_producer_routes: false,
            header_read_timeout_ms: cashout_api::DEFAULT_HEADER_READ_TIMEOUT_MS,
            console: cashout_api::ConsoleConfig::default(),
        }
    }
}

/// A running test environment.
pub struct TestApp {
    /// The key prefix of this test.
    pub prefix: String,
    /// `http://127.0.0.1:PORT` of the API.
    pub api_url: String,
    /// The sandbox.
    pub sandbox: SandboxHandle,
    /// Producer (store + queues).
    pub producer: Producer,
    /// The options it was started with (with the sandbox URL filled in).
    pub options: Options,
    /// HTTP client.
    pub http: reqwest::Client,
    api_stop: watch::Sender<bool>,
    workers: Vec<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>,
}

impl TestApp {
    /// Starts a sandbox and the API; no worker yet.
    pub async fn spawn(options: Options) -> Self {
        init_logs();
        let prefix = format!("test:{}", uuid::Uuid::new_v4().simple());
        let sandbox = cashout_sandbox::spawn(options.sandbox.clone())
            .await
            .expect("sandbox");
        let redis = RedisConfig {
            url: options.redis_url.clone().unwrap_or_else(redis_url),
            prefix: prefix.clone(),
            redeliver_after_ms: options.redeliver_after_ms,
            partitions: options.partitions,
            ..RedisConfig::default()
        };
        let conn = cashout_store::connect(&redis)
            .await
            .expect("redis: set CASHOUT_REDIS__URL or run a Redis on 127.0.0.1:6379");
        let store = Store::new(conn.clone(), &redis);
        let queue = JobQueue::new(&store, &redis, options.worker.queue.clone()).expect("redis url");
        // Cashouts the tests enqueue through the library belong to the `tests` token, so the
        // API shows them to it.
        let producer = Producer::new(store, queue)
            .named(cashout_core::ProducerName::parse("tests").expect("a valid name"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api_url = format!("http://{}", listener.local_addr().unwrap());
        let api_driver = driver_for(
            &producer,
            &options,
            &camoo_config_for(&options, &sandbox, &api_url),
            &omt_config_for(&options, &sandbox),
            &omno_config_for(&options, &sandbox),
        );
        let state = AppState::new(
            producer.clone(),
            cashout_api::parse_tokens(&format!("tests:{TOKEN},other:{OTHER_TOKEN}")).unwrap(),
            Some(SecretString::from(options.sandbox.camoo.api_secret.clone())),
        )
        .with_admin_tokens(cashout_api::parse_tokens(&format!("ops:{ADMIN_TOKEN}")).unwrap())
        .with_notifications(options.notify.clone())
        .with_operators_on_producer_routes(options.operators_on_producer_routes)
        .with_console(options.console.clone())
        .with_driver(api_driver);
        let (api_stop, mut rx) = watch::channel(false);
        let header_read_timeout = Duration::from_millis(options.header_read_timeout_ms);
        tokio::spawn(cashout_api::serve_with(
            listener,
            state,
            header_read_timeout,
            async move {
                let _ = rx.wait_for(|v| *v).await;
            },
        ));
        Self {
            prefix,
            api_url,
            sandbox,
            producer,
            options,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            api_stop,
            workers: Vec::new(),
        }
    }

    /// The Camoo settings workers use.
    pub fn camoo_config(&self) -> CamooConfig {
        camoo_config_for(&self.options, &self.sandbox, &self.api_url)
    }

    /// The OMT settings workers use.
    pub fn omt_config(&self) -> OmtConfig {
        omt_config_for(&self.options, &self.sandbox)
    }

    /// A driver like a worker's (for tests that call it directly).
    pub fn driver(&self) -> Arc<Driver> {
        driver_for(
            &self.producer,
            &self.options,
            &self.camoo_config(),
            &self.omt_config(),
            &omno_config_for(&self.options, &self.sandbox),
        )
    }

    /// Starts the apalis workers and the sweeper in this process.
    pub fn start_worker(&mut self) {
        let driver = self.driver();
        let (tx, rx) = watch::channel(false);
        let h = tokio::spawn(async move {
            cashout_worker::run(driver, rx).await.expect("workers");
        });
        self.workers.push((tx, h));
    }

    /// Stops in-process workers.
    pub async fn stop_workers(&mut self) {
        for (tx, h) in self.workers.drain(..) {
            let _ = tx.send(true);
            let _ = tokio::time::timeout(Duration::from_secs(10), h).await;
        }
    }

    /// Environment for a `cashout worker` process equivalent to [`TestApp::start_worker`].
    pub fn worker_env(&self) -> Vec<(String, String)> {
        let c = self.camoo_config();
        let w = &self.options.worker;
        let mut env = vec![
            (
                "CASHOUT_REDIS__URL",
                self.options.redis_url.clone().unwrap_or_else(redis_url),
            ),
            ("CASHOUT_REDIS__PREFIX", self.prefix.clone()),
            ("CASHOUT_PROVIDERS__CAMOO__BASE_URL", c.base_url.clone()),
            (
                "CASHOUT_PROVIDERS__CAMOO__API_KEY",
                self.options.sandbox.camoo.api_key.clone(),
            ),
            (
                "CASHOUT_PROVIDERS__CAMOO__API_SECRET",
                self.options.sandbox.camoo.api_secret.clone(),
            ),
            (
                "CASHOUT_PROVIDERS__CAMOO__TIMEOUTS__CREATE_MS",
                c.timeouts.create_ms.to_string(),
            ),
            (
                "CASHOUT_PROVIDERS__CAMOO__TIMEOUTS__STATUS_MS",
                c.timeouts.status_ms.to_string(),
            ),
            (
                "CASHOUT_PROVIDERS__CAMOO__TIMEOUTS__CONNECT_MS",
                c.timeouts.connect_ms.to_string(),
            ),
            (
                "CASHOUT_PROVIDERS__CAMOO__TIMEOUTS__ACCOUNT_MS",
                c.timeouts.account_ms.to_string(),
            ),
            (
                "CASHOUT_PROVIDERS__CAMOO__RETRY__FIRST_DELAY_MS",
                c.retry.first_delay_ms.to_string(),
            ),
            (
                "CASHOUT_PROVIDERS__CAMOO__RETRY__MAX_DELAY_MS",
                c.retry.max_delay_ms.to_string(),
            ),
            (
                "CASHOUT_PROVIDERS__CAMOO__RETRY__MAX_ATTEMPTS",
                c.retry.max_attempts.to_string(),
            ),
            (
                "CASHOUT_PROVIDERS__CAMOO__POLL__FIRST_DELAY_MS",
                c.poll.first_delay_ms.to_string(),
            ),
            (
                "CASHOUT_PROVIDERS__CAMOO__POLL__MAX_DELAY_MS",
                c.poll.max_delay_ms.to_string(),
            ),
            (
                "CASHOUT_PROVIDERS__CAMOO__POLL__DEADLINE_SECS",
                c.poll.deadline_secs.to_string(),
            ),
            ("CASHOUT_WORKER__METRICS_LISTEN", w.metrics_listen.clone()),
            ("CASHOUT_WORKER__LEASE_MS", w.lease_ms.to_string()),
            (
                "CASHOUT_WORKER__QUEUE__BLOCK_MS",
                w.queue.block_ms.to_string(),
            ),
            (
                "CASHOUT_WORKER__QUEUE__CLAIM_IDLE_MS",
                w.queue.claim_idle_ms.to_string(),
            ),
            (
                "CASHOUT_WORKER__QUEUE__TRIM_INTERVAL_MS",
                w.queue.trim_interval_ms.to_string(),
            ),
            (
                "CASHOUT_REDIS__REDELIVER_AFTER_MS",
                self.options.redeliver_after_ms.to_string(),
            ),
            (
                "CASHOUT_REDIS__PARTITIONS",
                self.options.partitions.to_string(),
            ),
        ];
        let o = self.omt_config();
        env.extend([
            ("CASHOUT_PROVIDERS__OMT__BASE_URL", o.base_url.clone()),
            (
                "CASHOUT_PROVIDERS__OMT__USERNAME",
                self.options.sandbox.omt.username.clone(),
            ),
            (
                "CASHOUT_PROVIDERS__OMT__PASSWORD",
                self.options.sandbox.omt.password.clone(),
            ),
            (
                "CASHOUT_PROVIDERS__OMT__TIMEOUTS__CREATE_MS",
                o.timeouts.create_ms.to_string(),
            ),
            (
                "CASHOUT_PROVIDERS__OMT__TIMEOUTS__STATUS_MS",
                o.timeouts.status_ms.to_string(),
            ),
            (
                "CASHOUT_PROVIDERS__OMT__TIMEOUTS__CONNECT_MS",
                o.timeouts.connect_ms.to_string(),
            ),
            (
                "CASHOUT_PROVIDERS__OMT__TIMEOUTS__ACCOUNT_MS",
                o.timeouts.account_ms.to_string(),
            ),
        ]);
        let m = omno_config_for(&self.options, &self.sandbox);
        env.extend([
            ("CASHOUT_PROVIDERS__OMNO__BASE_URL", m.base_url.clone()),
            (
                "CASHOUT_PROVIDERS__OMNO__TOKEN",
                self.options.sandbox.omno.token.clone(),
            ),
            (
                "CASHOUT_PROVIDERS__OMNO__TIMEOUTS__CREATE_MS",
                m.timeouts.create_ms.to_string(),
            ),
            (
                "CASHOUT_PROVIDERS__OMNO__TIMEOUTS__STATUS_MS",
                m.timeouts.status_ms.to_string(),
            ),
            (
                "CASHOUT_PROVIDERS__OMNO__TIMEOUTS__CONNECT_MS",
                m.timeouts.connect_ms.to_string(),
            ),
            (
                "CASHOUT_PROVIDERS__OMNO__TIMEOUTS__ACCOUNT_MS",
                m.timeouts.account_ms.to_string(),
            ),
        ]);
        if let Some(n) = c.notification_url {
            env.push(("CASHOUT_PROVIDERS__CAMOO__NOTIFICATION_URL", n));
        }
        env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// Starts a real `cashout worker` process. Kill it with `start_kill()` (SIGKILL).
    pub fn spawn_worker_process(&self) -> tokio::process::Child {
        self.spawn_worker_process_with(&[])
    }

    /// A `cashout worker` process logging at debug level (JSON) into `log`.
    pub fn spawn_worker_process_logged(&self, log: &std::path::Path) -> tokio::process::Child {
        let file = std::fs::File::create(log).unwrap();
        let mut cmd = tokio::process::Command::new(cashout_bin());
        cmd.arg("worker")
            .envs(self.worker_env())
            .env("RUST_LOG", "debug")
            .env("CASHOUT_LOG__FORMAT", "json")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .kill_on_drop(true);
        cmd.spawn().expect("spawn cashout worker")
    }

    /// A real `cashout api` process on `port`, configured like the workers.
    pub fn spawn_api_process(&self, port: u16) -> tokio::process::Child {
        let mut cmd = tokio::process::Command::new(cashout_bin());
        cmd.arg("api")
            .envs(self.worker_env())
            .env("CASHOUT_API__LISTEN", format!("127.0.0.1:{port}"))
            .env("CASHOUT_API__TOKENS", format!("tests:{TOKEN}"))
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        cmd.spawn().expect("spawn cashout api")
    }

    /// [`TestApp::spawn_worker_process`] with extra `CASHOUT_…` variables.
    pub fn spawn_worker_process_with(&self, extra: &[(&str, &str)]) -> tokio::process::Child {
        let mut cmd = tokio::process::Command::new(cashout_bin());
        cmd.arg("worker")
            .envs(self.worker_env())
            .env("RUST_LOG", "warn")
            .envs(extra.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                std::process::Stdio::inherit()
            } else {
                std::process::Stdio::null()
            })
            .kill_on_drop(true);
        // Config must come from the env above only.
        for (k, _) in std::env::vars() {
            let ours = self.worker_env().iter().any(|(n, _)| *n == k)
                || extra.iter().any(|(n, _)| *n == k);
            if k.starts_with("CASHOUT_") && !ours {
                cmd.env_remove(k);
            }
        }
        cmd.spawn().expect("spawn cashout worker")
    }

    /// A Camoo order body.
    pub fn order(key: &str, phone: &str, amount: i64) -> Value {
        json!({
            "idempotency_key": key,
            "provider": "camoo",
            "amount": amount,
            "currency": "XAF",
            "recipient": {"phone_number": phone},
            "metadata": {"test": true}
        })
    }

    /// `POST /v1/cashouts` with the test token.
    pub async fn post_cashout(&self, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/v1/cashouts", self.api_url))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `POST /v1/cashouts` with a raw body.
    pub async fn post_raw(&self, body: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}/v1/cashouts", self.api_url))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `GET /v1/cashouts/{id}`.
    pub async fn get_cashout(&self, id: &str) -> Value {
        self.http
            .get(format!("{}/v1/cashouts/{id}", self.api_url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// An operator call: `method` `path` with an optional JSON body and a token.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        token: &str,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.api_url))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `POST` to an operator endpoint with the admin token.
    pub async fn admin_post(&self, path: &str, body: Value) -> (u16, Value) {
        self.admin(reqwest::Method::POST, path, Some(body), ADMIN_TOKEN)
            .await
    }

    /// `GET` an operator endpoint with the admin token.
    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        self.admin(reqwest::Method::GET, path, None, ADMIN_TOKEN)
            .await
    }

    /// Injects a fault into the sandbox: the next `count` calls to Camoo `endpoint`
    /// (`create`, `verify`, `account`) meet `fault` (see `cashout-sandbox`).
    pub async fn fault(&self, endpoint: &str, count: u32, fault: Value) {
        self.fault_for("camoo", endpoint, count, fault).await;
    }

    /// [`TestApp::fault`] for any provider (`omt`: `getcti`, `paycti`, `revoke`).
    pub async fn fault_for(&self, provider: &str, endpoint: &str, count: u32, fault: Value) {
        let r = self
            .http
            .post(format!("{}/_admin/faults", self.sandbox.base_url()))
            .json(
                &json!({"provider": provider, "endpoint": endpoint, "count": count, "fault": fault}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "fault injection refused");
    }

    /// Removes every injected fault.
    pub async fn clear_faults(&self) {
        let r = self
            .http
            .delete(format!("{}/_admin/faults", self.sandbox.base_url()))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// Seeds a pending OMT cashout in the sandbox (see `cashout-sandbox`'s OMT admin).
    pub async fn omt_seed(&self, account: i64, otp: i64, amount: i64, currency: i32) {
        let r = self
            .http
            .post(format!("{}/_admin/omt/pending", self.sandbox.base_url()))
            .json(&json!({
                "account_id": account, "otp": otp, "amount": amount, "currency": currency,
                "first_name": "John", "middle_name": "Doe", "last_name": "Smith",
                "mobile_number": "+96171234567"
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "omt seed refused");
    }

    /// Any OMT admin call on the sandbox: `method` `path` (after `/_admin/omt/`).
    pub async fn omt_admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let mut req = self.http.request(
            method,
            format!("{}/_admin/omt/{path}", self.sandbox.base_url()),
        );
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        assert!(r.status().is_success(), "omt admin {path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    /// The sandbox's OMT call counters for one account.
    pub async fn omt_calls(&self, account: i64) -> Value {
        self.omt_admin(
            reqwest::Method::GET,
            &format!("calls?account_id={account}"),
            None,
        )
        .await
    }

    /// An OMT order body (amount in minor units).
    pub fn omt_order(key: &str, account: i64, otp: i64, amount: i64, currency: &str) -> Value {
        json!({
            "idempotency_key": key,
            "provider": "omt",
            "amount": amount,
            "currency": currency,
            "recipient": {"account_id": account, "otp": otp, "customer_name": "John Doe Smith"}
        })
    }

    /// An OMNO order body. The last character of `user` picks the sandbox outcome.
    pub fn omno_order(key: &str, user: &str, approval: &str) -> Value {
        json!({
            "idempotency_key": key,
            "provider": "omno",
            "amount": 10_000,
            "currency": "USD",
            "approval": approval,
            "recipient": {
                "external_user_id": user, "first_name": "John", "last_name": "Doe",
                "email": "john.doe@example.com", "phone_number": "1 1234567890",
                "date_of_birth": "1990-12-01", "kyc_verified": false,
                "billing": {"address": "123 Main St", "city": "Atlanta", "state": "GA",
                            "country_code": "US", "postal_code": "30308"}
            }
        })
    }

    /// Any OMNO admin call on the sandbox (`path` after `/_admin/omno/`).
    pub async fn omno_admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let mut req = self.http.request(
            method,
            format!("{}/_admin/omno/{path}", self.sandbox.base_url()),
        );
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        assert!(r.status().is_success(), "omno admin {path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    /// Changes the sandbox's Camoo behaviour at run time.
    pub async fn sandbox_config(&self, patch: Value) {
        let r = self
            .http
            .put(format!("{}/_admin/camoo/config", self.sandbox.base_url()))
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "sandbox config: {}", r.status());
    }

    /// Enqueues straight through the producer library.
    pub async fn enqueue(&self, body: &Value) -> CashoutId {
        let order = CashoutOrder::parse(body).unwrap();
        match self.producer.enqueue(order, None).await.unwrap() {
            cashout_store::Enqueued::Created(c) => c.id,
            other => panic!("expected a new cashout, got {other:?}"),
        }
    }

    /// Waits (up to `limit`) until the cashout satisfies `pred`; returns its API view.
    pub async fn wait_for_cashout(
        &self,
        id: &str,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let v = self.get_cashout(id).await;
            if pred(&v) {
                return v;
            }
            assert!(
                start.elapsed() < limit,
                "cashout {id} did not reach the expected condition within {limit:?}: {v:#}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the cashout is terminal or parked.
    pub async fn wait_settled(&self, id: &str) -> Value {
        self.wait_for_cashout(id, Duration::from_secs(30), |v| {
            !v["parked"].is_null()
                || matches!(
                    v["state"].as_str(),
                    Some("confirmed" | "failed" | "revoked")
                )
        })
        .await
    }

    /// Payouts the sandbox executed, optionally for one reference.
    pub async fn payouts(&self, external_reference: Option<&str>) -> Vec<Value> {
        let mut url = format!("{}/_admin/payouts", self.sandbox.base_url());
        if let Some(r) = external_reference {
            url.push_str(&format!("?external_reference={r}"));
        }
        let v: Value = self
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["payouts"].as_array().cloned().unwrap_or_default()
    }

    /// Authenticated calls the sandbox received: `{create, verify, account}`.
    pub async fn camoo_calls(&self) -> Value {
        self.http
            .get(format!("{}/_admin/camoo/calls", self.sandbox.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// How many cashout records exist under this test's prefix.
    pub async fn record_count(&self) -> usize {
        self.keys()
            .await
            .iter()
            .filter(|k| k.contains(":cashout:"))
            .count()
    }

    /// Every key under this test's prefix.
    pub async fn keys(&self) -> Vec<String> {
        let mut conn = self.producer.store().connection();
        let mut cursor: u64 = 0;
        let mut out = Vec::new();
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}:*", self.prefix))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .unwrap();
            out.extend(keys);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        out.sort();
        out
    }

    /// Stops everything and deletes the test's keys.
    pub async fn shutdown(mut self) {
        self.stop_workers().await;
        let _ = self.api_stop.send(true);
        let keys = self.keys().await;
        if !keys.is_empty() {
            let mut conn = self.producer.store().connection();
            let _: Result<i64, _> = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
        }
        self.sandbox.shutdown().await;
    }
}

fn camoo_config_for(options: &Options, sandbox: &SandboxHandle, api_url: &str) -> CamooConfig {
    CamooConfig {
        base_url: sandbox.camoo_base_url(),
        api_key: SecretString::from(options.sandbox.camoo.api_key.clone()),
        api_secret: SecretString::from(options.sandbox.camoo.api_secret.clone()),
        notification_url: options
            .notifications
            .then(|| format!("{api_url}/v1/providers/camoo/notify")),
        timeouts: test_timeouts(options),
        poll: options.poll.clone(),
        retry: options.retry.clone(),
        limits: cashout_providers::CallLimits::default(),
    }
}

fn omt_config_for(options: &Options, sandbox: &SandboxHandle) -> OmtConfig {
    OmtConfig {
        base_url: sandbox.omt_base_url(),
        username: SecretString::from(options.sandbox.omt.username.clone()),
        password: SecretString::from(options.sandbox.omt.password.clone()),
        timeouts: test_timeouts(options),
        retry: options.retry.clone(),
        ..OmtConfig::default()
    }
}

fn omno_config_for(options: &Options, sandbox: &SandboxHandle) -> OmnoConfig {
    OmnoConfig {
        base_url: sandbox.omno_base_url(),
        token: SecretString::from(options.sandbox.omno.token.clone()),
        timeouts: test_timeouts(options),
        poll: options.poll.clone(),
        retry: options.retry.clone(),
        limits: cashout_providers::CallLimits::default(),
    }
}

fn test_timeouts(options: &Options) -> Timeouts {
    Timeouts {
        connect_ms: 1_000,
        create_ms: options.camoo_timeout_ms,
        status_ms: options.camoo_timeout_ms,
        account_ms: options.camoo_timeout_ms,
    }
}

fn driver_for(
    producer: &Producer,
    options: &Options,
    camoo: &CamooConfig,
    omt: &OmtConfig,
    omno: &OmnoConfig,
) -> Arc<Driver> {
    Arc::new(Driver::new(
        producer.store().clone(),
        producer.queue().clone(),
        Providers {
            camoo: Some(CamooSetup {
                client: CamooClient::new(camoo).unwrap(),
                poll: camoo.poll.clone(),
                retry: camoo.retry.clone(),
                limits: camoo.limits.clone(),
            }),
            omt: Some(OmtSetup {
                client: OmtClient::new(omt).unwrap(),
                config: omt.clone(),
            }),
            omno: Some(OmnoSetup {
                client: OmnoClient::new(omno).unwrap(),
                config: omno.clone(),
            }),
        },
        options.worker.clone(),
        format!("test-{}", uuid::Uuid::new_v4().simple()),
    ))
}

/// The `cashout` binary built by this workspace (`cargo test`/`nextest` build it with the tests).
/// `TEST_CASHOUT_BIN` overrides.
pub fn cashout_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("TEST_CASHOUT_BIN") {
        return p.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let bin = target.join("debug").join("cashout");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p cashout-cli` (make test does)",
        bin.display()
    );
    bin
}

/// Polls `f` until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The causes in a cashout view's history, oldest first.
pub fn causes(view: &Value) -> Vec<String> {
    view["history"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter_map(|e| e["cause"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    // Below Linux's ephemeral range (32768–60999): a port the kernel hands out for `:0` can be
    // taken by one of the many outgoing connections of the tests running beside this one before
    // the process it is meant for binds it (a worker's /metrics then never answers).
    for _ in 0..200 {
        let port = rand::random_range(20_000..32_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A phone number whose last digit picks the sandbox outcome (see `cashout-sandbox`).
pub fn phone(n: u32, last_digit: u8) -> String {
    format!("+2376{:07}{last_digit}", n % 10_000_000)
}

/// A `redis-server` of the test's own, on a free loopback port, with AOF (`appendfsync always`)
/// so a restart keeps every acknowledged write. Killed and its directory removed on drop.
pub struct PrivateRedis {
    /// Its port.
    pub port: u16,
    dir: PathBuf,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    /// Starts one and waits until it answers.
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir =
            std::env::temp_dir().join(format!("cashout-redis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Self {
            port,
            dir,
            child: None,
        };
        r.launch();
        r
    }

    fn launch(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed (make test installs it)");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // Wait for the AOF to be loaded: PING answers only then.
        let client = redis::Client::open(self.url()).unwrap();
        loop {
            if let Ok(mut c) = client.get_connection()
                && redis::cmd("PING").query::<String>(&mut c).is_ok()
            {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not load"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: a crash, no chance to save anything more.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of three masters (no replicas) on free loopback ports, created with
/// `redis-cli --cluster create`. Killed and its directories removed on drop.
pub struct PrivateCluster {
    /// The masters' ports.
    pub ports: Vec<u16>,
    dir: PathBuf,
    children: Vec<std::process::Child>,
}

impl PrivateCluster {
    /// Starts three nodes, joins them into a cluster and waits until it is ok.
    pub fn start() -> Self {
        let dir =
            std::env::temp_dir().join(format!("cashout-cluster-{}", uuid::Uuid::new_v4().simple()));
        let mut ports = Vec::new();
        let mut children = Vec::new();
        for _ in 0..3 {
            // A port whose cluster bus port (+10000) is free as well.
            let port = loop {
                let p = std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port();
                if p < 55_000
                    && !ports.contains(&p)
                    && std::net::TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok()
                {
                    break p;
                }
            };
            let d = dir.join(port.to_string());
            std::fs::create_dir_all(&d).unwrap();
            let child = std::process::Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&d)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("redis-server must be installed (make test installs it)");
            ports.push(port);
            children.push(child);
        }
        let c = Self {
            ports,
            dir,
            children,
        };
        let start = Instant::now();
        for p in &c.ports {
            while std::net::TcpStream::connect(("127.0.0.1", *p)).is_err() {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "node did not start"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let nodes: Vec<String> = c.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let out = std::process::Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli");
        assert!(
            out.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        for p in &c.ports {
            let client = redis::Client::open(format!("redis://127.0.0.1:{p}")).unwrap();
            loop {
                let info: Option<String> = client
                    .get_connection()
                    .ok()
                    .and_then(|mut conn| redis::cmd("CLUSTER").arg("INFO").query(&mut conn).ok());
                if info.is_some_and(|i| i.contains("cluster_state:ok")) {
                    break;
                }
                assert!(start.elapsed() < Duration::from_secs(30), "cluster not ok");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        c
    }

    /// The seed-node list for `redis.url`.
    pub fn url(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Keys held by each master.
    pub fn dbsizes(&self) -> Vec<u64> {
        self.ports
            .iter()
            .map(|p| {
                let client = redis::Client::open(format!("redis://127.0.0.1:{p}")).unwrap();
                let mut conn = client.get_connection().unwrap();
                redis::cmd("DBSIZE").query(&mut conn).unwrap()
            })
            .collect()
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
