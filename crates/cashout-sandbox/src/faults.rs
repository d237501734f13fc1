//! Provider-neutral fault injection: queues of faults keyed by `(provider, endpoint)`, consumed
//! one unit at a time by the simulators' calls, and the `/_admin/faults` routes that fill them.
//!
//! The simulator skeleton (`crate::sim`) registers each simulator's endpoint names with
//! [`FaultRegistry`], then on each call, right after authentication, takes the next fault for
//! that endpoint and runs the call through `apply`, which answers the status, sleeps, or drops
//! the connection around the real work. See the crate docs for the JSON shapes.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::server::Connection;
use crate::sim::CodedError;

/// When a `delay` or `reset` fault acts relative to the real handling of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Before anything is executed.
    Before,
    /// After the call was executed, before it is answered.
    After,
}

/// What happens to a call a fault applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Answer this HTTP status (400–599) with the provider's usual error body, executing nothing.
    Status {
        /// The HTTP status.
        status: u16,
        /// Adds `Retry-After: <secs>` to the answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u64>,
    },
    /// Sleep `delay_ms` before executing the call, or after executing it but before answering.
    Delay {
        /// How long to sleep, in ms.
        delay_ms: u64,
        /// Before or after executing.
        phase: Phase,
    },
    /// Drop the TCP connection without any HTTP response, before executing the call or after.
    Reset {
        /// Before or after executing.
        phase: Phase,
    },
}

fn one() -> u64 {
    1
}

/// Body of `POST /_admin/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFault {
    /// Simulator name, e.g. `"camoo"`.
    pub provider: String,
    /// Endpoint name within the simulator, e.g. `"create"`.
    pub endpoint: String,
    /// How many calls the fault applies to (default 1, at least 1).
    #[serde(default = "one")]
    pub count: u64,
    /// What to do to those calls.
    pub fault: Fault,
}

/// A queued fault, as answered by `POST` and listed by `GET /_admin/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFault {
    /// Unique within the sandbox, increasing in creation order (from 1).
    pub id: u64,
    /// Simulator name.
    pub provider: String,
    /// Endpoint name.
    pub endpoint: String,
    /// Calls it still applies to.
    pub count: u64,
    /// What it does.
    pub fault: Fault,
}

/// Body of `GET /_admin/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultList {
    /// Queued faults with their remaining counts, in creation order.
    pub faults: Vec<StoredFault>,
}

/// Body of `DELETE /_admin/faults`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearedFaults {
    /// How many queued faults were removed.
    pub cleared: u64,
}

/// Why a fault was refused: the offending field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FaultError {
    /// The field of [`NewFault`] at fault (`"body"` when it does not parse).
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl FaultError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl IntoResponse for FaultError {
    fn into_response(self) -> Response {
        CodedError::field("Invalid fault", self.field, self.message).into_response()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    provider: String,
    endpoint: String,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    /// Endpoint names each simulator accepts faults for.
    endpoints: BTreeMap<String, BTreeSet<String>>,
    queues: HashMap<Key, VecDeque<StoredFault>>,
}

/// Queues of faults per `(provider, endpoint)`, shared by the simulators and the admin routes
/// (cheap to clone: all clones share one registry).
#[derive(Debug, Clone, Default)]
pub struct FaultRegistry {
    inner: Arc<Mutex<Registry>>,
}

impl FaultRegistry {
    /// An empty registry that accepts no provider until simulators register their endpoints.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Declares the endpoints of `provider` that faults may target.
    pub(crate) fn register(&self, provider: &str, endpoints: &[&str]) {
        self.lock()
            .endpoints
            .entry(provider.to_owned())
            .or_default()
            .extend(endpoints.iter().map(|e| (*e).to_owned()));
    }

    /// Queues a fault behind the others of the same endpoint and returns it with its id.
    pub fn add(&self, new: NewFault) -> Result<StoredFault, FaultError> {
        if new.count == 0 {
            return Err(FaultError::new("count", "The count must be at least 1."));
        }
        if let Fault::Status { status, .. } = new.fault
            && !(400..=599).contains(&status)
        {
            return Err(FaultError::new(
                "fault",
                "The status must be between 400 and 599.",
            ));
        }
        let mut registry = self.lock();
        let Some(endpoints) = registry.endpoints.get(&new.provider) else {
            let known: Vec<&str> = registry.endpoints.keys().map(String::as_str).collect();
            return Err(FaultError::new(
                "provider",
                format!("Unknown provider; one of: {}.", known.join(", ")),
            ));
        };
        if !endpoints.contains(&new.endpoint) {
            let known: Vec<&str> = endpoints.iter().map(String::as_str).collect();
            return Err(FaultError::new(
                "endpoint",
                format!("Unknown endpoint; one of: {}.", known.join(", ")),
            ));
        }
        registry.next_id += 1;
        let stored = StoredFault {
            id: registry.next_id,
            provider: new.provider,
            endpoint: new.endpoint,
            count: new.count,
            fault: new.fault,
        };
        let key = Key {
            provider: stored.provider.clone(),
            endpoint: stored.endpoint.clone(),
        };
        registry
            .queues
            .entry(key)
            .or_default()
            .push_back(stored.clone());
        tracing::info!(fault = ?stored, "fault queued");
        Ok(stored)
    }

    /// Queued faults with their remaining counts, in creation order.
    pub fn list(&self) -> Vec<StoredFault> {
        let mut faults: Vec<StoredFault> = self.lock().queues.values().flatten().cloned().collect();
        faults.sort_by_key(|f| f.id);
        faults
    }

    /// Removes every queued fault; returns how many there were.
    pub fn clear(&self) -> u64 {
        let mut registry = self.lock();
        let cleared = registry.queues.values().map(VecDeque::len).sum::<usize>();
        registry.queues.clear();
        u64::try_from(cleared).unwrap_or(u64::MAX)
    }

    /// Consumes one unit of the first fault queued for `(provider, endpoint)`, if any.
    pub fn take(&self, provider: &str, endpoint: &str) -> Option<Fault> {
        let mut registry = self.lock();
        let key = Key {
            provider: provider.to_owned(),
            endpoint: endpoint.to_owned(),
        };
        let queue = registry.queues.get_mut(&key)?;
        let first = queue.front_mut()?;
        first.count -= 1;
        let (id, fault) = (first.id, first.fault.clone());
        if first.count == 0 {
            queue.pop_front();
        }
        if queue.is_empty() {
            registry.queues.remove(&key);
        }
        tracing::info!(provider, endpoint, id, fault = ?fault, "injecting fault");
        Some(fault)
    }
}

/// Runs one call of a simulator endpoint under `fault` (taken right after authentication).
///
/// `handle` is the real work and its answer; `error` builds the provider's error answer for a
/// status (and a message). With no fault this is just `handle().await`.
pub(crate) async fn apply<Fut>(
    fault: Option<Fault>,
    connection: Connection,
    error: impl FnOnce(StatusCode, &str) -> Response,
    handle: impl FnOnce() -> Fut,
) -> Response
where
    Fut: Future<Output = Response>,
{
    let Some(fault) = fault else {
        return handle().await;
    };
    match fault {
        Fault::Status {
            status,
            retry_after_secs,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = error(
                status,
                status.canonical_reason().unwrap_or("Injected fault"),
            );
            if let Some(secs) = retry_after_secs {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            response
        }
        Fault::Delay { delay_ms, phase } => {
            let delay = Duration::from_millis(delay_ms);
            match phase {
                // hyper drops this future when the client goes away during the sleep: nothing is
                // executed then.
                Phase::Before => {
                    tokio::time::sleep(delay).await;
                    handle().await
                }
                Phase::After => {
                    let response = handle().await;
                    tokio::time::sleep(delay).await;
                    response
                }
            }
        }
        Fault::Reset { phase } => {
            let Connection(Some(connection)) = connection else {
                tracing::warn!("reset fault on a connection not served by cashout_sandbox::serve");
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Reset faults need the sandbox served by cashout_sandbox::serve or spawn",
                );
            };
            if phase == Phase::After {
                drop(handle().await);
            }
            connection.abort();
            // Never sent: every write on the aborted connection fails.
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `POST /_admin/faults`.
pub(crate) async fn post_fault(
    State(registry): State<FaultRegistry>,
    body: Bytes,
) -> Result<(StatusCode, Json<StoredFault>), FaultError> {
    let new: NewFault = serde_json::from_slice(&body)
        .map_err(|e| FaultError::new("body", format!("Invalid fault: {e}")))?;
    let stored = registry.add(new)?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// `GET /_admin/faults`.
pub(crate) async fn list_faults(State(registry): State<FaultRegistry>) -> Json<FaultList> {
    Json(FaultList {
        faults: registry.list(),
    })
}

/// `DELETE /_admin/faults`.
pub(crate) async fn clear_faults(State(registry): State<FaultRegistry>) -> Json<ClearedFaults> {
    let cleared = registry.clear();
    tracing::info!(cleared, "faults cleared");
    Json(ClearedFaults { cleared })
}
