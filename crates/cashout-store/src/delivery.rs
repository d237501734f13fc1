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
}

#[derive(Debug, Default)]
struct Ctx {
    cashout: Option<CashoutId>,
    lease: Option<String>,
    entry: Option<Entry>,
    acked: bool,
    released: bool,
    cached: Option<Cashout>,
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

/// The freshest known copy of `id`, if this delivery has one.
pub(crate) fn cached(id: &CashoutId) -> Option<Cashout> {
    with(|c| c.cached.as_ref().filter(|r| r.id == *id).cloned()).flatten()
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

/// True inside a delivery scope.
pub fn in_scope() -> bool {
    DELIVERY.try_with(|_| ()).is_ok()
}

/// True when a write of this delivery already gave the lease back.
pub fn lease_released() -> bool {
    with(|c| c.released).unwrap_or(false)
}
