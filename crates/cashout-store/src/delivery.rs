//! The context of one delivery, carried by the task that handles it (a tokio task-local), so
//! that every write the step makes can save Redis work without threading it through each
//! provider flow:
//! - the record as last read or written, so the first compare-and-set of a write needs no
//!   read (a conflict falls back to reading);
//! - the lease token and the stream entry, so the write that completes the step also gives
//!   the lease back and acknowledges the entry, in the same script.
//!
//! Outside a delivery (API, operator commands) nothing is cached and nothing is acked.

use cashout_core::{Cashout, CashoutId};
use std::cell::RefCell;
use std::future::Future;

/// A stream entry being handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The stream key.
    pub stream: String,
    /// The entry id (`ms-seq`).
    pub id: String,
    /// The provider whose stream it is.
    pub provider: cashout_core::Provider,
    /// Claimed from a dead consumer (`XAUTOCLAIM`): delivered before, so its claim counts it
    /// (a crash loop ends as `poison`). A first delivery is read without a claim script
    /// ([`Store::peek`](crate::Store::peek)).
    pub redelivered: bool,
}

#[derive(Debug, Default)]
struct Ctx {
    cashout: Option<CashoutId>,
    lease: Option<String>,
    /// Read without a lease ([`peeked`]): the token the delivery's first write takes the lease
    /// with, for this long.
    lazy: Option<(String, std::time::Duration)>,
    entry: Option<Entry>,
    acked: bool,
    released: bool,
    cached: Option<Cashout>,
    /// The driver lets a write that completes a step keep the delivery going when the next
    /// step is due within this long (see [`allow_continue`]).
    continue_within: Option<std::time::Duration>,
    /// Set by such a write: the next step is due then, in this same delivery.
    continue_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Set by the step just before its completing write, when the step it leaves next is one
    /// that may run in this delivery (a status read, which needs no lease).
    next_may_continue: bool,
}

tokio::task_local! {
    static DELIVERY: RefCell<Ctx>;
}

/// Runs `fut` as the delivery of `entry` (None for a delivery outside the stream, e.g. a test
/// or a direct call).
pub async fn scope<F: Future>(entry: Option<Entry>, fut: F) -> (F::Output, Outcome) {
    let ctx = RefCell::new(Ctx {
        entry,
        ..Ctx::default()
    });
    DELIVERY
        .scope(ctx, async {
            let out = fut.await;
            let outcome = DELIVERY.with(|c| {
                let c = c.borrow();
                Outcome { acked: c.acked }
            });
            (out, outcome)
        })
        .await
}

/// What the delivery's writes did on its behalf.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The stream entry was acknowledged by a write.
    pub acked: bool,
}

fn with<R>(f: impl FnOnce(&mut Ctx) -> R) -> Option<R> {
    DELIVERY.try_with(|c| f(&mut c.borrow_mut())).ok()
}

/// The delivery now holds `id`'s lease under `token`; `rec` is the record as claimed.
pub(crate) fn claimed(id: CashoutId, token: &str, rec: &Cashout) {
    with(|c| {
        c.cashout = Some(id);
        c.lease = Some(token.to_owned());
        c.cached = Some(rec.clone());
    });
}

/// The freshest known copy of `id`, if this delivery has one (as claimed, or as its last
/// write left it).
pub fn cached(id: &CashoutId) -> Option<Cashout> {
    with(|c| c.cached.as_ref().filter(|r| r.id == *id).cloned()).flatten()
}

/// The delivery read `id` without taking its lease (`rec` as read): its first write that does
/// not complete the step (a create's intent) checks that nobody else holds a live lease and
/// takes it under `token` for `lease`; a completing write is not checked (its compare-and-set
/// is enough).
pub(crate) fn peeked(id: CashoutId, token: &str, lease: std::time::Duration, rec: &Cashout) {
    with(|c| {
        c.cashout = Some(id);
        c.lease = None;
        c.lazy = Some((token.to_owned(), lease));
        c.cached = Some(rec.clone());
    });
}

/// For a write of `id` in a delivery that read it without a lease: the token to check the
/// lease against (and to take it with), and for how long.
pub(crate) fn lease_to_take(id: &CashoutId) -> Option<(String, std::time::Duration)> {
    with(|c| {
        if c.cashout == Some(*id) {
            c.lazy.clone()
        } else {
            None
        }
    })
    .flatten()
}

/// A write of `id` took the lease with the token [`lease_to_take`] gave (or a retried write
/// found such a write applied, its reply lost): from now on the delivery holds it as after a
/// claim.
pub fn lease_taken(id: &CashoutId) {
    with(|c| {
        if c.cashout == Some(*id)
            && let Some((token, _)) = c.lazy.take()
        {
            c.lease = Some(token);
        }
    });
}

/// True when this delivery holds a lease it has not given back (to renew, or to release at
/// the end).
pub fn holds_lease() -> bool {
    with(|c| c.lease.is_some() && !c.released).unwrap_or(false)
}

/// Remember (or forget, on a conflict) the freshest copy.
pub(crate) fn remember(id: &CashoutId, rec: Option<&Cashout>) {
    with(|c| {
        if c.cashout == Some(*id) {
            c.cached = rec.cloned();
        }
    });
}

/// For a write of `id` that completes the step: the lease to give back and the entry to ack.
pub(crate) fn finishing(id: &CashoutId) -> (Option<String>, Option<Entry>) {
    with(|c| {
        if c.cashout != Some(*id) {
            return (None, None);
        }
        let lease = if c.released { None } else { c.lease.clone() };
        let entry = if c.acked { None } else { c.entry.clone() };
        (lease, entry)
    })
    .unwrap_or((None, None))
}

/// The write that carried [`finishing`]'s lease and entry was applied.
pub(crate) fn finished(id: &CashoutId, lease: bool, entry: bool) {
    with(|c| {
        if c.cashout == Some(*id) {
            c.released |= lease;
            c.acked |= entry;
        }
    });
}

/// The stream entry of this delivery, unless a write already acknowledged it.
pub(crate) fn pending_entry() -> Option<Entry> {
    with(|c| if c.acked { None } else { c.entry.clone() }).flatten()
}

/// A script acknowledged this delivery's stream entry.
pub(crate) fn acked() {
    with(|c| c.acked = true);
}

/// Lets a write that completes a step of this delivery's cashout keep the delivery going when
/// the step says so ([`next_may_continue`]) and the step it schedules is due within `within`:
/// the write then gives the lease back as usual but keeps the stream entry (still pending, so
/// a dead worker's cashout is claimed again) and schedules nothing, and the driver runs that
/// step itself ([`take_continue`]). Saves the ack, the next delivery's stream entry and its
/// claim.
pub fn allow_continue(within: std::time::Duration) {
    with(|c| c.continue_within = Some(within));
}

/// Called by a step inside the closure of its completing write: the step that write leaves
/// next (`yes`) needs no lease (a status read), so it may run in this delivery.
pub fn next_may_continue(yes: bool) {
    with(|c| c.next_may_continue = yes);
}

/// How soon a step must be due for the completing write of `id` being saved to continue this
/// delivery: only inside a delivery of `id` read from a stream, whose entry is pending, when
/// the driver allowed it and the step said the next one may continue (asked once per write).
pub(crate) fn may_continue(id: &CashoutId) -> Option<std::time::Duration> {
    with(|c| {
        let asked = std::mem::take(&mut c.next_may_continue);
        if !asked || c.cashout != Some(*id) || c.acked || c.entry.is_none() {
            return None;
        }
        c.continue_within
    })
    .flatten()
}

/// A completing write of this delivery continued it: its next step is due at `at`.
pub(crate) fn continuing(at: chrono::DateTime<chrono::Utc>) {
    with(|c| {
        c.continue_at = Some(at);
        c.continue_within = None;
    });
}

/// When the step a write continued this delivery with is due (taken: asked once per step), and
/// forbids continuing until [`allow_continue`] again.
pub fn take_continue() -> Option<chrono::DateTime<chrono::Utc>> {
    with(|c| {
        c.continue_within = None;
        c.continue_at.take()
    })
    .flatten()
}

/// True when this delivery holds `id`'s stream entry unacknowledged: a write that does not
/// complete the step need not touch the due zset, since the entry (claimed again if this
/// worker dies) and the completing write cover the cashout.
pub(crate) fn holds_entry(id: &CashoutId) -> bool {
    with(|c| c.cashout == Some(*id) && !c.acked && c.entry.is_some()).unwrap_or(false)
}

/// True inside a delivery scope.
pub fn in_scope() -> bool {
    DELIVERY.try_with(|_| ()).is_ok()
}
