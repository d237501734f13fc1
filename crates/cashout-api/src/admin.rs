//! Operator endpoints for the dead-letter queue (`/v1/dlq…`), behind admin tokens. Every action
//! is recorded in the cashout's history with the token's name, the time and the note.

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::handlers::{full_view, require_admin};
use crate::view::CashoutView;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use cashout_core::{CashoutId, HistoryEntry, ParkReason, Provider};
use cashout_store::dlq::{self, DlqError, Filter, Item, Replay, Resolution};
use cashout_store::{CorruptRecord, StoreError};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// `since`: an RFC 3339 time, or a duration back from now (`90s`, `30m`, `12h`, `7d`).
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("'{s}' is neither RFC 3339 nor a duration like 30m, 12h, 7d"))?;
    let d = match unit {
        "s" => TimeDelta::try_seconds(n),
        "m" => TimeDelta::try_minutes(n),
        "h" => TimeDelta::try_hours(n),
        "d" => TimeDelta::try_days(n),
        _ => None,
    }
    .ok_or_else(|| format!("'{s}': unit must be s, m, h or d"))?;
    Ok(now - d)
}

fn dlq_error(e: DlqError) -> ApiError {
    match e {
        DlqError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
        DlqError::Final(_)
        | DlqError::NotParked(_)
        | DlqError::MayBePaid(_)
        | DlqError::NotPaid => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
        DlqError::Corrupt => ApiError::new(StatusCode::CONFLICT, "corrupt_record", e.to_string()),
        DlqError::NoteRequired => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "note_required",
            e.to_string(),
        )
        .field("note"),
        DlqError::BadCursor => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string())
                .field("cursor")
        }
        DlqError::Store(e) => ApiError::internal(&e),
    }
}

fn parse_id(id: &str) -> Result<CashoutId, ApiError> {
    CashoutId::parse(id)
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such cashout"))
}

fn body<T: DeserializeOwned + Default>(b: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let b = b.map_err(|r| ApiError::new(r.status(), "bad_body", r.body_text()))?;
    let trimmed = std::str::from_utf8(&b).map(str::trim).unwrap_or("x");
    if trimmed.is_empty() || trimmed == "null" {
        return Ok(T::default());
    }
    serde_json::from_slice(&b).map_err(|e| {
        let status = if e.is_data() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(status, "invalid_body", e.to_string())
    })
}

/// `GET /v1/dlq` query.
#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    provider: Option<String>,
    reason: Option<String>,
    since: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// One parked cashout in a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DlqItem {
    id: String,
    /// `null` for a `corrupt_record` found other than by a delivery.
    provider: Option<Provider>,
    reason: ParkReason,
    /// `null` for a `corrupt_record`: its record cannot be read.
    state: Option<cashout_core::State>,
    parked_at: DateTime<Utc>,
    last_error: Option<String>,
    attempts: u32,
}

/// A page of the DLQ.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DlqList {
    items: Vec<DlqItem>,
    next_cursor: Option<String>,
}

/// List parked cashouts, oldest first.
#[utoipa::path(
    get, path = "/v1/dlq",
    params(
        ("provider" = Option<String>, Query, description = "camoo, omt or omno"),
        ("reason" = Option<String>, Query, description = "e.g. outcome_unknown"),
        ("since" = Option<String>, Query, description = "RFC 3339 or 30m / 12h / 7d"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("limit" = Option<usize>, Query, description = "1-500, default 50"),
    ),
    responses((status = 200, body = DlqList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<DlqList>, ApiError> {
    require_admin(&state, &headers)?;
    let invalid = |field: &str, msg: String| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", msg).field(field)
    };
    let provider = q
        .provider
        .as_deref()
        .map(str::parse::<Provider>)
        .transpose()
        .map_err(|e| invalid("provider", e.to_string()))?;
    let reason = q
        .reason
        .as_deref()
        .map(|r| serde_json::from_value::<ParkReason>(serde_json::Value::String(r.to_owned())))
        .transpose()
        .map_err(|_| invalid("reason", "unknown park reason".to_owned()))?;
    let since = q
        .since
        .as_deref()
        .map(|s| parse_since(s, Utc::now()))
        .transpose()
        .map_err(|e| invalid("since", e))?;
    let filter = Filter {
        provider,
        reason,
        since,
    };
    let page = dlq::list(
        state.producer.store(),
        &filter,
        q.cursor.as_deref(),
        q.limit.unwrap_or(50),
    )
    .await
    .map_err(dlq_error)?;
    let items = page
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Cashout(c) => {
                let p = c.parked.as_ref()?;
                Some(DlqItem {
                    id: c.id.to_string(),
                    provider: Some(c.order.provider),
                    reason: p.reason,
                    state: Some(c.state),
                    parked_at: p.at,
                    last_error: c.last_error.clone(),
                    attempts: c.attempts,
                })
            }
            Item::Corrupt(r) => Some(DlqItem {
                id: r.id.to_string(),
                provider: r.provider,
                reason: r.reason,
                state: None,
                parked_at: r.at,
                last_error: Some(r.error.clone()),
                attempts: 0,
            }),
        })
        .collect();
    Ok(Json(DlqList {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// A parked record that cannot be decoded (`corrupt_record`). Its bytes are not shown (they
/// may hold personal data): inspect them in Redis under `record_key`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CorruptView {
    id: String,
    /// `corrupt_record`.
    reason: ParkReason,
    /// The provider whose stream delivered it.
    provider: Option<Provider>,
    parked_at: DateTime<Utc>,
    /// Why it cannot be decoded (redacted).
    last_error: String,
    /// Where the record is kept as found.
    record_key: String,
    /// Set once discarded.
    #[serde(skip_serializing_if = "Option::is_none")]
    discarded_at: Option<DateTime<Utc>>,
    /// Who discarded it, with the note.
    #[serde(skip_serializing_if = "Option::is_none")]
    discarded_by: Option<String>,
    history: Vec<HistoryEntry>,
}

/// A DLQ entry in full: a cashout, or a record that cannot be decoded.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum DlqView {
    /// A parked cashout.
    Cashout(CashoutView),
    /// A `corrupt_record`.
    Corrupt(CorruptView),
}

async fn corrupt_view(state: &AppState, r: CorruptRecord) -> Result<Json<DlqView>, ApiError> {
    let store = state.producer.store();
    let history = store
        .history_lines(&r.id)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(DlqView::Corrupt(CorruptView {
        id: r.id.to_string(),
        reason: r.reason,
        provider: r.provider,
        parked_at: r.at,
        last_error: r.error,
        record_key: store.keys().record(&r.id),
        discarded_at: r.discarded_at,
        discarded_by: r.discarded_by,
        history,
    })))
}

async fn cashout_view(
    state: &AppState,
    c: &cashout_core::Cashout,
) -> Result<Json<DlqView>, ApiError> {
    let Json(v) = full_view(state.producer.store(), c).await?;
    Ok(Json(DlqView::Cashout(v)))
}

/// A parked cashout with its history and last error.
#[utoipa::path(
    get, path = "/v1/dlq/{id}",
    params(("id" = String, Path, description = "Cashout id")),
    responses((status = 200, body = DlqView), (status = 404, body = ErrorBody))
)]
pub(crate) async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<DlqView>, ApiError> {
    require_admin(&state, &headers)?;
    let id = parse_id(&id)?;
    let store = state.producer.store();
    let c = match store.get(&id).await {
        Ok(c) => c,
        Err(e @ StoreError::Corrupt { .. }) => {
            return match store.corrupt(&id).await.map_err(|e| ApiError::store(&e))? {
                Some(r) if r.discarded_at.is_none() => corrupt_view(&state, r).await,
                Some(_) => Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_parked",
                    "this corrupt record was discarded: it is no longer in the dead-letter queue",
                )),
                None => Err(ApiError::store(&e)),
            };
        }
        Err(e) => return Err(ApiError::internal(&e)),
    }
    .ok_or_else(|| dlq_error(DlqError::NotFound))?;
    if c.parked.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_parked",
            format!(
                "cashout is not in the dead-letter queue (state {})",
                c.state
            ),
        ));
    }
    cashout_view(&state, &c).await
}

/// An optional operator note.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// Why.
    note: Option<String>,
}

/// What a replay did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReplayResult {
    id: String,
    /// `replayed`, `not_parked`, `final` or `in_doubt`.
    outcome: String,
    message: String,
}

fn replay_result(id: &CashoutId, r: &Replay) -> ReplayResult {
    ReplayResult {
        id: id.to_string(),
        outcome: r.as_str().to_owned(),
        message: r.message(),
    }
}

/// Replay one parked cashout: it resumes from its recorded state (a submitted cashout resumes
/// polling; nothing that may have been executed is sent again). Replaying something already
/// replayed or final is a no-op that says so.
#[utoipa::path(
    post, path = "/v1/dlq/{id}/replay",
    params(("id" = String, Path, description = "Cashout id")),
    request_body = Option<NoteBody>,
    responses((status = 200, body = ReplayResult), (status = 404, body = ErrorBody))
)]
pub(crate) async fn replay(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<ReplayResult>, ApiError> {
    let actor = require_admin(&state, &headers)?;
    let id = parse_id(&id)?;
    let b: NoteBody = body(raw)?;
    let r = dlq::replay(&state.producer, &id, &actor, b.note.as_deref())
        .await
        .map_err(dlq_error)?;
    tracing::info!(cashout_id = %id, operator = %actor, outcome = r.as_str(), "dlq replay");
    Ok(Json(replay_result(&id, &r)))
}

/// Bulk replay selection.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkReplayBody {
    /// Required: which reason to replay.
    reason: Option<ParkReason>,
    /// Optional: only this provider.
    provider: Option<Provider>,
    /// Why.
    note: Option<String>,
}

/// What a bulk replay did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkReplayResult {
    replayed: usize,
    results: Vec<ReplayResult>,
}

/// Replay every parked cashout with a reason (and provider).
#[utoipa::path(
    post, path = "/v1/dlq/replay",
    request_body = BulkReplayBody,
    responses((status = 200, body = BulkReplayResult), (status = 422, body = ErrorBody))
)]
pub(crate) async fn replay_bulk(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<BulkReplayResult>, ApiError> {
    let actor = require_admin(&state, &headers)?;
    let b: BulkReplayBody = body(raw)?;
    let Some(reason) = b.reason else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing",
            "reason is required for a bulk replay",
        )
        .field("reason"));
    };
    let filter = Filter {
        provider: b.provider,
        reason: Some(reason),
        since: None,
    };
    let results = dlq::replay_all(&state.producer, &filter, &actor, b.note.as_deref(), 10_000)
        .await
        .map_err(dlq_error)?;
    tracing::info!(operator = %actor, %reason, count = results.len(), "dlq bulk replay");
    Ok(Json(BulkReplayResult {
        replayed: results
            .iter()
            .filter(|(_, r)| *r == Replay::Replayed)
            .count(),
        results: results.iter().map(|(id, r)| replay_result(id, r)).collect(),
    }))
}

/// How an operator settled it.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// `confirmed` or `failed`.
    #[serde(rename = "as")]
    resolution: Option<String>,
    /// Required: what was checked, with whom.
    note: Option<String>,
}

/// Record an outcome settled by hand with the provider.
#[utoipa::path(
    post, path = "/v1/dlq/{id}/resolve",
    params(("id" = String, Path, description = "Cashout id")),
    request_body = ResolveBody,
    responses((status = 200, body = CashoutView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub(crate) async fn resolve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<CashoutView>, ApiError> {
    let actor = require_admin(&state, &headers)?;
    let id = parse_id(&id)?;
    let b: ResolveBody = body(raw)?;
    let resolution = match b.resolution.as_deref() {
        Some("confirmed") => Resolution::Confirmed,
        Some("failed") => Resolution::Failed,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "as must be 'confirmed' or 'failed'",
            )
            .field("as"));
        }
    };
    let store = state.producer.store();
    let c = dlq::resolve(
        store,
        &id,
        resolution,
        &actor,
        b.note.as_deref().unwrap_or(""),
    )
    .await
    .map_err(dlq_error)?;
    tracing::info!(cashout_id = %id, operator = %actor, state = %c.state, "dlq resolve");
    full_view(state.producer.store(), &c).await
}

/// Remove from the DLQ and mark failed. A `corrupt_record` leaves the DLQ with no state written:
/// its record is kept as found until the retention expires.
#[utoipa::path(
    post, path = "/v1/dlq/{id}/discard",
    params(("id" = String, Path, description = "Cashout id")),
    request_body = NoteBody,
    responses((status = 200, body = DlqView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub(crate) async fn discard(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<DlqView>, ApiError> {
    let actor = require_admin(&state, &headers)?;
    let id = parse_id(&id)?;
    let b: NoteBody = body(raw)?;
    let store = state.producer.store();
    let item = dlq::discard(store, &id, &actor, b.note.as_deref().unwrap_or(""))
        .await
        .map_err(dlq_error)?;
    tracing::info!(cashout_id = %id, operator = %actor, "dlq discard");
    match item {
        Item::Cashout(c) => cashout_view(&state, &c).await,
        Item::Corrupt(r) => corrupt_view(&state, r).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_times_and_durations() {
        let now = Utc::now();
        assert_eq!(
            parse_since("30m", now).unwrap(),
            now - TimeDelta::minutes(30)
        );
        assert_eq!(parse_since("2d", now).unwrap(), now - TimeDelta::days(2));
        assert!(parse_since("2026-11-21T05:00:00Z", now).is_ok());
        assert!(parse_since("soon", now).is_err());
        assert!(parse_since("5w", now).is_err());
        assert!(parse_since("", now).is_err());
    }
}
