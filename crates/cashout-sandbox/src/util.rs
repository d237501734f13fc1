//! Small helpers shared by the provider simulators: poison-tolerant locking, constant-time secret
//! comparison, timestamps, phone redaction, and stopping background tasks with their simulator.

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

/// Locks `mutex`, carrying on with the data if a panicking thread poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Constant-time equality of two secrets (compares their SHA-256 digests byte by byte).
pub(crate) fn secret_eq(given: &[u8], expected: &[u8]) -> bool {
    let a = Sha256::digest(given);
    let b = Sha256::digest(expected);
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Formats a UTC time as ISO-8601 with seconds and `Z`, e.g. `2026-11-21T05:00:00Z`.
pub(crate) fn iso(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The last three digits of a phone number (fewer if it has fewer).
pub(crate) fn last3(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    digits[digits.len().saturating_sub(3)..].iter().collect()
}

/// Runs `future` unless the simulator is dropped first (then `None`).
pub(crate) async fn unless_closed<F: Future>(
    closed: &mut watch::Receiver<()>,
    future: F,
) -> Option<F::Output> {
    tokio::select! {
        output = future => Some(output),
        // Nothing is ever sent: this resolves only when the sender (the simulator) is dropped.
        _ = closed.changed() => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_phones() {
        assert!(secret_eq(b"abc", b"abc"));
        assert!(!secret_eq(b"abc", b"abd"));
        assert!(!secret_eq(b"", b"abc"));
        assert_eq!(last3("+961 3 123 456"), "456");
        assert_eq!(last3("12"), "12");
        assert_eq!(last3(""), "");
    }
}
