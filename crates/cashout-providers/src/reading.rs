//! One vocabulary for what every provider says about a payout. Each adapter's exhaustive status
//! map (`camoo::PaymentStatus`, `omno::PayoutStatus`) converts into [`PayoutOutcome`], and each
//! answer that names a payout converts into a [`Reading`], so the worker decides on one type
//! whatever the provider.

use crate::{camoo, omno};

/// What a payout's status means for us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutOutcome {
    /// Created, and waiting for our confirm (OMNO).
    AwaitingConfirmation,
    /// Not final: read again later.
    InFlight,
    /// Paid.
    Succeeded,
    /// Not paid, finally.
    Failed,
    /// Rejected (revoked) before it was paid.
    Rejected,
}

impl PayoutOutcome {
    /// A final outcome: no more reads.
    pub fn is_final(self) -> bool {
        match self {
            Self::Succeeded | Self::Failed | Self::Rejected => true,
            Self::AwaitingConfirmation | Self::InFlight => false,
        }
    }
}

impl From<camoo::PaymentStatus> for PayoutOutcome {
    fn from(s: camoo::PaymentStatus) -> Self {
        match s {
            camoo::PaymentStatus::InFlight => Self::InFlight,
            camoo::PaymentStatus::Succeeded => Self::Succeeded,
            camoo::PaymentStatus::Failed => Self::Failed,
        }
    }
}

impl From<omno::PayoutStatus> for PayoutOutcome {
    fn from(s: omno::PayoutStatus) -> Self {
        match s {
            omno::PayoutStatus::AwaitingConfirmation => Self::AwaitingConfirmation,
            omno::PayoutStatus::InFlight => Self::InFlight,
            omno::PayoutStatus::Succeeded => Self::Succeeded,
            omno::PayoutStatus::Failed => Self::Failed,
            omno::PayoutStatus::Rejected => Self::Rejected,
        }
    }
}

/// One answer about a payout (a create's or a read's), in our vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The provider's id of the payout.
    pub reference: String,
    /// Our reference as the provider echoed it, if it did.
    pub external_reference: Option<String>,
    /// The raw status, for the history.
    pub status: String,
    /// What the status means.
    pub outcome: PayoutOutcome,
    /// Why it ended as it did, if the provider says (redacted, one line).
    pub reason: Option<String>,
    /// A currency conversion the provider applied (`"100 USD → 90 EUR"`).
    pub conversion: Option<String>,
}

impl From<&camoo::Payment> for Reading {
    fn from(p: &camoo::Payment) -> Self {
        Self {
            reference: p.id.clone(),
            external_reference: p.external_reference.clone(),
            status: p.status.clone(),
            outcome: p.outcome().into(),
            reason: None,
            conversion: None,
        }
    }
}

impl From<&omno::Created> for Reading {
    fn from(c: &omno::Created) -> Self {
        Self {
            reference: c.payout_id.clone(),
            external_reference: None,
            status: c.status.clone(),
            outcome: omno::PayoutStatus::from(omno::OmnoStatus::parse(&c.status)).into(),
            reason: None,
            conversion: None,
        }
    }
}

impl Reading {
    /// A read of OMNO payout `reference`.
    pub fn omno(reference: &str, p: &omno::Payout) -> Self {
        Self {
            reference: p.payout_id.clone().unwrap_or_else(|| reference.to_owned()),
            external_reference: p.order_id.clone(),
            status: p.status.clone(),
            outcome: p.outcome().into(),
            reason: p.reason(),
            conversion: p.conversion(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_status_lands_in_one_outcome() {
        use camoo::PaymentStatus as C;
        use omno::PayoutStatus as O;
        assert_eq!(PayoutOutcome::from(C::InFlight), PayoutOutcome::InFlight);
        assert_eq!(PayoutOutcome::from(C::Succeeded), PayoutOutcome::Succeeded);
        assert_eq!(PayoutOutcome::from(C::Failed), PayoutOutcome::Failed);
        assert_eq!(
            PayoutOutcome::from(O::AwaitingConfirmation),
            PayoutOutcome::AwaitingConfirmation
        );
        assert_eq!(PayoutOutcome::from(O::Rejected), PayoutOutcome::Rejected);
        assert!(PayoutOutcome::Rejected.is_final());
        assert!(!PayoutOutcome::InFlight.is_final());
    }

    #[test]
    fn a_camoo_payment_reads_as_one() {
        let p: camoo::Payment = serde_json::from_value(serde_json::json!({
            "id": 42, "external_reference": "ref-1", "status": "SUCCESS"
        }))
        .unwrap();
        let r = Reading::from(&p);
        assert_eq!(r.reference, "42");
        assert_eq!(r.external_reference.as_deref(), Some("ref-1"));
        assert_eq!(r.outcome, PayoutOutcome::Succeeded);
    }
}
