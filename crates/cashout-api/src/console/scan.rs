//! Reading the dead-letter queue for the console: pages and counts that stay fast with 100,000
//! parked cashouts. It walks the parked index (`Store::parked_range`, oldest first, with the same
//! `ms:id` cursors as `GET /v1/dlq`) and has Redis decode each batch of records in one script
//! (`scan.lua`), so a filter that matches little moves a few fields per record, never whole
//! records, and one page reads at most [`MAX_SCAN`] index entries.

use cashout_core::{CashoutId, ParkReason, Provider, State};
use cashout_store::{RECORD_HEADER_LEN, Store, StoreError};
use chrono::{DateTime, Utc};
use redis::Script;
use std::collections::BTreeMap;
use std::sync::LazyLock;

static SCAN: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scan.lua")));

/// Index entries read per round trip.
const BATCH: usize = 500;
/// The most index entries one page reads; past it the page ends early with a cursor to go on.
pub(crate) const MAX_SCAN: usize = 20_000;
/// The most entries a count or a bulk selection reads.
pub(crate) const MAX_COUNT: usize = 200_000;

/// Every park reason, in the order the console lists them.
pub(crate) const REASONS: [ParkReason; 10] = [
    ParkReason::PossibleDoublePayout,
    ParkReason::OutcomeUnknown,
    ParkReason::DeadlineExceeded,
    ParkReason::RetriesExhausted,
    ParkReason::InsufficientFunds,
    ParkReason::ProviderAuth,
    ParkReason::ProviderContract,
    ParkReason::OmtLockoutGuard,
    ParkReason::Poison,
    ParkReason::CorruptRecord,
];

/// What the DLQ list is narrowed to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Filter {
    pub provider: Option<Provider>,
    pub reason: Option<ParkReason>,
    pub since: Option<DateTime<Utc>>,
    /// Lower-case text searched in the id, idempotency key, last error and provider reference.
    pub text: Option<String>,
}

impl Filter {
    pub(crate) fn is_empty(&self) -> bool {
        *self == Filter::default()
    }
}

/// One parked cashout as a list shows it.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub id: String,
    pub parked_ms: i64,
    /// `None` for a record that cannot be decoded (`corrupt_record`).
    pub state: Option<State>,
    pub provider: Option<Provider>,
    pub reason: ParkReason,
    /// Replay would refuse it (`in_doubt`).
    pub in_doubt: bool,
    pub idempotency_key: String,
    pub last_error: String,
    pub attempts: u32,
}

/// One page.
#[derive(Debug, Default)]
pub(crate) struct Page {
    pub rows: Vec<Row>,
    /// Where the next page starts.
    pub next_cursor: Option<String>,
    /// Index entries read.
    pub scanned: usize,
    /// The page stopped at [`MAX_SCAN`] before it was full: the next cursor goes on searching.
    pub cut_short: bool,
}

fn cursor_of(ms: i64, id: &str) -> String {
    format!("{ms}:{id}")
}

/// A cursor as `GET /v1/dlq` hands them out; `None` for one we did not.
pub(crate) fn parse_cursor(c: &str) -> Option<(i64, String)> {
    let (ms, id) = c.split_once(':')?;
    let ms = ms.parse().ok()?;
    CashoutId::parse(id).ok()?;
    Some((ms, id.to_owned()))
}

/// Walks the parked index from a position, oldest first.
struct Walk {
    at_ms: i64,
    /// Entries at `at_ms` already read.
    offset: usize,
    /// Entries up to this one were returned by a previous page.
    after: Option<(i64, String)>,
    done: bool,
}

impl Walk {
    fn new(since: Option<DateTime<Utc>>, cursor: Option<(i64, String)>) -> Self {
        let since_ms = since.map_or(i64::MIN, |t| t.timestamp_millis());
        let at_ms = cursor
            .as_ref()
            .map_or(since_ms, |(ms, _)| (*ms).max(since_ms));
        Self {
            at_ms,
            offset: 0,
            after: cursor,
            done: false,
        }
    }

    /// The next batch of `(id, parked ms)`; empty at the end.
    async fn next(&mut self, store: &Store) -> Result<Vec<(String, i64)>, StoreError> {
        if self.done {
            return Ok(Vec::new());
        }
        let batch = store.parked_range(self.at_ms, self.offset, BATCH).await?;
        if batch.len() < BATCH {
            self.done = true;
        }
        let mut out = Vec::with_capacity(batch.len());
        for (id, ms) in batch {
            if ms == self.at_ms {
                self.offset += 1;
            } else {
                self.at_ms = ms;
                self.offset = 1;
            }
            if let Some((ams, aid)) = &self.after
                && (ms, id.as_str()) <= (*ams, aid.as_str())
            {
                continue;
            }
            out.push((id, ms));
        }
        Ok(out)
    }
}

/// What the script said of one record.
enum Found {
    Row(Box<Row>),
    Corrupt,
}

/// Runs `scan.lua` over `ids` (any partitions), keeping their order.
async fn inspect(
    store: &Store,
    ids: &[(String, i64)],
    filter: &Filter,
    full: bool,
    parked_only: bool,
) -> Result<Vec<(usize, Found)>, StoreError> {
    let keys = store.keys();
    let mut by_partition: BTreeMap<u16, Vec<(usize, String)>> = BTreeMap::new();
    for (i, (id, _)) in ids.iter().enumerate() {
        let Ok(cid) = CashoutId::parse(id) else {
            continue;
        };
        by_partition
            .entry(keys.partition(&cid))
            .or_default()
            .push((i, keys.record(&cid)));
    }
    let mut found = Vec::new();
    let mut conn = store.connection();
    for (_, entries) in by_partition {
        let mut inv = SCAN.prepare_invoke();
        for (_, k) in &entries {
            inv.key(k);
        }
        inv.arg(if full { "full" } else { "count" })
            .arg(filter.provider.map_or("", Provider::as_str))
            .arg(filter.reason.map_or("", ParkReason::as_str))
            .arg(filter.text.as_deref().unwrap_or(""))
            .arg(RECORD_HEADER_LEN)
            .arg(if parked_only { "1" } else { "0" });
        let rows: Vec<Vec<String>> = inv.invoke_async(&mut conn).await?;
        for r in rows {
            let Some(pos) = r
                .first()
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| n.checked_sub(1))
                .and_then(|n| entries.get(n))
                .map(|(i, _)| *i)
            else {
                continue;
            };
            let Some((id, ms)) = ids.get(pos) else {
                continue;
            };
            if r.get(1).map(String::as_str) == Some("!") {
                found.push((pos, Found::Corrupt));
                continue;
            }
            let word = |i: usize| r.get(i).cloned().unwrap_or_default();
            let reason = serde_json::from_value::<ParkReason>(serde_json::Value::String(word(3)));
            let row = Row {
                id: id.clone(),
                parked_ms: *ms,
                state: serde_json::from_value(serde_json::Value::String(word(1))).ok(),
                provider: word(2).parse().ok(),
                // A waiting record has no reason; it is only counted.
                reason: reason.unwrap_or(ParkReason::CorruptRecord),
                in_doubt: word(4) == "1",
                idempotency_key: word(5),
                last_error: word(6),
                attempts: word(7).parse().unwrap_or(0),
            };
            found.push((pos, Found::Row(Box::new(row))));
        }
    }
    found.sort_by_key(|(i, _)| *i);
    Ok(found)
}

/// A record that cannot be decoded, as a row, if the filter takes it.
async fn corrupt_row(
    store: &Store,
    id: &str,
    ms: i64,
    filter: &Filter,
) -> Result<Option<Row>, StoreError> {
    let Ok(cid) = CashoutId::parse(id) else {
        return Ok(None);
    };
    let (provider, error, discarded) = match store.corrupt(&cid).await? {
        Some(r) => (r.provider, r.error, r.discarded_at.is_some()),
        None => (None, "the stored record cannot be read".to_owned(), false),
    };
    let text_ok = filter
        .text
        .as_deref()
        .is_none_or(|t| id.to_lowercase().contains(t) || error.to_lowercase().contains(t));
    let keep = !discarded
        && filter.reason.is_none_or(|r| r == ParkReason::CorruptRecord)
        && filter.provider.is_none_or(|p| provider == Some(p))
        && text_ok;
    Ok(keep.then(|| Row {
        id: id.to_owned(),
        parked_ms: ms,
        state: None,
        provider,
        reason: ParkReason::CorruptRecord,
        in_doubt: false,
        idempotency_key: String::new(),
        last_error: error,
        attempts: 0,
    }))
}

/// One page of parked cashouts matching `filter`, oldest first.
pub(crate) async fn page(
    store: &Store,
    filter: &Filter,
    cursor: Option<(i64, String)>,
    limit: usize,
) -> Result<Page, StoreError> {
    let limit = limit.clamp(1, 500);
    let mut walk = Walk::new(filter.since, cursor);
    let mut page = Page::default();
    loop {
        let batch = walk.next(store).await?;
        if batch.is_empty() && walk.done {
            return Ok(page);
        }
        let found = inspect(store, &batch, filter, true, true).await?;
        for (pos, f) in found {
            let (id, ms) = &batch[pos];
            let row = match f {
                Found::Row(r) => Some(*r),
                Found::Corrupt => corrupt_row(store, id, *ms, filter).await?,
            };
            if let Some(r) = row {
                page.rows.push(r);
                if page.rows.len() == limit {
                    page.scanned += pos + 1;
                    page.next_cursor = Some(cursor_of(*ms, id));
                    return Ok(page);
                }
            }
        }
        page.scanned += batch.len();
        if walk.done {
            return Ok(page);
        }
        if page.scanned >= MAX_SCAN {
            if let Some((id, ms)) = batch.last() {
                page.next_cursor = Some(cursor_of(*ms, id));
                page.cut_short = true;
            }
            return Ok(page);
        }
    }
}

/// Every parked cashout matching `filter` (at most [`MAX_COUNT`] index entries read), as short
/// rows: for counts and bulk selections. The flag says whether the index was read to its end.
pub(crate) async fn all(store: &Store, filter: &Filter) -> Result<(Vec<Row>, bool), StoreError> {
    let mut walk = Walk::new(filter.since, None);
    let mut rows = Vec::new();
    let mut scanned = 0;
    loop {
        let batch = walk.next(store).await?;
        for (pos, f) in inspect(store, &batch, filter, false, true).await? {
            let (id, ms) = &batch[pos];
            match f {
                Found::Row(r) => rows.push(*r),
                Found::Corrupt => rows.extend(corrupt_row(store, id, *ms, filter).await?),
            }
        }
        scanned += batch.len();
        if walk.done {
            return Ok((rows, true));
        }
        if scanned >= MAX_COUNT {
            return Ok((rows, false));
        }
    }
}

/// Non-terminal cashouts that are not parked, by provider and state (read from the due
/// indexes, at most [`MAX_COUNT`] per provider).
pub(crate) async fn waiting_by_state(
    store: &Store,
) -> Result<BTreeMap<(&'static str, &'static str), u64>, StoreError> {
    let keys = store.keys();
    let mut conn = store.connection();
    let mut out = BTreeMap::new();
    for provider in Provider::ALL {
        for p in keys.all_partitions() {
            let mut start = 0usize;
            while start < MAX_COUNT {
                let ids: Vec<String> = redis::cmd("ZRANGE")
                    .arg(keys.due(provider, p))
                    .arg(start)
                    .arg(start + BATCH - 1)
                    .query_async(&mut conn)
                    .await?;
                let n = ids.len();
                let batch: Vec<(String, i64)> = ids.into_iter().map(|id| (id, 0)).collect();
                for (_, f) in inspect(store, &batch, &Filter::default(), false, false).await? {
                    if let Found::Row(r) = f
                        && let Some(s) = r.state
                    {
                        *out.entry((provider.as_str(), s.as_str())).or_insert(0) += 1;
                    }
                }
                if n < BATCH {
                    break;
                }
                start += n;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_console_lists_every_park_reason() {
        for r in ParkReason::ALL {
            assert!(REASONS.contains(&r), "{r} missing from the console's list");
        }
    }

    use super::*;

    #[test]
    fn cursors_are_those_of_the_json_api() {
        let id = CashoutId::generate().to_string();
        assert_eq!(
            parse_cursor(&cursor_of(1_700_000_000_000, &id)),
            Some((1_700_000_000_000, id))
        );
        assert_eq!(parse_cursor("12:nope"), None);
        assert_eq!(parse_cursor("x:y"), None);
        assert_eq!(parse_cursor(""), None);
    }

    #[test]
    fn an_empty_filter_is_empty() {
        assert!(Filter::default().is_empty());
        let f = Filter {
            text: Some("x".into()),
            ..Filter::default()
        };
        assert!(!f.is_empty());
    }
}
