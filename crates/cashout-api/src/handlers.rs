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
use cashout_core::{CashoutId, CashoutOrder, TraceId};
use cashout_providers::camoo::signature;
use cashout_store::{Enqueued, Nudge};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tracing::{Instrument, info, warn};
use utoipa::OpenApi;

/// A producer or admin token; the name of its holder.
pub(crate) fn require_token(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let h = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    authenticate(&state.tokens, h)
        .or_else(|| authenticate(&state.admin_tokens, h))
        .map(str::to_owned)
        .ok_or_else(ApiError::unauthorized)
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
    request_body = crate::view::CreateCashoutRequest,
    params(("traceparent" = Option<String>, Header, description = "W3C trace context to continue")),
    responses(
        (status = 202, description = "Accepted: a new cashout", body = CashoutView),
        (status = 200, description = "The same key and body were sent before: the existing cashout", body = CashoutView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
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
        .enqueue_traced(order, trace, traceparent)
        .instrument(span.clone())
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let (Enqueued::Created(c) | Enqueued::Existing(c) | Enqueued::Conflict(c)) = &outcome;
    span.record("cashout_id", tracing::field::display(&c.id));
    let _entered = span.enter();
    match outcome {
        Enqueued::Created(c) => {
            info!(cashout_id = %c.id, provider = %c.order.provider, trace_id = %c.trace_id,
                caller = %caller, "cashout accepted");
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
        (status = 404, body = ErrorBody),
        (status = 503, description = "Storage is unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn get_cashout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<CashoutView>, ApiError> {
    require_token(&state, &headers)?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such cashout");
    let id = CashoutId::parse(&id).map_err(|_| not_found())?;
    let store = state.producer.store();
    let c = store
        .get(&id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(not_found)?;
    full_view(state.producer.store(), &c).await
}

/// Revoke a cashout: `created` → `revoked` with no provider call; a submitted OMT cashout is
/// revoked at OMT; anything else is refused with its reason.
#[utoipa::path(
    post, path = "/v1/cashouts/{id}/revoke",
    params(("id" = String, Path, description = "Cashout id")),
    responses(
        (status = 200, description = "Revoked", body = CashoutView),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
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
    let caller = require_token(&state, &headers)?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such cashout");
    let id = CashoutId::parse(&id).map_err(|_| not_found())?;
    let Some(driver) = &state.driver else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "revoke is not available on this API",
        ));
    };
    let c = driver.revoke(&id, &caller).await.map_err(revoke_error)?;
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
        E::Provider(_) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "provider_unreachable",
            e.to_string(),
        ),
        E::Store(e) => ApiError::internal(&e),
    }
}

/// Approve an OMNO cashout with `approval: manual`: it is confirmed at OMNO right away.
#[utoipa::path(
    post, path = "/v1/cashouts/{id}/approve",
    params(("id" = String, Path, description = "Cashout id")),
    responses(
        (status = 200, description = "Approved; the confirm is due now", body = CashoutView),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
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
    let caller = require_token(&state, &headers)?;
    let id = CashoutId::parse(&id)
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such cashout"))?;
    let Some(driver) = &state.driver else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "approve is not available on this API",
        ));
    };
    let c = driver.approve(&id, &caller).await.map_err(revoke_error)?;
    info!(cashout_id = %id, caller = %caller, "cashout approved");
    full_view(state.producer.store(), &c).await
}

/// OMNO's webhook (`{payoutId, orderId, status}`, unsigned). A hint only: it makes the next
/// status read of a confirmed payout due now; its body never changes a state. Answers 200 to any
/// well-formed body, since OMNO retries until it gets one.
#[utoipa::path(
    post, path = "/v1/providers/omno/webhook",
    request_body = crate::view::OmnoWebhookBody,
    security(()),
    responses(
        (status = 200, description = "`{status: scheduled|final|ignored}`"),
        (status = 400, description = "Not a JSON object, or too large", body = ErrorBody),
        (status = 503, description = "Storage is unavailable; OMNO retries", body = ErrorBody),
    )
)]
pub(crate) async fn omno_webhook(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_body",
            "expected a JSON object",
        )
    };
    let body = body.map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&body).map_err(|_| bad())?;
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
    let status = v.get("status").and_then(Value::as_str).unwrap_or("?");
    let cause = format!("omno webhook: payout {payout_id} reported {status}");
    let outcome = state
        .producer
        .nudge(&id, payout_id, &cause)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    info!(cashout_id = %id, ?outcome, "omno webhook");
    let word = match outcome {
        Nudge::Scheduled => "scheduled",
        Nudge::Terminal => "final",
        Nudge::NotFound | Nudge::Ignored(_) => "ignored",
    };
    Ok(Json(json!({ "status": word })))
}

/// Camoo's signed notification. Checked in constant time; a valid one (even repeated) answers
/// 200 and makes a status read due now. Its content never changes a state by itself.
#[utoipa::path(
    get, path = "/v1/providers/camoo/notify",
    security(()),
    responses(
        (status = 200, description = "Signature valid; a status read is scheduled"),
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
    let status = get("status").unwrap_or("?");
    let cause = format!("signed camoo notification: payment {payment_id} reported {status}");
    let outcome = state
        .producer
        .nudge(&id, payment_id, &cause)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    info!(cashout_id = %id, ?outcome, "camoo notification");
    let word = match outcome {
        Nudge::Scheduled => "scheduled",
        Nudge::Terminal => "final",
        Nudge::NotFound | Nudge::Ignored(_) => "ignored",
    };
    Ok(Json(json!({ "status": word })))
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
