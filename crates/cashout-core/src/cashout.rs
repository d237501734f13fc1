//! The cashout record: the source of truth for one cashout, and its history entries.
//! The store writes it with a compare-and-set on `version`; jobs only carry its id.

use crate::error::ParkReason;
use crate::ids::{CashoutId, ProducerName, TraceId};
use crate::order::CashoutOrder;
use crate::provider::Provider;
use crate::state::{Decision, Event, IllegalTransition, State, transition};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One cashout, as stored. Its own times are stored in milliseconds (its history keeps
/// microseconds); absent fields are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cashout {
    /// Our id.
    pub id: CashoutId,
    /// Who enqueued it; its idempotency key and its reads are scoped to this producer.
    #[serde(default)]
    pub producer: ProducerName,
    /// The order as accepted.
    pub order: CashoutOrder,
    /// Digest of the order without its key (see [`CashoutOrder::fingerprint`]).
    pub fingerprint: String,
    /// The public state.
    pub state: State,
    /// Incremented by every write; writes compare-and-set on it.
    pub version: u64,
    /// The reference we give the provider (Camoo `external_reference`, OMT `receiptNumber`).
    /// Fixed at creation.
    pub external_reference: String,
    /// The provider's id for the payout, stored the moment it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_ref: Option<String>,
    /// The last raw status the provider reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<String>,
    /// Set before a payout-creating request leaves: a record with an intent and no provider
    /// reference is *in doubt*, never "unsent".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit_intent: Option<SubmitIntent>,
    /// A provider reference learned from a signed notification, not yet checked by a status read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hinted_provider_ref: Option<String>,
    /// Provider calls made for the current step (reset when a step completes).
    pub attempts: u32,
    /// Status reads made since submission.
    pub polls: u32,
    /// When the next step is due. `None` for terminal or parked cashouts.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "chrono::serde::ts_milliseconds_option"
    )]
    pub next_action_at: Option<DateTime<Utc>>,
    /// When the provider accepted the payout.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "chrono::serde::ts_milliseconds_option"
    )]
    pub submitted_at: Option<DateTime<Utc>>,
    /// Start of the current polling window: the deadline counts from here. Set at submission
    /// and again when an operator replays the cashout.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "chrono::serde::ts_milliseconds_option"
    )]
    pub polling_since: Option<DateTime<Utc>>,
    /// OMT: the customer's name exactly as GETCTI returned it (PAYCTI sends this spelling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_customer_name: Option<String>,
    /// OMNO manual approval: set by `POST …/approve`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approved: bool,
    /// OMNO: a confirm is being sent (its token); a record with it and no `confirmed_at` has a
    /// confirm whose answer is not known yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_intent: Option<String>,
    /// OMNO: when the payout was confirmed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "chrono::serde::ts_milliseconds_option"
    )]
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Digests of the provider notifications already acted on (the latest
    /// [`Cashout::MAX_NOTICES`]): a repeated one changes nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
    /// Notifications acted on in all (each wrote at most one history line).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub notice_count: u32,
    /// When a notification last made a step due: notifications within
    /// `api.notify_min_interval_ms` of it are not acted on.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "chrono::serde::ts_milliseconds_option"
    )]
    pub nudged_at: Option<DateTime<Utc>>,
    /// Set while the cashout sits in the dead-letter queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parked: Option<Parked>,
    /// The last error seen, redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The trace this cashout belongs to.
    pub trace_id: TraceId,
    /// W3C `traceparent` of the enqueue span: every later step is a child of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// Id of the last logical write, so a write whose reply was lost is not applied twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_write: Option<String>,
    /// When we accepted it.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub created_at: DateTime<Utc>,
    /// Last write.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub updated_at: DateTime<Utc>,
}

/// The record that a payout-creating request is about to leave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitIntent {
    /// Which attempt this is (1-based).
    pub attempt: u32,
    /// When the request was about to be sent.
    pub at: DateTime<Utc>,
    /// Unique to the attempt: what is written after the call must belong to this attempt.
    #[serde(default)]
    pub token: String,
}

/// Why and since when a cashout is parked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parked {
    /// The reason.
    pub reason: ParkReason,
    /// When.
    pub at: DateTime<Utc>,
    /// The error that led here, redacted.
    pub detail: String,
}

/// What a history line records. Serialised as the snake_case word (`provider_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HistoryKind {
    /// The cashout was accepted.
    Created,
    /// A payout-creating request is about to leave (its intent is recorded).
    Submit,
    /// A state transition (`from` → `to`).
    Transition,
    /// A status the provider reported that changes no state.
    ProviderStatus,
    /// OMNO: the payout was confirmed at OMNO.
    Confirm,
    /// A retry is scheduled.
    Retry,
    /// Parked in the dead-letter queue.
    Parked,
    /// Taken out of the dead-letter queue.
    Unparked,
    /// Replayed by an operator.
    Replayed,
    /// Another operator action (resolve, discard, revoke, approve).
    Operator,
    /// Anything else worth keeping (a late answer, a notification).
    Note,
}

impl HistoryKind {
    /// Every kind.
    pub const ALL: [Self; 11] = [
        Self::Created,
        Self::Submit,
        Self::Transition,
        Self::ProviderStatus,
        Self::Confirm,
        Self::Retry,
        Self::Parked,
        Self::Unparked,
        Self::Replayed,
        Self::Operator,
        Self::Note,
    ];

    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Submit => "submit",
            Self::Transition => "transition",
            Self::ProviderStatus => "provider_status",
            Self::Confirm => "confirm",
            Self::Retry => "retry",
            Self::Parked => "parked",
            Self::Unparked => "unparked",
            Self::Replayed => "replayed",
            Self::Operator => "operator",
            Self::Note => "note",
        }
    }
}

impl std::fmt::Display for HistoryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of a cashout's append-only history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// What the line records.
    pub kind: HistoryKind,
    /// The state before, for transitions.
    pub from: Option<State>,
    /// The state after, for transitions and creation.
    pub to: Option<State>,
    /// Why, in words (never a secret or a full phone number).
    pub cause: String,
    /// The attempt this happened in.
    pub attempt: u32,
    /// The trace id. Stored lines leave it out when it is the cashout's own.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub trace_id: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Cashout {
    /// How many notification digests a record keeps.
    pub const MAX_NOTICES: usize = 8;

    /// Notifications that write a history line, in a cashout's life; later ones still make a
    /// status read due but leave no line, so no caller can grow the history without bound.
    pub const MAX_NOTICE_LINES: u32 = 20;

    /// A new cashout in `created`, due now, of the [local](ProducerName::local) producer.
    pub fn new(order: CashoutOrder, trace_id: TraceId, now: DateTime<Utc>) -> Self {
        let id = CashoutId::generate();
        let external_reference = Self::reference_for(order.provider, &id);
        Self {
            id,
            producer: ProducerName::local(),
            fingerprint: order.fingerprint(),
            order,
            state: State::Created,
            version: 1,
            external_reference,
            provider_ref: None,
            provider_status: None,
            submit_intent: None,
            hinted_provider_ref: None,
            attempts: 0,
            polls: 0,
            next_action_at: Some(now),
            submitted_at: None,
            polling_since: None,
            provider_customer_name: None,
            approved: false,
            confirm_intent: None,
            confirmed_at: None,
            notices: Vec::new(),
            notice_count: 0,
            nudged_at: None,
            parked: None,
            last_error: None,
            trace_id,
            traceparent: None,
            last_write: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// The reference a provider is given for cashout `id`.
    fn reference_for(provider: Provider, id: &CashoutId) -> String {
        match provider {
            Provider::Omt => format!("CO{}", id.simple_upper()),
            Provider::Omno => id.simple_upper().to_ascii_lowercase(),
            Provider::Camoo => id.to_string(),
        }
    }

    /// Gives a cashout that was never stored another id (and the reference derived from it):
    /// the store gives it the id of its idempotency key ([`CashoutId::for_key`]).
    pub fn reassign_id(&mut self, id: CashoutId) {
        self.id = id;
        self.external_reference = Self::reference_for(self.order.provider, &id);
    }

    /// Forgets secrets the cashout no longer needs (the OMT OTP once GETCTI has answered).
    pub fn scrub_secrets(&mut self) {
        self.order.recipient.scrub_secrets();
    }

    /// True when a worker should act on it now.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        !self.state.is_terminal()
            && self.parked.is_none()
            && self.next_action_at.is_some_and(|t| t <= now)
    }

    /// Applies `event` through the transition table. Returns the history line to append, or
    /// `None` when the event was already applied. Reaching a terminal state clears what was due
    /// and any submit intent.
    pub fn apply(
        &mut self,
        event: Event,
        cause: impl Into<String>,
        now: DateTime<Utc>,
    ) -> Result<Option<HistoryEntry>, IllegalTransition> {
        match transition(self.state, event)? {
            Decision::Apply { from, to } => {
                self.state = to;
                if to.is_terminal() {
                    self.next_action_at = None;
                    self.submit_intent = None;
                    self.hinted_provider_ref = None;
                }
                Ok(Some(self.entry(
                    now,
                    HistoryKind::Transition,
                    Some(from),
                    Some(to),
                    cause,
                )))
            }
            Decision::AlreadyApplied => Ok(None),
        }
    }

    /// A replay would be refused: a payout-creating call whose answer was lost with nothing
    /// that can tell us more (a Camoo or OMNO create not yet answered, or an OMT PAYCTI), or two
    /// payments for this one cashout. Only a person who checked with the provider settles it
    /// (resolve, discard). The console's `scan.lua` mirrors this rule.
    pub fn in_doubt(&self) -> bool {
        let lost_create = self.submit_intent.is_some()
            && self.hinted_provider_ref.is_none()
            && (self.state == State::Created || self.order.provider == Provider::Omt);
        let two_payments = self
            .parked
            .as_ref()
            .is_some_and(|p| p.reason == ParkReason::PossibleDoublePayout);
        lost_create || two_payments
    }

    /// Parks the cashout in its current state and returns the history line. A final cashout is
    /// never parked: the line then only notes what happened.
    pub fn park(&mut self, reason: ParkReason, detail: String, now: DateTime<Utc>) -> HistoryEntry {
        if self.state.is_terminal() {
            let cause = format!("not parked ({reason}), already {}: {detail}", self.state);
            return self.entry(now, HistoryKind::Note, None, None, cause);
        }
        self.next_action_at = None;
        self.last_error = Some(detail.clone());
        self.parked = Some(Parked {
            reason,
            at: now,
            detail: detail.clone(),
        });
        self.entry(
            now,
            HistoryKind::Parked,
            None,
            None,
            format!("{reason}: {detail}"),
        )
    }

    /// A history entry for this cashout.
    pub fn entry(
        &self,
        now: DateTime<Utc>,
        kind: HistoryKind,
        from: Option<State>,
        to: Option<State>,
        cause: impl Into<String>,
    ) -> HistoryEntry {
        HistoryEntry {
            at: now,
            kind,
            from,
            to,
            cause: cause.into(),
            attempt: self.attempts,
            trace_id: self.trace_id.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_kinds_serialise_as_their_words() {
        for k in HistoryKind::ALL {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(serde_json::from_str::<HistoryKind>(&json).unwrap(), k);
        }
        assert!(serde_json::from_str::<HistoryKind>("\"bogus\"").is_err());
    }
}
