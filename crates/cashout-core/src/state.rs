//! The cashout state machine: the public states and the one table of legal transitions.
//! [`transition`] is pure: it returns a [`Decision`] and the caller does the IO (a
//! compare-and-set write of the record and its history).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The public state of a cashout, exactly as upstream sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Accepted by us; the provider has not been asked to pay (or we do not know yet).
    Created,
    /// The provider has been asked to pay and accepted the request.
    Submitted,
    /// The provider reports final success. Terminal.
    Confirmed,
    /// Revoked before payment, or the provider confirmed our revoke. Terminal.
    Revoked,
    /// The provider refused or reports final failure. Terminal.
    Failed,
}

impl State {
    /// Every state.
    pub const ALL: [State; 5] = [
        State::Created,
        State::Submitted,
        State::Confirmed,
        State::Revoked,
        State::Failed,
    ];

    /// Terminal states never change again.
    pub fn is_terminal(self) -> bool {
        match self {
            State::Created | State::Submitted => false,
            State::Confirmed | State::Revoked | State::Failed => true,
        }
    }

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Submitted => "submitted",
            State::Confirmed => "confirmed",
            State::Revoked => "revoked",
            State::Failed => "failed",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened, as far as the state machine is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The provider accepted the payout request.
    ProviderAccepted,
    /// The provider refused before accepting (validation, account not found, locked).
    ProviderRefused,
    /// A revoke was requested before anything was sent.
    RevokeRequested,
    /// The provider reports final success.
    ProviderConfirmed,
    /// The provider reports final failure.
    ProviderFailed,
    /// The provider confirmed our revoke or reject.
    ProviderRevoked,
}

impl Event {
    /// Every event.
    pub const ALL: [Event; 6] = [
        Event::ProviderAccepted,
        Event::ProviderRefused,
        Event::RevokeRequested,
        Event::ProviderConfirmed,
        Event::ProviderFailed,
        Event::ProviderRevoked,
    ];
}

/// What to do with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Write `from → to` (compare-and-set) and append it to the history.
    Apply {
        /// The state the record is in.
        from: State,
        /// The state to write.
        to: State,
    },
    /// The event was already applied (a duplicate notification or delivery): write nothing.
    AlreadyApplied,
}

/// An event that the table does not allow in the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal transition: {event:?} in state {state}")]
pub struct IllegalTransition {
    /// The current state.
    pub state: State,
    /// The refused event.
    pub event: Event,
}

/// The target of an event, independent of the current state.
fn target(event: Event) -> State {
    match event {
        Event::ProviderAccepted => State::Submitted,
        Event::ProviderRefused | Event::ProviderFailed => State::Failed,
        Event::RevokeRequested | Event::ProviderRevoked => State::Revoked,
        Event::ProviderConfirmed => State::Confirmed,
    }
}

/// The transition table of DESIGN.md. Nothing else may change a state.
///
/// | from | event | to |
/// |---|---|---|
/// | created | provider_accepted | submitted |
/// | created | provider_refused | failed |
/// | created | revoke_requested | revoked |
/// | submitted | provider_confirmed | confirmed |
/// | submitted | provider_failed | failed |
/// | submitted | provider_revoked | revoked |
///
/// An event whose target is the current state and which the table allows into that state
/// (a repeated confirmation, say) is [`Decision::AlreadyApplied`]; anything else is illegal.
pub fn transition(state: State, event: Event) -> Result<Decision, IllegalTransition> {
    use Event as E;
    use State as S;
    let legal = matches!(
        (state, event),
        (
            S::Created,
            E::ProviderAccepted | E::ProviderRefused | E::RevokeRequested
        ) | (
            S::Submitted,
            E::ProviderConfirmed | E::ProviderFailed | E::ProviderRevoked
        )
    );
    if legal {
        return Ok(Decision::Apply {
            from: state,
            to: target(event),
        });
    }
    let repeat = matches!(
        (state, event),
        (S::Submitted, E::ProviderAccepted)
            | (S::Confirmed, E::ProviderConfirmed)
            | (S::Failed, E::ProviderFailed | E::ProviderRefused)
            | (S::Revoked, E::ProviderRevoked | E::RevokeRequested)
    );
    if repeat {
        Ok(Decision::AlreadyApplied)
    } else {
        Err(IllegalTransition { state, event })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The table, written out independently of `transition`, as (from, to) pairs.
    const TABLE: [(State, State); 6] = [
        (State::Created, State::Submitted),
        (State::Created, State::Failed),
        (State::Created, State::Revoked),
        (State::Submitted, State::Confirmed),
        (State::Submitted, State::Failed),
        (State::Submitted, State::Revoked),
    ];

    #[test]
    fn exhaustive_table() {
        use Decision::*;
        use Event as E;
        use State as S;
        let expected = |s: State, e: Event| -> Option<Decision> {
            match (s, e) {
                (S::Created, E::ProviderAccepted) => Some(Apply {
                    from: s,
                    to: S::Submitted,
                }),
                (S::Created, E::ProviderRefused) => Some(Apply {
                    from: s,
                    to: S::Failed,
                }),
                (S::Created, E::RevokeRequested) => Some(Apply {
                    from: s,
                    to: S::Revoked,
                }),
                (S::Submitted, E::ProviderConfirmed) => Some(Apply {
                    from: s,
                    to: S::Confirmed,
                }),
                (S::Submitted, E::ProviderFailed) => Some(Apply {
                    from: s,
                    to: S::Failed,
                }),
                (S::Submitted, E::ProviderRevoked) => Some(Apply {
                    from: s,
                    to: S::Revoked,
                }),
                (S::Submitted, E::ProviderAccepted)
                | (S::Confirmed, E::ProviderConfirmed)
                | (S::Failed, E::ProviderFailed | E::ProviderRefused)
                | (S::Revoked, E::ProviderRevoked | E::RevokeRequested) => Some(AlreadyApplied),
                _ => None,
            }
        };
        for s in State::ALL {
            for e in Event::ALL {
                match expected(s, e) {
                    Some(d) => assert_eq!(transition(s, e), Ok(d), "{s} {e:?}"),
                    None => assert_eq!(
                        transition(s, e),
                        Err(IllegalTransition { state: s, event: e }),
                        "{s} {e:?}"
                    ),
                }
            }
        }
    }

    #[test]
    fn terminal_states() {
        assert!(!State::Created.is_terminal());
        assert!(!State::Submitted.is_terminal());
        assert!(State::Confirmed.is_terminal());
        assert!(State::Revoked.is_terminal());
        assert!(State::Failed.is_terminal());
    }

    #[test]
    fn created_cannot_jump_to_confirmed() {
        assert!(transition(State::Created, Event::ProviderConfirmed).is_err());
        assert!(transition(State::Confirmed, Event::ProviderFailed).is_err());
    }

    proptest! {
        /// Whatever events arrive, in whatever order: every applied step is in the table, and
        /// once a terminal state is reached it never changes.
        #[test]
        fn no_sequence_leaves_terminal_or_skips_the_table(
            events in proptest::collection::vec(0usize..Event::ALL.len(), 0..40)
        ) {
            let mut state = State::Created;
            let mut terminal_seen: Option<State> = None;
            for i in events {
                let e = Event::ALL[i];
                if let Ok(Decision::Apply { from, to }) = transition(state, e) {
                    prop_assert_eq!(from, state);
                    prop_assert!(TABLE.contains(&(from, to)), "{from} -> {to} not in table");
                    state = to;
                }
                if let Some(t) = terminal_seen {
                    prop_assert_eq!(state, t);
                }
                if state.is_terminal() {
                    terminal_seen = Some(state);
                }
            }
        }
    }
}
