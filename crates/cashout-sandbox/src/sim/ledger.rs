//! A simulator's ledger: its own store and its call counts behind one lock, the [`Payouts`] store
//! the simulators that keep payouts share, and the audit of what they executed.

use std::collections::HashMap;
use std::hash::Hash;
use std::marker::PhantomData;

use chrono::{DateTime, Utc};

use super::{Counts, Sim, Simulator};
use crate::audit::AuditEntry;
use crate::util::iso;

/// Everything a simulator changes on a call, behind one lock: checking, counting and executing
/// happen together, with no `.await`, so a client that disconnects cannot undo half of it.
pub(crate) struct Ledger<P: Simulator> {
    /// Authenticated calls per endpoint, in total and per subject.
    pub(crate) calls: CallLog<P::Counts, P::Subject, P::Endpoint>,
    /// The simulator's own state.
    pub(crate) store: P::Store,
}

/// Call counts in total and per subject (an account, an order).
pub(crate) struct CallLog<C, K, E> {
    total: C,
    by_subject: HashMap<K, C>,
    endpoint: PhantomData<fn(E)>,
}

impl<C: Default, K, E> Default for CallLog<C, K, E> {
    fn default() -> Self {
        Self {
            total: C::default(),
            by_subject: HashMap::new(),
            endpoint: PhantomData,
        }
    }
}

impl<C: Counts<E>, K: Eq + Hash, E: Copy> CallLog<C, K, E> {
    /// Counts a call of `endpoint`, also for `subject` when there is one.
    pub(crate) fn record(&mut self, endpoint: E, subject: Option<K>) {
        self.tally(subject, |counts| *counts.slot(endpoint) += 1);
    }

    /// Applies `count` to the total and, when there is one, to `subject`'s counts.
    pub(crate) fn tally(&mut self, subject: Option<K>, count: impl Fn(&mut C)) {
        count(&mut self.total);
        if let Some(subject) = subject {
            count(self.by_subject.entry(subject).or_default());
        }
    }

    /// All calls (`None`) or those of one subject (zero when it made none).
    pub(crate) fn counts(&self, subject: Option<&K>) -> C {
        match subject {
            Some(subject) => self.by_subject.get(subject).copied().unwrap_or_default(),
            None => self.total,
        }
    }
}

/// Payouts by id, listed in creation order.
#[derive(Debug)]
pub(crate) struct Payouts<T> {
    list: Vec<T>,
    index: HashMap<String, usize>,
}

impl<T> Default for Payouts<T> {
    fn default() -> Self {
        Self {
            list: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<T> Payouts<T> {
    /// Stores a new payout under `id` (ids are fresh UUIDs: never taken).
    pub(crate) fn insert(&mut self, id: String, payout: T) {
        self.index.insert(id, self.list.len());
        self.list.push(payout);
    }

    /// The payout `id`.
    pub(crate) fn get(&self, id: &str) -> Option<&T> {
        self.list.get(*self.index.get(id)?)
    }

    /// The payout `id`, to change it.
    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        self.list.get_mut(*self.index.get(id)?)
    }

    /// Every payout, in creation order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.list.iter()
    }
}

/// A payout a simulator executed ("money sent"), for the audit.
#[derive(Debug)]
pub(crate) struct Execution {
    /// The provider's id of the payout.
    pub(crate) provider_id: String,
    /// The client's reference, when it sent one.
    pub(crate) external_reference: Option<String>,
    /// Amount in major units, normalised (`"1500"`, `"12.50"`).
    pub(crate) amount: String,
    /// ISO-4217 code.
    pub(crate) currency: String,
    /// Last three digits of the beneficiary's phone.
    pub(crate) phone_last3: String,
    /// When it was executed.
    pub(crate) at: DateTime<Utc>,
}

impl<P: Simulator> Sim<P> {
    /// Records an executed payout in the sandbox's audit. Call it under the ledger lock, in the
    /// same critical section that executes the payout.
    pub(crate) fn record_payout(&self, execution: Execution) {
        tracing::info!(
            provider = P::NAME,
            provider_id = %execution.provider_id,
            external_reference = ?execution.external_reference,
            amount = %execution.amount,
            currency = %execution.currency,
            phone_last3 = %execution.phone_last3,
            "payout executed"
        );
        self.audit.record(AuditEntry {
            provider: P::NAME.to_owned(),
            provider_id: execution.provider_id,
            external_reference: execution.external_reference,
            amount: execution.amount,
            currency: execution.currency,
            phone_last3: execution.phone_last3,
            executed_at: iso(execution.at),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, Default, serde::Serialize)]
    struct Two {
        a: u64,
        b: u64,
    }

    impl Counts<bool> for Two {
        fn slot(&mut self, endpoint: bool) -> &mut u64 {
            if endpoint { &mut self.a } else { &mut self.b }
        }
    }

    #[test]
    fn calls_count_in_total_and_per_subject() {
        let mut log: CallLog<Two, &str, bool> = CallLog::default();
        log.record(true, Some("x"));
        log.record(true, None);
        log.record(false, Some("y"));
        log.tally(Some("x"), |c| c.b += 10);
        assert_eq!((log.counts(None).a, log.counts(None).b), (2, 11));
        assert_eq!(
            (log.counts(Some(&"x")).a, log.counts(Some(&"x")).b),
            (1, 10)
        );
        assert_eq!((log.counts(Some(&"y")).a, log.counts(Some(&"y")).b), (0, 1));
        assert_eq!(log.counts(Some(&"z")).a + log.counts(Some(&"z")).b, 0);
    }

    #[test]
    fn payouts_keep_creation_order() {
        let mut payouts = Payouts::default();
        for id in ["c", "a", "b"] {
            payouts.insert(id.to_owned(), id.to_uppercase());
        }
        if let Some(p) = payouts.get_mut("a") {
            p.push('!');
        }
        assert_eq!(payouts.get("a").map(String::as_str), Some("A!"));
        assert_eq!(payouts.get("d"), None);
        let order: Vec<&str> = payouts.iter().map(String::as_str).collect();
        assert_eq!(order, ["C", "A!", "B"]);
    }
}
