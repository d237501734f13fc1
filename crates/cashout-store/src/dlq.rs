//! The dead-letter queue, for operators: list, replay (one or in bulk), resolve by hand, discard.
//! Parked cashouts keep their state and history; every action here is written to the history
//! with the operator's name, the time and the note, with the same compare-and-set as the workers.

use crate::corrupt::CorruptRecord;
use crate::producer::Producer;
use crate::store::{Change, Modified, Store, StoreError};
use cashout_core::{Cashout, CashoutId, Event, HistoryKind, ParkReason, Provider, State};
use chrono::{DateTime, TimeZone, Utc};

/// Which parked cashouts to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this provider.
    pub provider: Option<Provider>,
    /// Only this reason.
    pub reason: Option<ParkReason>,
    /// Parked at or after this time.
    pub since: Option<DateTime<Utc>>,
}

/// One entry of the DLQ.
#[derive(Debug, Clone)]
pub enum Item {
    /// A parked cashout.
    Cashout(Box<Cashout>),
    /// A record that cannot be decoded, parked `corrupt_record` and kept as found: only
    /// `discard` applies (after inspecting it in Redis).
    Corrupt(CorruptRecord),
}

impl Item {
    /// The cashout id.
    pub fn id(&self) -> CashoutId {
        match self {
            Item::Cashout(c) => c.id,
            Item::Corrupt(r) => r.id,
        }
    }
}

/// One page of the DLQ, oldest first.
#[derive(Debug, Clone)]
pub struct Page {
    /// The parked cashouts.
    pub items: Vec<Item>,
    /// Pass back to get the next page; `None` at the end.
    pub next_cursor: Option<String>,
}

/// Why an operator action was refused.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// No such cashout.
    #[error("no such cashout")]
    NotFound,
    /// It is final.
    #[error("cashout is already {0}; nothing to do")]
    Final(State),
    /// It is not parked.
    #[error("cashout is not in the dead-letter queue (state {0})")]
    NotParked(State),
    /// Discarding could mark a paid cashout failed.
    #[error(
        "the provider may have paid this cashout (state {0}, a create was sent): check with the \
         provider, then use resolve --as confirmed|failed"
    )]
    MayBePaid(State),
    /// Resolving as confirmed a payout the provider cannot have executed.
    #[error("this payout was never confirmed at the provider, so it cannot have been paid")]
    NotPaid,
    /// A note is required for this action.
    #[error("a note is required: say what was checked and with whom")]
    NoteRequired,
    /// A cursor we did not hand out.
    #[error("invalid cursor")]
    BadCursor,
    /// The record cannot be decoded (`corrupt_record`): only a discard applies.
    #[error(
        "the stored record of this cashout cannot be read (corrupt_record): it is never \
         replayed or resolved; inspect it in Redis, then discard it"
    )]
    Corrupt,
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// Out of the DLQ and due now; the next step resumes from the recorded state.
    Replayed,
    /// Not parked: already replayed, or never parked. Nothing done.
    NotParked(State),
    /// Final: nothing done.
    Final(State),
    /// A create may have been executed and nothing tells us (replaying could only park it
    /// again), or two payments exist for the cashout. Check with the provider and use resolve.
    InDoubt,
    /// The record cannot be decoded (`corrupt_record`): never replayed.
    Corrupt,
}

impl Replay {
    /// A word for APIs and tables.
    pub fn as_str(&self) -> &'static str {
        match self {
            Replay::Replayed => "replayed",
            Replay::NotParked(_) => "not_parked",
            Replay::Final(_) => "final",
            Replay::InDoubt => "in_doubt",
            Replay::Corrupt => "corrupt_record",
        }
    }

    /// A sentence for operators.
    pub fn message(&self) -> String {
        match self {
            Replay::Replayed => "replayed: resumes from its recorded state".to_owned(),
            Replay::NotParked(s) => format!("no-op: not in the dead-letter queue (state {s})"),
            Replay::Final(s) => format!("no-op: already {s}"),
            Replay::InDoubt => "refused: a create may have been executed and cannot be checked; \
                                confirm with the provider, then use resolve"
                .to_owned(),
            Replay::Corrupt => "refused: the stored record cannot be read (corrupt_record); \
                                inspect it, then discard it"
                .to_owned(),
        }
    }
}

/// How an operator settled a cashout with the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The provider paid it.
    Confirmed,
    /// The provider did not pay it.
    Failed,
}

fn cursor_of(ms: i64, id: &str) -> String {
    format!("{ms}:{id}")
}

/// Only the form [`cursor_of`] hands out (what the OpenAPI document states:
/// `^[0-9]{1,18}:<lowercase hyphenated uuid>$`).
fn parse_cursor(c: &str) -> Result<(i64, String), DlqError> {
    let (ms, id) = c.split_once(':').ok_or(DlqError::BadCursor)?;
    if ms.is_empty() || ms.len() > 18 || !ms.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DlqError::BadCursor);
    }
    let ms = ms.parse().map_err(|_| DlqError::BadCursor)?;
    let parsed = CashoutId::parse(id).map_err(|_| DlqError::BadCursor)?;
    if parsed.to_string() != id {
        return Err(DlqError::BadCursor);
    }
    Ok((ms, id.to_owned()))
}

fn matches(c: &Cashout, f: &Filter) -> bool {
    let Some(p) = &c.parked else { return false };
    f.provider.is_none_or(|x| x == c.order.provider)
        && f.reason.is_none_or(|x| x == p.reason)
        && f.since.is_none_or(|t| p.at >= t)
}

fn matches_corrupt(r: &CorruptRecord, f: &Filter) -> bool {
    f.provider.is_none_or(|x| r.provider == Some(x))
        && f.reason.is_none_or(|x| x == ParkReason::CorruptRecord)
        && f.since.is_none_or(|t| r.at >= t)
}

/// Lists parked cashouts, oldest first, `limit` per page.
pub async fn list(
    store: &Store,
    filter: &Filter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page, DlqError> {
    let limit = limit.clamp(1, 500);
    let after = cursor.map(parse_cursor).transpose()?;
    let since_ms = filter.since.map_or(i64::MIN, |t| t.timestamp_millis());
    let min_ms = after
        .as_ref()
        .map_or(since_ms, |(ms, _)| (*ms).max(since_ms));
    let mut items = Vec::new();
    let mut offset = 0;
    const BATCH: usize = 200;
    loop {
        let batch = store.parked_range(min_ms, offset, BATCH).await?;
        let n = batch.len();
        for (id, ms) in batch {
            if let Some((cms, cid)) = &after
                && ms == *cms
                && id.as_str() <= cid.as_str()
            {
                continue;
            }
            let Ok(cid) = CashoutId::parse(&id) else {
                continue;
            };
            let item = match store.get(&cid).await {
                Ok(Some(c)) if matches(&c, filter) => Item::Cashout(Box::new(c)),
                Ok(_) => continue,
                Err(StoreError::Corrupt { message, .. }) => {
                    // Parked by a delivery with its side key; or found parked but unreadable
                    // another way: listed all the same, never a failed listing.
                    let r = store.corrupt(&cid).await?.unwrap_or(CorruptRecord {
                        id: cid,
                        reason: ParkReason::CorruptRecord,
                        at: at_ms(ms).unwrap_or_default(),
                        provider: None,
                        error: message,
                        discarded_at: None,
                        discarded_by: None,
                    });
                    if r.discarded_at.is_some() || !matches_corrupt(&r, filter) {
                        continue;
                    }
                    Item::Corrupt(r)
                }
                Err(e) => return Err(e.into()),
            };
            items.push(item);
            if items.len() == limit {
                let next = cursor_of(ms, &id);
                return Ok(Page {
                    items,
                    next_cursor: Some(next),
                });
            }
        }
        if n < BATCH {
            return Ok(Page {
                items,
                next_cursor: None,
            });
        }
        offset += n;
    }
}

fn who(actor: &str, note: Option<&str>) -> String {
    match note.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => format!("{actor}: {n}"),
        None => actor.to_owned(),
    }
}

/// Takes a cashout out of the DLQ and makes its next step due now, with a fresh retry budget
/// (and, for a submitted cashout, a fresh polling deadline). A submitted cashout resumes polling;
/// nothing is ever submitted again that may have been executed.
pub async fn replay(
    producer: &Producer,
    id: &CashoutId,
    actor: &str,
    note: Option<&str>,
) -> Result<Replay, DlqError> {
    let by = who(actor, note);
    let res = producer
        .store()
        .modify(id, true, |r, now| {
            if r.state.is_terminal() {
                return Change::Skip(Replay::Final(r.state));
            }
            let Some(parked) = r.parked.clone() else {
                return Change::Skip(Replay::NotParked(r.state));
            };
            // A payout-creating call whose answer was lost, with nothing that can tell us more
            // (a replay could only park it again), or two payments for one cashout (a replay
            // would follow one and forget the other).
            if r.in_doubt() {
                return Change::Skip(Replay::InDoubt);
            }
            r.parked = None;
            r.attempts = 0;
            if r.state == State::Submitted {
                r.polling_since = Some(now);
            }
            r.next_action_at = Some(now);
            let cause = format!("replayed by {by} (was parked: {})", parked.reason);
            Change::Write {
                entries: vec![r.entry(now, HistoryKind::Replayed, None, None, cause)],
                value: Replay::Replayed,
            }
        })
        .await
        .map_err(corrupt_or)?;
    match res {
        // The write delivered the step it made due.
        Modified::Written(_, _, v) => Ok(v),
        Modified::Skipped(_, v) => Ok(v),
        Modified::NotFound => Err(DlqError::NotFound),
    }
}

/// Replays every parked cashout matching `filter` (at most `max`).
pub async fn replay_all(
    producer: &Producer,
    filter: &Filter,
    actor: &str,
    note: Option<&str>,
    max: usize,
) -> Result<Vec<(CashoutId, Replay)>, DlqError> {
    // Collect first: replaying removes items from the index we page through.
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = list(producer.store(), filter, cursor.as_deref(), 200).await?;
        ids.extend(page.items.iter().map(Item::id));
        match page.next_cursor {
            Some(c) if ids.len() < max => cursor = Some(c),
            _ => break,
        }
    }
    ids.truncate(max);
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let r = match replay(producer, &id, actor, note).await {
            Err(DlqError::Corrupt) => Replay::Corrupt,
            r => r?,
        };
        out.push((id, r));
    }
    Ok(out)
}

/// Records an outcome settled by hand with the provider: `confirmed` or `failed`. The only way to
/// close a cashout whose outcome cannot be read from the provider.
pub async fn resolve(
    store: &Store,
    id: &CashoutId,
    resolution: Resolution,
    actor: &str,
    note: &str,
) -> Result<Cashout, DlqError> {
    let word = match resolution {
        Resolution::Confirmed => "confirmed",
        Resolution::Failed => "failed",
    };
    settle(
        store,
        id,
        actor,
        note,
        |c| match (resolution, c.state) {
            // OMNO moves money on confirm: one never confirmed cannot have been paid.
            (Resolution::Confirmed, _)
                if c.order.provider == Provider::Omno && c.confirmed_at.is_none() =>
            {
                Vec::new()
            }
            (Resolution::Confirmed, State::Created) => {
                vec![Event::ProviderAccepted, Event::ProviderConfirmed]
            }
            (Resolution::Confirmed, _) => vec![Event::ProviderConfirmed],
            (Resolution::Failed, State::Created) => vec![Event::ProviderRefused],
            (Resolution::Failed, _) => vec![Event::ProviderFailed],
        },
        &format!("resolved as {word}"),
    )
    .await
}

/// Removes a cashout from the DLQ and marks it failed. Only for cashouts the provider cannot
/// have paid (nothing sent, or refused before executing); anything else needs `resolve`, after
/// checking with the provider. A record that cannot be decoded (`corrupt_record`) has no state
/// to mark: it leaves the DLQ, kept as found until the retention expires, and reads of it go on
/// failing (see [`Store::discard_corrupt`]).
pub async fn discard(
    store: &Store,
    id: &CashoutId,
    actor: &str,
    note: &str,
) -> Result<Item, DlqError> {
    match discard_cashout(store, id, actor, note).await {
        Ok(c) => Ok(Item::Cashout(Box::new(c))),
        Err(DlqError::Corrupt) => match store.discard_corrupt(id, &who(actor, Some(note))).await? {
            Some(r) => Ok(Item::Corrupt(r)),
            None => Err(DlqError::Corrupt),
        },
        Err(e) => Err(e),
    }
}

async fn discard_cashout(
    store: &Store,
    id: &CashoutId,
    actor: &str,
    note: &str,
) -> Result<Cashout, DlqError> {
    settle(
        store,
        id,
        actor,
        note,
        |c| match c.state {
            State::Created => vec![Event::ProviderRefused],
            State::Submitted | State::Confirmed | State::Failed | State::Revoked => {
                vec![Event::ProviderFailed]
            }
        },
        "discarded",
    )
    .await
}

async fn settle(
    store: &Store,
    id: &CashoutId,
    actor: &str,
    note: &str,
    events: impl Fn(&Cashout) -> Vec<Event>,
    what: &str,
) -> Result<Cashout, DlqError> {
    if note.trim().is_empty() {
        return Err(DlqError::NoteRequired);
    }
    let discarding = what == "discarded";
    let cause = format!("{what} by {}", who(actor, Some(note)));
    let res = store
        .modify(id, true, |r, now| {
            if r.state.is_terminal() {
                return Change::Skip(Err(DlqError::Final(r.state)));
            }
            if r.parked.is_none() {
                return Change::Skip(Err(DlqError::NotParked(r.state)));
            }
            // Checked inside the compare-and-set, on the record being written.
            let may_be_paid = r.state != State::Created
                || r.submit_intent.is_some()
                || r.hinted_provider_ref.is_some();
            if discarding && may_be_paid {
                return Change::Skip(Err(DlqError::MayBePaid(r.state)));
            }
            let events = events(r);
            if events.is_empty() {
                return Change::Skip(Err(DlqError::NotPaid));
            }
            r.scrub_secrets();
            let mut entries = vec![r.entry(now, HistoryKind::Operator, None, None, cause.clone())];
            for e in events {
                match r.apply(e, cause.clone(), now) {
                    Ok(Some(line)) => entries.push(line),
                    Ok(None) => {}
                    Err(_) => return Change::Skip(Err(DlqError::Final(r.state))),
                }
            }
            r.parked = None;
            r.next_action_at = None;
            Change::Write {
                entries,
                value: Ok(()),
            }
        })
        .await
        .map_err(corrupt_or)?;
    match res {
        Modified::Written(c, _, Ok(())) => Ok(c),
        Modified::Written(_, _, Err(e)) | Modified::Skipped(_, Err(e)) => Err(e),
        Modified::Skipped(c, Ok(())) => Ok(c),
        Modified::NotFound => Err(DlqError::NotFound),
    }
}

/// A record that cannot be decoded is [`DlqError::Corrupt`]; other store errors pass.
fn corrupt_or(e: StoreError) -> DlqError {
    match e {
        StoreError::Corrupt { .. } => DlqError::Corrupt,
        e => DlqError::Store(e),
    }
}

/// Milliseconds since the epoch as a time (for cursors and views).
pub fn at_ms(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = CashoutId::generate().to_string();
        let c = cursor_of(1_700_000_000_000, &id);
        assert_eq!(parse_cursor(&c).unwrap(), (1_700_000_000_000, id.clone()));
        assert!(parse_cursor("nope").is_err());
        assert!(parse_cursor("12:not-an-id").is_err());
        assert!(parse_cursor(&format!("+12:{id}")).is_err());
        assert!(parse_cursor(&format!("12: {id}")).is_err());
        assert!(parse_cursor(&format!("12:{}", id.to_uppercase())).is_err());
    }

    proptest::proptest! {
        #[test]
        fn parse_cursor_never_panics(c in proptest::prelude::any::<String>()) {
            let _ = parse_cursor(&c);
        }

        #[test]
        fn cursors_we_hand_out_parse(ms in 0i64..1_000_000_000_000_000_000) {
            let id = CashoutId::generate().to_string();
            proptest::prop_assert_eq!(parse_cursor(&cursor_of(ms, &id)).ok(), Some((ms, id)));
        }
    }

    #[test]
    fn replay_words() {
        assert_eq!(Replay::Replayed.as_str(), "replayed");
        assert!(Replay::InDoubt.message().contains("resolve"));
        assert!(
            Replay::Final(State::Confirmed)
                .message()
                .contains("confirmed")
        );
    }
}
