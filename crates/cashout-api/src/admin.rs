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
use axum::http::{HeaderMap, StatusCode, Uri};
use cashout_core::{CashoutId, HistoryEntry, ParkReason, Provider};
use cashout_store::dlq::{self, DlqError, Filter, Item, Replay, Resolution};
use cashout_store::{CorruptRecord, StoreError};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// `since`: an RFC 3339 time, or a duration back from now (`90s`, `30m`, `12h`, `7d`).
/// Never panics: any string gives a time or an error (a duration too large to subtract from
/// `now` is an error).
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    // RFC 3339 with `T` (chrono would also take a space there, which the document does not).
    let t_separated = matches!(s.as_bytes().get(10), Some(b'T' | b't'));
    if let Some(t) = DateTime::parse_from_rfc3339(s).ok().filter(|_| t_separated) {
        return Ok(t.with_timezone(&Utc));
    }
    let shown: String = s.chars().take(40).collect();
    let not_since = || format!("'{shown}' is neither RFC 3339 nor a duration like 30m, 12h, 7d");
    // The unit is the last character, which may be several bytes long.
    let mut chars = s.chars();
    let unit = chars.next_back().ok_or_else(not_since)?;
    let num = chars.as_str();
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_since());
    }
    // As the document states: at most 6 digits (999999d is 2,700 years).
    if num.len() > 6 {
        return Err(format!(
            "'{shown}': the duration is too large (at most 6 digits)"
        ));
    }
    let n: i64 = num
        .parse()
        .map_err(|_| format!("'{shown}': the duration is too large"))?;
    let d = match unit {
        's' => TimeDelta::try_seconds(n),
        'm' => TimeDelta::try_minutes(n),
        'h' => TimeDelta::try_hours(n),
        'd' => TimeDelta::try_days(n),
        _ => return Err(format!("'{shown}': unit must be s, m, h or d")),
    }
    .ok_or_else(|| format!("'{shown}': the duration is too large"))?;
    now.checked_sub_signed(d)
        .ok_or_else(|| format!("'{shown}': the duration is too large"))
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

/// The `GET /v1/dlq` query of `uri`; a malformed one is a JSON 400 naming the problem.
pub(crate) fn list_query(uri: &Uri) -> Result<ListQuery, ApiError> {
    Query::<ListQuery>::try_from_uri(uri)
        .map(|Query(q)| q)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))
}

/// The filter a `GET /v1/dlq` query asks for; an invalid value is a 422 naming its field.
pub(crate) fn list_filter(q: &ListQuery, now: DateTime<Utc>) -> Result<Filter, ApiError> {
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
        .map(|s| parse_since(s, now))
        .transpose()
        .map_err(|e| invalid("since", e))?;
    Ok(Filter {
        provider,
        reason,
        since,
    })
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
        ("provider" = Option<Provider>, Query, description = "camoo, omt or omno"),
        ("reason" = Option<ParkReason>, Query, description = "e.g. outcome_unknown"),
        ("since" = Option<String>, Query, description = "RFC 3339 or 30m / 12h / 7d"),
        ("cursor" = Option<String>, Query, pattern = "^[0-9]{1,18}:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", description = "next_cursor of the previous page"),
        ("limit" = Option<usize>, Query, minimum = 1, maximum = 500, description = "1-500, default 50"),
    ),
    responses((status = 200, body = DlqList), (status = 400, description = "The query does not parse", body = ErrorBody), (status = 401, description = "Missing or wrong bearer token", body = ErrorBody), (status = 403, description = "A producer token", body = ErrorBody), (status = 422, description = "A filter or the cursor is invalid; `field` names it", body = ErrorBody), (status = 503, description = "Storage is unavailable", body = ErrorBody))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<DlqList>, ApiError> {
    require_admin(&state, &headers)?;
    let q = list_query(&uri)?;
    let filter = list_filter(&q, Utc::now())?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "limit must be 1 to 500",
        )
        .field("limit"));
    }
    let page = dlq::list(state.producer.store(), &filter, q.cursor.as_deref(), limit)
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
    responses((status = 200, body = DlqView), (status = 401, description = "Missing or wrong bearer token", body = ErrorBody), (status = 403, description = "A producer token", body = ErrorBody), (status = 404, description = "No such cashout, or not parked", body = ErrorBody), (status = 503, description = "Storage is unavailable", body = ErrorBody))
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
    responses((status = 200, body = ReplayResult), (status = 400, description = "The body is not JSON", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody), (status = 401, description = "Missing or wrong bearer token", body = ErrorBody), (status = 403, description = "A producer token", body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, description = "The body has unknown or mistyped fields", body = ErrorBody), (status = 503, description = "Storage is unavailable", body = ErrorBody))
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
    #[schema(value_type = ParkReason, required)]
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
    responses((status = 200, body = BulkReplayResult), (status = 400, description = "The body is not JSON", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody), (status = 401, description = "Missing or wrong bearer token", body = ErrorBody), (status = 403, description = "A producer token", body = ErrorBody), (status = 422, description = "`reason` is missing or a field is invalid", body = ErrorBody), (status = 503, description = "Storage is unavailable", body = ErrorBody))
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
    #[schema(value_type = ResolveAs, required)]
    resolution: Option<String>,
    /// Required: what was checked, with whom.
    #[schema(value_type = String, required, pattern = "\\S")]
    note: Option<String>,
}

/// How a cashout settled by hand ended (documentation of `as`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum ResolveAs {
    /// The provider paid it.
    Confirmed,
    /// The provider did not pay it.
    Failed,
}

/// A required operator note (`discard`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RequiredNoteBody {
    /// Why: what was checked, with whom.
    #[schema(pattern = "\\S")]
    note: String,
}

/// Record an outcome settled by hand with the provider.
#[utoipa::path(
    post, path = "/v1/dlq/{id}/resolve",
    params(("id" = String, Path, description = "Cashout id")),
    request_body = ResolveBody,
    responses((status = 200, body = CashoutView), (status = 400, description = "The body is not JSON", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody), (status = 401, description = "Missing or wrong bearer token", body = ErrorBody), (status = 403, description = "A producer token", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "Not parked, final, or refused (see the message)", body = ErrorBody), (status = 422, description = "A field is invalid or the note is missing; `field` names it", body = ErrorBody), (status = 503, description = "Storage is unavailable", body = ErrorBody))
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

/// Settle several cashouts by hand at once (after checking each with the provider).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkResolveBody {
    /// The cashout ids (1 to 500); one that is not a cashout id is reported, not refused.
    #[schema(value_type = Vec<String>, required, min_items = 1, max_items = 500)]
    ids: Option<Vec<String>>,
    /// `confirmed` or `failed`.
    #[serde(rename = "as")]
    #[schema(value_type = ResolveAs, required)]
    resolution: Option<String>,
    /// Required: what was checked, with whom.
    #[schema(value_type = String, required, pattern = "\\S")]
    note: Option<String>,
}

/// What a bulk resolve did to one id.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResolveResult {
    id: String,
    /// `resolved`, `not_found`, `invalid_id` or `refused` (see the message).
    outcome: String,
    message: String,
}

/// What a bulk resolve did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkResolveResult {
    resolved: usize,
    results: Vec<ResolveResult>,
}

/// The most ids one bulk resolve takes.
const MAX_BULK_RESOLVE: usize = 500;

/// Record one outcome, settled by hand with the provider, for several parked cashouts. Each id is
/// tried and reported; one refused does not stop the others.
#[utoipa::path(
    post, path = "/v1/dlq/resolve",
    request_body = BulkResolveBody,
    responses((status = 200, body = BulkResolveResult), (status = 400, description = "The body is not JSON", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody), (status = 401, description = "Missing or wrong bearer token", body = ErrorBody), (status = 403, description = "A producer token", body = ErrorBody), (status = 422, description = "`ids`, `as` or `note` missing or invalid; `field` names it", body = ErrorBody), (status = 503, description = "Storage is unavailable", body = ErrorBody))
)]
pub(crate) async fn resolve_bulk(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<BulkResolveResult>, ApiError> {
    let actor = require_admin(&state, &headers)?;
    let b: BulkResolveBody = body(raw)?;
    let invalid = |field: &str, msg: &str| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", msg.to_owned()).field(field)
    };
    let resolution = match b.resolution.as_deref() {
        Some("confirmed") => Resolution::Confirmed,
        Some("failed") => Resolution::Failed,
        _ => return Err(invalid("as", "as must be 'confirmed' or 'failed'")),
    };
    let ids = b.ids.unwrap_or_default();
    if ids.is_empty() || ids.len() > MAX_BULK_RESOLVE {
        return Err(invalid("ids", "ids must list 1 to 500 cashout ids"));
    }
    let note = b.note.unwrap_or_default();
    if note.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "note_required",
            "a note is required: say what was checked, with whom",
        )
        .field("note"));
    }
    let store = state.producer.store();
    let mut results = Vec::with_capacity(ids.len());
    let mut resolved = 0;
    for raw_id in ids {
        let Ok(id) = CashoutId::parse(&raw_id) else {
            results.push(ResolveResult {
                id: raw_id.chars().take(64).collect(),
                outcome: "invalid_id".into(),
                message: "not a cashout id".into(),
            });
            continue;
        };
        let (outcome, message) = match dlq::resolve(store, &id, resolution, &actor, &note).await {
            Ok(c) => {
                resolved += 1;
                tracing::info!(cashout_id = %id, operator = %actor, state = %c.state, "dlq resolve");
                ("resolved", format!("resolved: {}", c.state))
            }
            Err(DlqError::NotFound) => ("not_found", "no such cashout".to_owned()),
            Err(DlqError::Store(e)) => return Err(ApiError::store(&e)),
            Err(e) => ("refused", e.to_string()),
        };
        results.push(ResolveResult {
            id: id.to_string(),
            outcome: outcome.into(),
            message,
        });
    }
    Ok(Json(BulkResolveResult { resolved, results }))
}

/// Remove from the DLQ and mark failed. A `corrupt_record` leaves the DLQ with no state written:
/// its record is kept as found until the retention expires.
#[utoipa::path(
    post, path = "/v1/dlq/{id}/discard",
    params(("id" = String, Path, description = "Cashout id")),
    request_body = RequiredNoteBody,
    responses((status = 200, body = DlqView), (status = 400, description = "The body is not JSON", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody), (status = 401, description = "Missing or wrong bearer token", body = ErrorBody), (status = 403, description = "A producer token", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "Not parked, final, or refused (see the message)", body = ErrorBody), (status = 422, description = "A field is invalid or the note is missing; `field` names it", body = ErrorBody), (status = 503, description = "Storage is unavailable", body = ErrorBody))
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

    #[test]
    fn since_with_a_multibyte_last_char_is_an_error() {
        let now = Utc::now();
        for s in [
            "é", "30é", "3€", "m", "d", "🦀", "1🦀", "-5m", "+5m", " 5m", "5 m",
        ] {
            assert!(parse_since(s, now).is_err(), "{s}");
        }
    }

    #[test]
    fn since_with_a_huge_number_is_an_error() {
        let now = Utc::now();
        for s in [
            "99999999999999d",
            "99999999999999h",
            "9223372036854775807s",
            "9223372036854775808s",
            "999999999999999999999999999999m",
            // Fits a TimeDelta, but not before `now` in a DateTime.
            "100000000d",
        ] {
            let e = parse_since(s, now).expect_err(s);
            assert!(e.contains("too large"), "{s}: {e}");
        }
        assert_eq!(parse_since("0s", now).unwrap(), now);
    }

    #[test]
    fn a_malformed_query_is_a_json_400() {
        let uri: Uri = "/v1/dlq?limit=lots".parse().unwrap();
        let e = list_query(&uri).expect_err("limit is not a number");
        let resp = axum::response::IntoResponse::into_response(e);
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let uri: Uri = "/v1/dlq?since=%C3%A9&provider=omt&limit=3".parse().unwrap();
        let q = list_query(&uri).unwrap();
        assert_eq!(q.since.as_deref(), Some("é"));
        let e = list_filter(&q, Utc::now()).expect_err("é is not a time");
        let resp = axum::response::IntoResponse::into_response(e);
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn parse_since_never_panics(s in any::<String>()) {
                let _ = parse_since(&s, Utc::now());
            }

            #[test]
            fn parse_since_reads_durations(n in 0i64..1_000_000, unit in prop::sample::select(vec!['s', 'm', 'h', 'd'])) {
                let now = Utc::now();
                let want = match unit {
                    's' => TimeDelta::seconds(n),
                    'm' => TimeDelta::minutes(n),
                    'h' => TimeDelta::hours(n),
                    _ => TimeDelta::days(n),
                };
                prop_assert_eq!(parse_since(&format!("{n}{unit}"), now), Ok(now - want));
            }

            #[test]
            fn parse_since_refuses_garbage(s in "[^0-9]*[^0-9smhd]|[0-9]+[^smhd0-9]|[^0-9]+[smhd]") {
                prop_assert!(parse_since(&s, Utc::now()).is_err(), "{}", s);
            }

            #[test]
            fn parse_since_refuses_huge_numbers(n in 10_000_000_000_000u64..u64::MAX, unit in prop::sample::select(vec!['s', 'm', 'h', 'd'])) {
                let s = format!("{n}{unit}");
                // Seconds up to i64::MAX ms fit; anything this large in another unit does not.
                if unit != 's' {
                    prop_assert!(parse_since(&s, Utc::now()).is_err(), "{}", s);
                } else {
                    let _ = parse_since(&s, Utc::now());
                }
            }

            #[test]
            fn list_filter_never_panics(
                provider in proptest::option::of(any::<String>()),
                reason in proptest::option::of(any::<String>()),
                since in proptest::option::of(any::<String>()),
            ) {
                let q = ListQuery { provider, reason, since, cursor: None, limit: None };
                let _ = list_filter(&q, Utc::now());
            }

            #[test]
            fn list_query_never_panics(raw in any::<String>()) {
                let encoded: String = raw
                    .bytes()
                    .map(|b| if b.is_ascii_alphanumeric() || b"=&;%+-._~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    })
                    .collect();
                if let Ok(uri) = format!("/v1/dlq?{encoded}").parse::<Uri>()
                    && let Ok(q) = list_query(&uri)
                {
                    let _ = list_filter(&q, Utc::now());
                }
            }

            #[test]
            fn known_values_are_accepted(
                provider in prop::sample::select(vec!["camoo", "omt", "omno"]),
                minutes in 1i64..100_000,
            ) {
                let now = Utc::now();
                let q = ListQuery {
                    provider: Some(provider.to_owned()),
                    reason: Some("outcome_unknown".to_owned()),
                    since: Some(format!("{minutes}m")),
                    cursor: None,
                    limit: None,
                };
                let f = list_filter(&q, now);
                prop_assert!(f.is_ok(), "{:?}", f.as_ref().err());
                let Ok(f) = f else { unreachable!() };
                prop_assert_eq!(f.since, Some(now - TimeDelta::minutes(minutes)));
                prop_assert_eq!(f.provider.map(|p| p.as_str()), Some(provider));
            }
        }
    }
}
