//! Request handlers.

use crate::AppState;
use crate::auth::authenticate;
use crate::error::{ApiError, ErrorBody};
use crate::view::CashoutView;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cashout_core::{CashoutId, CashoutOrder, ProducerName, Provider, TraceId};
use cashout_providers::camoo::signature;
use cashout_store::{Enqueued, Notice, Nudge};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tracing::{Instrument, info, warn};
use utoipa::OpenApi;

/// Who called a producer route.
pub(crate) struct Caller {
    /// The token's name: the producer whose cashouts these are.
    pub(crate) name: ProducerName,
    /// An operator token (allowed there by `api.operators_on_producer_routes`): reads every
    /// producer's cashouts.
    pub(crate) operator: bool,
}

impl Caller {
    /// Whether this caller may see `c`. Another producer's cashout is answered as unknown.
    fn may_see(&self, c: &cashout_core::Cashout) -> bool {
        self.operator || c.producer == self.name
    }
}

fn caller_named(name: &str, operator: bool) -> Result<Caller, ApiError> {
    // Token names are checked when the tokens are parsed; this cannot fail for them.
    let name = ProducerName::parse(name).map_err(|e| ApiError::internal(&e))?;
    Ok(Caller { name, operator })
}

/// A producer token (or, where configured, an operator token): who is calling. An operator
/// token is 403 on producer routes unless `api.operators_on_producer_routes` is set.
pub(crate) fn require_token(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let h = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(name) = authenticate(&state.tokens, h) {
        return caller_named(name, false);
    }
    match authenticate(&state.admin_tokens, h) {
        Some(name) if state.operators_on_producer_routes => caller_named(name, true),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "an operator token may not use producer routes (api.operators_on_producer_routes)",
        )),
        None => Err(ApiError::unauthorized()),
    }
}

/// An admin token; a valid producer token is 403, anything else 401.
pub(crate) fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let h = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(name) = authenticate(&state.admin_tokens, h) {
        return Ok(name.to_owned());
    }
    if authenticate(&state.tokens, h).is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this token may not use operator endpoints",
        ));
    }
    Err(ApiError::unauthorized())
}

/// The trace id and `traceparent` for a new cashout: from the enqueue span when OpenTelemetry is
/// on (its parent being the caller's `traceparent`, if any), else from the header or fresh.
fn trace_context(headers: &HeaderMap, span: &tracing::Span) -> (Option<TraceId>, Option<String>) {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let header = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(tp) = &header {
        let carrier = std::collections::HashMap::from([("traceparent".to_owned(), tp.clone())]);
        let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
        let _ = span.set_parent(parent);
    }
    let ctx = span.context();
    let sc = ctx.span().span_context().clone();
    if sc.is_valid() {
        let trace = TraceId::parse(&sc.trace_id().to_string()).ok();
        let tp = format!("00-{}-{}-01", sc.trace_id(), sc.span_id());
        return (trace, Some(tp));
    }
    let trace = header.as_deref().and_then(TraceId::from_traceparent);
    let valid = trace.is_some();
    (trace, header.filter(|_| valid))
}

/// A cashout with its history, as `GET` answers it.
pub(crate) async fn full_view(
    store: &cashout_store::Store,
    c: &cashout_core::Cashout,
) -> Result<Json<CashoutView>, ApiError> {
    let history = store.history(c).await.map_err(|e| ApiError::internal(&e))?;
    Ok(Json(CashoutView::new(c, Some(history))))
}

/// Accept a cashout order.
#[utoipa::path(
    post, path = "/v1/cashouts",
    request_body = crate::request::CreateCashoutRequest,
    params(("traceparent" = Option<String>, Header, description = "W3C trace context to continue")),
    responses(
        (status = 202, description = "Accepted: a new cashout", body = CashoutView),
        (status = 200, description = "The same key and body were sent before: the existing cashout", body = CashoutView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "An operator token (unless `api.operators_on_producer_routes`)", body = ErrorBody),
        (status = 409, description = "The key was used with a different body", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Content-Type is not `application/json` (`charset=utf-8` allowed)", body = ErrorBody),
        (status = 422, description = "A field is invalid; `field` names it", body = ErrorBody),
        (status = 503, description = "Storage is unavailable; retry with the same idempotency key", body = ErrorBody),
    )
)]
pub(crate) async fn create_cashout(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let caller = require_token(&state, &headers)?;
    // `application/json`, any case, optionally with `charset=utf-8`; nothing else is read.
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut parts = content_type.split(';').map(str::trim);
    let is_json = parts
        .next()
        .is_some_and(|m| m.eq_ignore_ascii_case("application/json"))
        && parts.all(|p| match p.split_once('=') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
                v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            }
            Some(_) => true,
            None => p.is_empty(),
        });
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be sent as 'Content-Type: application/json'",
        ));
    }
    let body = body.map_err(|r| {
        let status = r.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "body_too_large"
        } else {
            "bad_body"
        };
        ApiError::new(status, code, r.body_text())
    })?;
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("body is not valid JSON: {e}"),
        )
    })?;
    let order = CashoutOrder::parse(&value).map_err(|e| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code, e.message).field(e.field)
    })?;
    // The enqueue span continues the caller's W3C trace when it sends one; the trace id and the
    // span's traceparent are stored with the cashout, so every later step joins this trace.
    let span = tracing::info_span!("enqueue", provider = %order.provider, cashout_id = tracing::field::Empty);
    let (trace, traceparent) = trace_context(&headers, &span);
    let key = order.idempotency_key.to_string();
    let outcome = state
        .producer
        .enqueue_as(&caller.name, order, trace, traceparent)
        .instrument(span.clone())
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let (Enqueued::Created(c) | Enqueued::Existing(c) | Enqueued::Conflict(c)) = &outcome;
    span.record("cashout_id", tracing::field::display(&c.id));
    let _entered = span.enter();
    match outcome {
        Enqueued::Created(c) => {
            info!(cashout_id = %c.id, provider = %c.order.provider, trace_id = %c.trace_id,
                caller = %caller.name, "cashout accepted");
            Ok((StatusCode::ACCEPTED, Json(CashoutView::new(&c, None))).into_response())
        }
        Enqueued::Existing(c) => {
            Ok((StatusCode::OK, Json(CashoutView::new(&c, None))).into_response())
        }
        Enqueued::Conflict(c) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_conflict",
            format!(
                "idempotency_key '{key}' was used for cashout {} with a different body",
                c.id
            ),
        )
        .field("idempotency_key")),
    }
}

/// A cashout with its history.
#[utoipa::path(
    get, path = "/v1/cashouts/{id}",
    params(("id" = String, Path, description = "Cashout id")),
    responses(
        (status = 200, body = CashoutView),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "An operator token (unless `api.operators_on_producer_routes`)", body = ErrorBody),
        (status = 404, description = "No such cashout, or another producer's", body = ErrorBody),
        (status = 500, description = "`corrupt_record`: the stored record cannot be read (it is parked for an operator)", body = ErrorBody),
        (status = 503, description = "Storage is unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn get_cashout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<CashoutView>, ApiError> {
    let caller = require_token(&state, &headers)?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such cashout");
    let id = CashoutId::parse(&id).map_err(|_| not_found())?;
    let store = state.producer.store();
    let c = store
        .get(&id)
        .await
        .map_err(|e| ApiError::store(&e))?
        .filter(|c| caller.may_see(c))
        .ok_or_else(not_found)?;
    full_view(state.producer.store(), &c).await
}

/// Revoke a cashout (an operator action: admin token): `created` → `revoked` with no provider
/// call; a submitted OMT cashout is revoked at OMT; anything else is refused with its reason.
#[utoipa::path(
    post, path = "/v1/cashouts/{id}/revoke",
    params(("id" = String, Path, description = "Cashout id")),
    responses(
        (status = 200, description = "Revoked", body = CashoutView),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "A producer token: revoking is an operator action", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Final, in flight, refused by the provider, or not revocable", body = ErrorBody),
        (status = 502, description = "The provider could not be asked", body = ErrorBody),
        (status = 503, description = "Storage is unavailable, or revoke is not available on this API", body = ErrorBody),
    )
)]
pub(crate) async fn revoke_cashout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<CashoutView>, ApiError> {
    let caller = require_admin(&state, &headers)?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such cashout");
    let id = CashoutId::parse(&id).map_err(|_| not_found())?;
    let Some(driver) = &state.driver else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "revoke is not available on this API",
        ));
    };
    let c = driver
        .revoke_detached(id, caller.clone())
        .await
        .map_err(revoke_error)?;
    info!(cashout_id = %id, caller = %caller, "cashout revoked");
    full_view(state.producer.store(), &c).await
}

fn revoke_error(e: cashout_worker::RevokeError) -> ApiError {
    use cashout_worker::RevokeError as E;
    match e {
        E::NotFound => ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such cashout"),
        E::Final(_) | E::InFlight | E::NotSupported(_) | E::Refused(_) => {
            ApiError::new(StatusCode::CONFLICT, "refused", e.to_string())
        }
        E::SameApprover(_) => ApiError::new(StatusCode::FORBIDDEN, "same_approver", e.to_string()),
        E::Provider(_) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "provider_unreachable",
            e.to_string(),
        ),
        E::Store(e) => ApiError::internal(&e),
    }
}

/// Approve an OMNO cashout with `approval: manual` or `four_eyes` (an operator action: admin
/// token): it is confirmed at OMNO right away. A `four_eyes` cashout refuses an approver named
/// as the producer that enqueued it (403 `same_approver`).
#[utoipa::path(
    post, path = "/v1/cashouts/{id}/approve",
    params(("id" = String, Path, description = "Cashout id")),
    responses(
        (status = 200, description = "Approved; the confirm is due now", body = CashoutView),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "A producer token (approving is an operator action), or a `four_eyes` cashout approved by the producer that enqueued it", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not a manual OMNO cashout, already approved, or final", body = ErrorBody),
        (status = 502, description = "The provider could not be asked", body = ErrorBody),
        (status = 503, description = "Storage is unavailable, or approve is not available on this API", body = ErrorBody),
    )
)]
pub(crate) async fn approve_cashout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<CashoutView>, ApiError> {
    let caller = require_admin(&state, &headers)?;
    let id = CashoutId::parse(&id)
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such cashout"))?;
    let Some(driver) = &state.driver else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "approve is not available on this API",
        ));
    };
    let c = driver
        .approve_detached(id, caller.clone())
        .await
        .map_err(revoke_error)?;
    info!(cashout_id = %id, caller = %caller, "cashout approved");
    full_view(state.producer.store(), &c).await
}

/// A short digest of a notification's content, so a repeated one is acted on once.
fn notice_digest(provider: Provider, canonical: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("{provider}\n{canonical}").as_bytes());
    hex::encode(&d[..8])
}

/// A provider's status word as a history line quotes it: letters, digits and `_`, at most 32.
fn status_word(raw: Option<&str>) -> String {
    raw.unwrap_or("?")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(32)
        .collect()
}

/// Hands a notification to the store's one decision and answers with what it did.
async fn act_on(
    state: &AppState,
    id: &CashoutId,
    notice: &Notice<'_>,
) -> Result<Json<Value>, ApiError> {
    let min = std::time::Duration::from_millis(state.notify.min_interval_ms);
    let outcome = state
        .producer
        .nudge(id, notice, min)
        .await
        .map_err(|e| ApiError::store(&e))?;
    info!(cashout_id = %id, provider = %notice.provider, ?outcome, "provider notification");
    Ok(Json(json!({ "status": nudge_word(&outcome) })))
}

fn nudge_word(n: &Nudge) -> &'static str {
    match n {
        Nudge::Scheduled => "scheduled",
        Nudge::Terminal => "final",
        Nudge::Duplicate => "duplicate",
        Nudge::NotFound | Nudge::Ignored(_) => "ignored",
    }
}

/// The OMNO webhook token from `?token=` or `X-Webhook-Token`.
fn omno_token<'a>(headers: &'a HeaderMap, params: &'a [(String, String)]) -> Option<&'a str> {
    headers
        .get("x-webhook-token")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            params
                .iter()
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.as_str())
        })
}

/// OMNO's webhook (`{payoutId, orderId, status}`, unsigned by OMNO). A hint only: it brings the
/// next status read of an OMNO payout already on record forward; it never changes a state,
/// never takes a cashout out of the dead-letter queue and never gives a cashout a reference.
/// With `api.notifications.omno_webhook_token` set, the token is required (`?token=` or
/// `X-Webhook-Token`). Answers 200 to any well-formed body, since OMNO retries until it gets one.
#[utoipa::path(
    post, path = "/v1/providers/omno/webhook",
    request_body = crate::view::OmnoWebhookBody,
    params(("token" = Option<String>, Query, description = "The configured webhook token, if any")),
    security(()),
    responses(
        (status = 200, description = "`{status: scheduled|final|duplicate|ignored}`"),
        (status = 400, description = "Not a JSON object, or too large", body = ErrorBody),
        (status = 401, description = "A webhook token is configured and this one is missing or wrong", body = ErrorBody),
        (status = 503, description = "Storage is unavailable; OMNO retries", body = ErrorBody),
    )
)]
pub(crate) async fn omno_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    if let Some(want) = &state.notify.omno_webhook_token {
        let given = omno_token(&headers, &params).unwrap_or("");
        if !crate::auth::same_bytes(want.expose_secret().as_bytes(), given.as_bytes()) {
            warn!("omno webhook without the configured token refused");
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_webhook_token",
                "webhook token is missing or wrong",
            ));
        }
    }
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_body",
            "expected a JSON object",
        )
    };
    let body = body.map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&body).map_err(|_| bad())?;
    if !v.is_object() {
        return Err(bad());
    }
    let (Some(payout_id), Some(order_id)) = (
        v.get("payoutId").and_then(Value::as_str),
        v.get("orderId").and_then(Value::as_str),
    ) else {
        warn!("omno webhook without payoutId or orderId; nothing to look up");
        return Ok(Json(json!({"status": "ignored"})));
    };
    let Ok(id) = CashoutId::parse(order_id) else {
        warn!("omno webhook for an order that is not ours");
        return Ok(Json(json!({"status": "ignored"})));
    };
    // What the history line quotes is bounded and plain: OMNO's status words are short.
    let status = status_word(v.get("status").and_then(Value::as_str));
    let notice = Notice {
        provider: Provider::Omno,
        signed: false,
        reference: payout_id,
        digest: notice_digest(Provider::Omno, &format!("{payout_id}\n{status}")),
        cause: format!("omno webhook: the payout reported {status}"),
    };
    act_on(&state, &id, &notice).await
}

/// Camoo's signed notification. Checked in constant time over a strict canonical string (keys
/// of letters, digits and `_`, each once). A valid one answers 200 and makes a status read due
/// now, once: a repeat, or one whose `status_time` is outside `api.notifications.camoo_max_age_ms`,
/// answers 200 and does nothing. Its content never changes a state by itself.
#[utoipa::path(
    get, path = "/v1/providers/camoo/notify",
    security(()),
    responses(
        (status = 200, description = "Signature valid; a status read is scheduled, unless this is a repeat or too old"),
        (status = 401, description = "Missing or wrong signature", body = ErrorBody),
        (status = 503, description = "Storage is unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn camoo_notify(
    State(state): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let bad_sig = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "notification signature is missing or wrong",
        )
    };
    let Some(secret) = &state.camoo_secret else {
        return Err(bad_sig());
    };
    if !signature::verify(&params, secret.expose_secret()) {
        warn!("camoo notification with a bad signature refused");
        return Err(bad_sig());
    }
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let (Some(payment_id), Some(trx)) = (get("payment_id"), get("trx")) else {
        warn!("signed camoo notification without payment_id or trx; nothing to look up");
        return Ok(Json(json!({"status": "ignored"})));
    };
    let Ok(id) = CashoutId::parse(trx) else {
        warn!("signed camoo notification for a reference that is not ours");
        return Ok(Json(json!({"status": "ignored"})));
    };
    let now = chrono::Utc::now();
    let max_age = chrono::TimeDelta::milliseconds(
        i64::try_from(state.notify.camoo_max_age_ms).unwrap_or(i64::MAX),
    );
    let fresh = get("status_time")
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .is_some_and(|t| t <= now + chrono::TimeDelta::minutes(5) && now - t <= max_age);
    if !fresh {
        warn!(cashout_id = %id, "signed camoo notification with a missing or stale status_time; not acted on");
        return Ok(Json(json!({"status": "stale"})));
    }
    let status = status_word(get("status"));
    let notice = Notice {
        provider: Provider::Camoo,
        signed: true,
        reference: payment_id,
        digest: notice_digest(Provider::Camoo, &signature::canonical(&params)),
        cause: format!("signed camoo notification: payment {payment_id} reported {status}"),
    };
    act_on(&state, &id, &notice).await
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", security(()), responses((status = 200)))]
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: Redis answers.
#[utoipa::path(
    get, path = "/readyz", security(()),
    responses(
        (status = 200, description = "`{status: ready}`"),
        (status = 503, description = "Redis does not answer: `{status: \"redis unreachable\"}`"),
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    match state.producer.store().ping().await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(e) => {
            warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "redis unreachable"})),
            )
                .into_response()
        }
    }
}

/// Prometheus text: counters and histograms of this process, gauges read from Redis now.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let Some(render) = &state.metrics else {
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", "metrics are off")
            .into_response();
    };
    if let Err(e) = state.producer.refresh_gauges().await {
        warn!(error = %e, "could not read gauges from redis");
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(),
    )
        .into_response()
}

pub(crate) async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::ApiDoc::openapi())
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}
