//! The endpoint registry: a simulator's API routes, each tied to the endpoint it counts and takes
//! faults under, and the one path every call of every simulator follows.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};

use super::{Endpoint, Sim, Simulator};
use crate::faults;
use crate::server::Connection;

/// One API route: `method path` is endpoint `endpoint`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Route<E> {
    /// The endpoint it counts and takes faults under.
    pub(crate) endpoint: E,
    /// E.g. `MethodFilter::POST` (other methods get axum's `405`).
    pub(crate) method: MethodFilter,
    /// Relative to the simulator's `API_PATH`, e.g. `"/cashout"` or `"/public/payout/{payout_id}"`.
    pub(crate) path: &'static str,
}

impl<E> Route<E> {
    /// `GET path`.
    pub(crate) const fn get(endpoint: E, path: &'static str) -> Self {
        Self {
            endpoint,
            method: MethodFilter::GET,
            path,
        }
    }

    /// `POST path`.
    pub(crate) const fn post(endpoint: E, path: &'static str) -> Self {
        Self {
            endpoint,
            method: MethodFilter::POST,
            path,
        }
    }

    /// `PUT path`.
    pub(crate) const fn put(endpoint: E, path: &'static str) -> Self {
        Self {
            endpoint,
            method: MethodFilter::PUT,
            path,
        }
    }
}

/// `response` (a `401`) with `WWW-Authenticate: challenge`.
pub(crate) fn challenge(mut response: Response, challenge: &'static str) -> Response {
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

/// An API call as the simulators read it: headers, query string, path parameters and body.
#[derive(Debug)]
pub(crate) struct ApiRequest {
    /// The request headers (credentials).
    pub(crate) headers: HeaderMap,
    uri: Uri,
    params: HashMap<String, String>,
    /// The raw body (empty for a `GET`).
    pub(crate) body: Bytes,
}

impl ApiRequest {
    /// The query string as a map, empty when there is none or it does not parse.
    pub(crate) fn query(&self) -> HashMap<String, String> {
        Query::<HashMap<String, String>>::try_from_uri(&self.uri)
            .map(|Query(query)| query)
            .unwrap_or_default()
    }

    /// The path parameter `name` (percent-decoded), `""` when the route has none of that name.
    pub(crate) fn param(&self, name: &str) -> &str {
        self.params.get(name).map_or("", String::as_str)
    }
}

impl<S: Send + Sync> FromRequest<S> for ApiRequest {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let (headers, uri) = (parts.headers.clone(), parts.uri.clone());
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            headers,
            uri,
            params,
            body,
        })
    }
}

impl<P: Simulator> Sim<P> {
    /// The API routes of [`Simulator::routes`], mounted at `P::API_PATH`; any other path is the
    /// provider's `404`.
    pub(crate) fn api_routes(self: &Arc<Self>) -> Router {
        let router = P::routes().iter().fold(Router::new(), |router, route| {
            let endpoint = route.endpoint;
            let handler =
                move |State(sim): State<Arc<Self>>, connection: Connection, request: ApiRequest| {
                    serve(sim, endpoint, connection, request)
                };
            router.route(route.path, on(route.method, handler))
        });
        router
            .fallback(|| async { P::error(StatusCode::NOT_FOUND, P::NOT_FOUND) })
            .with_state(self.clone())
    }
}

/// One call of an API endpoint: authentication (a refusal neither counts nor consumes a fault),
/// the call counts, then the simulator's handler under the endpoint's next fault, if any.
async fn serve<P: Simulator>(
    sim: Arc<Sim<P>>,
    endpoint: P::Endpoint,
    connection: Connection,
    request: ApiRequest,
) -> Response {
    let authorized = P::authorized(&sim.config_mut(), &request.headers);
    if !authorized {
        tracing::debug!(
            provider = P::NAME,
            endpoint = endpoint.name(),
            "unauthorized call"
        );
        return P::unauthorized();
    }
    {
        let mut ledger = sim.ledger();
        let subject = P::subject(&ledger.store, endpoint, &request);
        ledger.calls.record(endpoint, subject);
    }
    let fault = sim.faults.take(P::NAME, endpoint.name());
    faults::apply(fault, connection, P::error, || {
        P::handle(sim.clone(), endpoint, request)
    })
    .await
}
