//! The cashout domain: identifiers, money, recipients, orders, the state machine and the
//! classification of provider errors. No IO lives here: every type is parsed at the edge and
//! every rule is a pure function tested without tokio or Redis.

pub mod cashout;
pub mod error;
pub mod ids;
pub mod money;
pub mod order;
pub mod provider;
pub mod recipient;
pub mod state;

pub use cashout::{Cashout, HistoryEntry, HistoryKind, Parked, SubmitIntent};
pub use error::{Disposition, ParkReason};
pub use ids::{CashoutId, IdempotencyKey, ProducerName, TraceId};
pub use money::{Amount, Currency};
pub use order::{Approval, CashoutOrder, FieldError};
pub use provider::Provider;
pub use recipient::{
    CamooRecipient, OmnoBilling, OmnoRecipient, OmtAccountId, OmtRecipient, Otp, PhoneNumber,
    Recipient,
};
pub use state::{Decision, Event, IllegalTransition, State, transition};
