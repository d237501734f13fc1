//! The skeleton every provider simulator is built on, so that each one only writes what its
//! provider does differently.
//!
//! A simulator is a [`Simulator`] (its identity, endpoints and API behaviour) and an [`Admin`]
//! (what its `/_admin/<name>` routes show and tune), run by one [`Sim`]:
//!
//! - **endpoint registry** ([`api`]): the simulator lists its API routes as
//!   [`Route`]s, each naming the endpoint it is (`"create"`, `"paycti"`, …). [`Sim::api_routes`]
//!   serves them, and every call goes through the same steps: authentication (a refusal neither
//!   counts nor consumes a fault), the call count (in total and for the call's subject), the next
//!   fault queued for that endpoint ([`crate::faults`]), then the simulator's handler;
//! - **ledger** ([`ledger`]): the simulator's own store and its call counts behind one lock, the
//!   [`Payouts`] store (creation order) and [`Sim::record_payout`], which writes the shared audit;
//! - **admin** ([`admin`]): `GET /calls[?subject]`, `GET`/`PUT /config` and the `{code, message,
//!   errors}` error body ([`CodedError`]), plus whatever routes the simulator adds;
//! - **deliveries** ([`deliver`]): background tasks that stop with the simulator and the retried
//!   callbacks (Camoo notifications, OMNO webhooks).

pub(crate) mod admin;
pub(crate) mod api;
pub(crate) mod deliver;
pub(crate) mod ledger;

use std::fmt::Debug;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::audit::AuditLog;
use crate::faults::FaultRegistry;
use crate::requests::{self, RequestLog};
use crate::util::lock;

pub(crate) use admin::CodedError;
pub(crate) use api::{ApiRequest, Route};
pub(crate) use ledger::{CallLog, Execution, Ledger, Payouts};

/// One simulated endpoint: its name in `/_admin/<provider>/calls` and `/_admin/faults`.
pub(crate) trait Endpoint: Copy + Debug + Send + Sync + 'static {
    /// E.g. `"create"`.
    fn name(self) -> &'static str;
}

/// The call counts of a simulator, as `GET /_admin/<provider>/calls` answers them.
pub(crate) trait Counts<E>: Copy + Default + Serialize + Send + 'static {
    /// The counter of `endpoint`.
    fn slot(&mut self, endpoint: E) -> &mut u64;
}

/// What a provider simulator is and how its API behaves.
pub(crate) trait Simulator: Sized + Send + Sync + 'static {
    /// Its name in the audit, the fault registry, the request log and the logs (`"camoo"`).
    const NAME: &'static str;
    /// Where its API is mounted (`"/camoo/v1/payment"`).
    const API_PATH: &'static str;
    /// Message of the answer to an unknown API path (a 404 in the provider's error body).
    const NOT_FOUND: &'static str;

    /// Its endpoints.
    type Endpoint: Endpoint;
    /// Its live configuration.
    type Config: Clone + Send + 'static;
    /// Its call counts.
    type Counts: Counts<Self::Endpoint>;
    /// What a call is also counted under (an account, an order); `Infallible` when nothing.
    type Subject: Eq + Hash + Send + 'static;
    /// Its own state (payouts, accounts, balance), kept in the [`Ledger`] with the counts.
    type Store: Send + 'static;

    /// The endpoint registry: the API routes it serves, each with its endpoint.
    fn routes() -> &'static [Route<Self::Endpoint>];

    /// Whether `headers` carry the configured credentials (compared in constant time).
    fn authorized(config: &Self::Config, headers: &HeaderMap) -> bool;

    /// The provider's `401` to a call without them.
    fn unauthorized() -> Response;

    /// The provider's usual error answer with `status` (injected `status` faults, unknown paths).
    fn error(status: StatusCode, message: &str) -> Response;

    /// What an authenticated call is counted under besides the total, if anything.
    fn subject(
        store: &Self::Store,
        endpoint: Self::Endpoint,
        request: &ApiRequest,
    ) -> Option<Self::Subject>;

    /// The real work of an authenticated call (the fault, if any, applies around it).
    fn handle(
        sim: Arc<Sim<Self>>,
        endpoint: Self::Endpoint,
        request: ApiRequest,
    ) -> impl Future<Output = Response> + Send;
}

/// What a simulator's `/_admin/<provider>` routes show and tune.
pub(crate) trait Admin: Simulator {
    /// Body of `PUT /config`.
    type ConfigPatch: DeserializeOwned + Debug + Send;
    /// Answer of `GET`/`PUT /config` (never the credentials).
    type ConfigView: Serialize;

    /// The live configuration as `/config` shows it.
    fn config_view(sim: &Sim<Self>) -> Self::ConfigView;

    /// The answer to a `PUT /config` body that is not a patch.
    fn bad_patch(error: serde_json::Error) -> CodedError;

    /// Applies a patch (all of it or, when it is refused, none of it).
    fn patch_config(sim: &Sim<Self>, patch: &Self::ConfigPatch) -> Result<(), CodedError>;

    /// The subject `GET /calls` asks about, from its query string (`None`: all calls).
    fn calls_filter(uri: &Uri) -> Result<Option<Self::Subject>, CodedError>;

    /// Adds the simulator's own admin routes to `/calls` and `/config`.
    fn extra_routes(router: Router<Arc<Sim<Self>>>) -> Router<Arc<Sim<Self>>> {
        router
    }
}

/// The shared state of one simulator: its configuration, its ledger, the sandbox's audit and
/// fault registry, and what is particular to it (`provider`, e.g. its HTTP client).
///
/// Lock order: the configuration before the ledger, never the other way round.
pub(crate) struct Sim<P: Simulator> {
    config: Mutex<P::Config>,
    ledger: Mutex<Ledger<P>>,
    audit: AuditLog,
    faults: FaultRegistry,
    /// What only this simulator has.
    pub(crate) provider: P,
    /// Never sent on; dropped with the simulator, which stops its background tasks.
    closed: watch::Sender<()>,
}

impl<P: Simulator> Sim<P> {
    /// A simulator recording its executed payouts in `audit` and taking its faults from `faults`
    /// (where it registers its endpoints).
    pub(crate) fn new(
        provider: P,
        config: P::Config,
        store: P::Store,
        audit: AuditLog,
        faults: FaultRegistry,
    ) -> Arc<Self> {
        let names: Vec<&str> = P::routes().iter().map(|r| r.endpoint.name()).collect();
        faults.register(P::NAME, &names);
        let (closed, _) = watch::channel(());
        Arc::new(Self {
            config: Mutex::new(config),
            ledger: Mutex::new(Ledger {
                calls: CallLog::default(),
                store,
            }),
            audit,
            faults,
            provider,
            closed,
        })
    }

    /// A copy of the live configuration.
    pub(crate) fn config(&self) -> P::Config {
        lock(&self.config).clone()
    }

    /// The live configuration, locked (never across an `.await`).
    pub(crate) fn config_mut(&self) -> MutexGuard<'_, P::Config> {
        lock(&self.config)
    }

    /// The ledger, locked (never across an `.await`).
    pub(crate) fn ledger(&self) -> MutexGuard<'_, Ledger<P>> {
        lock(&self.ledger)
    }

    /// `router` with this simulator's API at `P::API_PATH` (its requests logged in `requests`)
    /// and its admin routes at `/_admin/<name>`.
    pub(crate) fn mount(self: &Arc<Self>, router: Router, requests: &RequestLog) -> Router
    where
        P: Admin,
    {
        let track =
            axum::middleware::from_fn_with_state((requests.clone(), P::NAME), requests::track);
        router
            .nest(P::API_PATH, self.api_routes().layer(track))
            .nest(&format!("/_admin/{}", P::NAME), self.admin_routes())
    }

    /// Spawns a background task that gets a weak handle on the simulator and a receiver that
    /// resolves once the simulator is dropped (see [`crate::util::unless_closed`]).
    pub(crate) fn spawn<F>(
        self: &Arc<Self>,
        task: impl FnOnce(Weak<Self>, watch::Receiver<()>) -> F,
    ) where
        F: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(task(Arc::downgrade(self), self.closed.subscribe()));
    }
}
