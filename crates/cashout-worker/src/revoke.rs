//! Revoke: `created` → `revoked` with no provider call; an OMT cashout in `submitted` → OMT
//! `Revoke {accountId}` → `revoked` on "Revoke Success"; anything else is refused with its
//! reason. Runs under the cashout's lease, so it cannot race a worker's step.

use crate::driver::Driver;
use cashout_core::HistoryKind;
use cashout_core::{Cashout, CashoutId, Event, Provider, Recipient, State};
use cashout_providers::ProviderError;
use cashout_providers::omt::OmtAnswer;
use cashout_store::{Change, Claim, Modified, StoreError};

/// Why a revoke did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// No such cashout.
    #[error("no such cashout")]
    NotFound,
    /// Final already.
    #[error("cashout is already {0}; it cannot be revoked")]
    Final(State),
    /// A worker holds the cashout, or a payout request may be in flight.
    #[error("a payout request for this cashout may be in flight; try again shortly")]
    InFlight,
    /// The provider has no way to revoke.
    #[error("{0} has no revoke: a submitted {0} cashout cannot be revoked")]
    NotSupported(Provider),
    /// The provider refused.
    #[error("the provider refused the revoke: {0}")]
    Refused(String),
    /// A `four_eyes` cashout approved by the producer that enqueued it.
    #[error("this cashout needs an approver other than '{0}', who enqueued it")]
    SameApprover(String),
    /// The provider could not be reached.
    #[error("the provider could not be asked: {0}")]
    Provider(ProviderError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an approve changes nothing (cloneable, for a compare-and-set retry).
#[derive(Debug, Clone, Copy)]
enum Refusal {
    Final(State),
    Refused(&'static str),
    SameApprover,
}

impl Driver {
    /// [`Driver::revoke`] in a task of its own, so it runs to its end even when the caller's
    /// future is dropped (an HTTP client that went away): a revoke that reached the provider
    /// must be recorded.
    pub async fn revoke_detached(
        self: &std::sync::Arc<Self>,
        id: CashoutId,
        actor: String,
    ) -> Result<Cashout, RevokeError> {
        self.detached(
            "revoke",
            move |d| async move { d.revoke(&id, &actor).await },
        )
        .await
    }

    /// [`Driver::approve`] in a task of its own (see [`Driver::revoke_detached`]).
    pub async fn approve_detached(
        self: &std::sync::Arc<Self>,
        id: CashoutId,
        actor: String,
    ) -> Result<Cashout, RevokeError> {
        self.detached(
            "approve",
            move |d| async move { d.approve(&id, &actor).await },
        )
        .await
    }

    async fn detached<F, Fut>(
        self: &std::sync::Arc<Self>,
        what: &'static str,
        action: F,
    ) -> Result<Cashout, RevokeError>
    where
        F: FnOnce(std::sync::Arc<Self>) -> Fut,
        Fut: std::future::Future<Output = Result<Cashout, RevokeError>> + Send + 'static,
    {
        tokio::spawn(action(std::sync::Arc::clone(self)))
            .await
            .unwrap_or_else(|e| Err(RevokeError::Refused(format!("the {what} stopped: {e}"))))
    }

    /// Revokes a cashout for `actor` (a token name or an operator).
    pub async fn revoke(&self, id: &CashoutId, actor: &str) -> Result<Cashout, RevokeError> {
        // As a delivery does: the write that ends the action gives the lease back in the same
        // script that delivers the next step, so no worker finds the cashout busy after it.
        cashout_store::delivery::scope(None, self.revoke_unscoped(id, actor))
            .await
            .0
    }

    async fn revoke_unscoped(&self, id: &CashoutId, actor: &str) -> Result<Cashout, RevokeError> {
        let token = Self::token();
        match self
            .store()
            .try_lease(id, &token, operator_lease(self.config().lease()))
            .await?
        {
            Claim::Claimed(..) => {}
            Claim::Missing => return Err(RevokeError::NotFound),
            Claim::Busy | Claim::NotDue => return Err(RevokeError::InFlight),
            // Only a delivery parks an undecodable record; an operator's lease reports it.
            Claim::Corrupt(message) => {
                return Err(RevokeError::Store(StoreError::Corrupt {
                    key: self.store().keys().record(id),
                    message,
                }));
            }
        }
        let result = self.revoke_leased(id, actor).await;
        let _ = self.store().release_lease(id, &token).await;
        result
    }

    async fn revoke_leased(&self, id: &CashoutId, actor: &str) -> Result<Cashout, RevokeError> {
        let Some(rec) = self.store().get(id).await? else {
            return Err(RevokeError::NotFound);
        };
        if rec.state.is_terminal() {
            return Err(RevokeError::Final(rec.state));
        }
        if rec.state == State::Created {
            if rec.submit_intent.is_some() || rec.hinted_provider_ref.is_some() {
                return Err(RevokeError::InFlight);
            }
            let cause = format!("revoked by {actor} before anything was sent");
            return self.finish(id, Event::RevokeRequested, cause).await;
        }
        match (&rec.order.recipient, rec.order.provider) {
            (Recipient::Omt(r), Provider::Omt) => {
                let Some(setup) = self.providers().omt.clone() else {
                    return Err(RevokeError::Refused("omt is not configured here".into()));
                };
                // Admitted before the account is taken: waiting holds nothing.
                let _permit = self.admit(Provider::Omt).await?;
                // OMT's Revoke acts on the account's pending cashout, whichever it is: only
                // while no other cashout of the account is with OMT (its account lease), held
                // for as long as the call may take.
                let account_lease = Self::token();
                let t = &setup.config.timeouts;
                let hold = self.config().lease()
                    + std::time::Duration::from_millis(t.connect_ms.saturating_add(t.status_ms));
                if !self
                    .store()
                    .try_omt_lease(r.account_id, &account_lease, hold)
                    .await?
                {
                    return Err(RevokeError::InFlight);
                }
                let answer = setup.client.revoke(r.account_id).await;
                if let Err(e) = self
                    .store()
                    .release_omt_lease(r.account_id, &account_lease)
                    .await
                {
                    tracing::warn!(error = %e, "could not release the omt account lease; it expires by itself");
                }
                match answer {
                    Ok(OmtAnswer::Ok(())) => {
                        let cause = format!("revoked by {actor}: omt Revoke Success");
                        self.finish(id, Event::ProviderRevoked, cause).await
                    }
                    Ok(OmtAnswer::Failed(f)) => {
                        self.note(id, format!("revoke by {actor} refused by omt: {f}"))
                            .await?;
                        Err(RevokeError::Refused(f.to_string()))
                    }
                    Err(e) => {
                        self.note(id, format!("revoke by {actor}: omt not reached: {e}"))
                            .await?;
                        Err(RevokeError::Provider(e))
                    }
                }
            }
            (Recipient::Omno(_), Provider::Omno) => {
                let Some(setup) = self.providers().omno.clone() else {
                    return Err(RevokeError::Refused("omno is not configured here".into()));
                };
                if rec.confirmed_at.is_some() || rec.confirm_intent.is_some() {
                    return Err(RevokeError::Refused(
                        "the payout is confirmed (or being confirmed) at OMNO; a confirmed \
                         payout cannot be rejected"
                            .into(),
                    ));
                }
                let Some(pid) = rec.provider_ref.clone() else {
                    return Err(RevokeError::InFlight);
                };
                let permit = self.admit(Provider::Omno).await?;
                let err = match setup.client.reject(&pid).await {
                    Ok(()) => {
                        let cause = format!("revoked by {actor}: omno payout {pid} rejected");
                        return self.finish(id, Event::ProviderRevoked, cause).await;
                    }
                    Err(e) => e,
                };
                drop(permit);
                // Whatever the error, the payout says whether the reject applied.
                let _permit = self.admit(Provider::Omno).await?;
                if let Ok(p) = setup.client.get(&pid).await
                    && p.outcome() == cashout_providers::omno::PayoutStatus::Rejected
                {
                    let cause = format!(
                        "revoked by {actor}: omno payout {pid} is {} (reject answer: {err})",
                        p.status
                    );
                    return self.finish(id, Event::ProviderRevoked, cause).await;
                }
                match err {
                    ProviderError::Http {
                        status, message, ..
                    } if (400..500).contains(&status) => {
                        let why = format!("omno refused the reject (HTTP {status}: {message})");
                        self.note(id, format!("revoke by {actor}: {why}")).await?;
                        Err(RevokeError::Refused(why))
                    }
                    e => {
                        self.note(id, format!("revoke by {actor}: omno not reached: {e}"))
                            .await?;
                        Err(RevokeError::Provider(e))
                    }
                }
            }
            (_, provider) => Err(RevokeError::NotSupported(provider)),
        }
    }

    /// Approves a manual-approval OMNO cashout: its confirm becomes due now.
    pub async fn approve(&self, id: &CashoutId, actor: &str) -> Result<Cashout, RevokeError> {
        cashout_store::delivery::scope(None, self.approve_unscoped(id, actor))
            .await
            .0
    }

    async fn approve_unscoped(&self, id: &CashoutId, actor: &str) -> Result<Cashout, RevokeError> {
        let token = Self::token();
        match self
            .store()
            .try_lease(id, &token, operator_lease(self.config().lease()))
            .await?
        {
            Claim::Claimed(..) => {}
            Claim::Missing => return Err(RevokeError::NotFound),
            Claim::Busy | Claim::NotDue => return Err(RevokeError::InFlight),
            // Only a delivery parks an undecodable record; an operator's lease reports it.
            Claim::Corrupt(message) => {
                return Err(RevokeError::Store(StoreError::Corrupt {
                    key: self.store().keys().record(id),
                    message,
                }));
            }
        }
        let cause = format!("approved by {actor}");
        let res = self
            .update(id, true, true, |r, now| {
                if r.state.is_terminal() {
                    return Change::Skip(Err(Refusal::Final(r.state)));
                }
                if r.order.provider != Provider::Omno || !r.order.approval.is_manual() {
                    return Change::Skip(Err(Refusal::Refused(
                        "only omno cashouts with manual approval are approved",
                    )));
                }
                if r.order.approval == cashout_core::Approval::FourEyes
                    && r.producer.as_str() == actor
                {
                    return Change::Skip(Err(Refusal::SameApprover));
                }
                if r.approved || r.confirmed_at.is_some() {
                    return Change::Skip(Err(Refusal::Refused("already approved")));
                }
                r.approved = true;
                if r.state == State::Submitted && r.parked.is_none() {
                    r.next_action_at = Some(now);
                }
                Change::Write {
                    entries: vec![r.entry(now, HistoryKind::Operator, None, None, cause.clone())],
                    value: Ok(()),
                }
            })
            .await;
        let _ = self.store().release_lease(id, &token).await;
        match res? {
            Modified::Written(c, _, _) => Ok(c),
            Modified::Skipped(_, Err(Refusal::Final(state))) => Err(RevokeError::Final(state)),
            Modified::Skipped(_, Err(Refusal::Refused(why))) => {
                Err(RevokeError::Refused(why.to_owned()))
            }
            Modified::Skipped(c, Err(Refusal::SameApprover)) => {
                Err(RevokeError::SameApprover(c.producer.as_str().to_owned()))
            }
            Modified::Skipped(c, Ok(())) => Ok(c),
            Modified::NotFound => Err(RevokeError::NotFound),
        }
    }

    async fn finish(
        &self,
        id: &CashoutId,
        event: Event,
        cause: String,
    ) -> Result<Cashout, RevokeError> {
        let res = self
            .update(id, true, false, |r, now| {
                match r.apply(event, cause.clone(), now) {
                    Ok(Some(line)) => {
                        r.scrub_secrets();
                        r.submit_intent = None;
                        let mut entries = Vec::new();
                        if r.parked.take().is_some() {
                            entries.push(r.entry(
                                now,
                                HistoryKind::Unparked,
                                None,
                                None,
                                cause.clone(),
                            ));
                        }
                        entries.push(line);
                        Change::Write {
                            entries,
                            value: Ok(()),
                        }
                    }
                    Ok(None) => Change::Skip(Ok(())),
                    Err(_) => Change::Skip(Err(r.state)),
                }
            })
            .await?;
        match res {
            Modified::Written(c, _, _) | Modified::Skipped(c, Ok(())) => Ok(c),
            Modified::Skipped(_, Err(state)) => Err(RevokeError::Final(state)),
            Modified::NotFound => Err(RevokeError::NotFound),
        }
    }

    async fn note(&self, id: &CashoutId, cause: String) -> Result<(), StoreError> {
        self.update(id, false, false, |r, now| Change::Write {
            entries: vec![r.entry(now, HistoryKind::Note, None, None, cause.clone())],
            value: (),
        })
        .await
        .map(|_| ())
    }
}

/// An operator action holds the cashout's lease without a heartbeat across one provider call:
/// long enough for any call's timeout.
fn operator_lease(lease: std::time::Duration) -> std::time::Duration {
    lease.max(std::time::Duration::from_secs(60))
}
