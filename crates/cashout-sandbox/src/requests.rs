//! A log of the API requests each simulator received (when each started and ended), so tests can
//! check what a provider would see of our traffic: the most requests that arrived in any window
//! of a given length, and the most that were in flight at once (`GET /_admin/requests`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::Json;
use axum::extract::{Query, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

/// One request: when it started and when it was answered (µs since the log's epoch).
type Span = (u64, Option<u64>);

/// Requests received by one simulator: `(start, end)` in µs since the sandbox started; `end` is
/// `None` while the request is still being answered.
#[derive(Debug, Clone)]
pub struct RequestLog {
    epoch: Instant,
    spans: Arc<Mutex<BTreeMap<&'static str, Vec<Span>>>>,
}

/// Body of `GET /_admin/requests?provider=…&window_ms=…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestStats {
    /// Requests received in all.
    pub count: usize,
    /// The most requests whose start fell inside any window of `window_ms`.
    pub max_in_window: usize,
    /// The most requests in flight at the same moment.
    pub max_in_flight: usize,
}

/// Query of `GET /_admin/requests`.
#[derive(Debug, Deserialize)]
pub struct StatsQuery {
    /// `camoo`, `omt` or `omno`.
    pub provider: String,
    /// Window length for `max_in_window` (default 1000 ms).
    pub window_ms: Option<u64>,
}

impl Default for RequestLog {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestLog {
    /// An empty log whose clock starts now.
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            spans: Arc::default(),
        }
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn start(&self, provider: &'static str) -> usize {
        let now = self.now_us();
        let mut spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        let list = spans.entry(provider).or_default();
        list.push((now, None));
        list.len() - 1
    }

    fn end(&self, provider: &'static str, index: usize) {
        let now = self.now_us();
        let mut spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = spans.get_mut(provider).and_then(|l| l.get_mut(index)) {
            slot.1 = Some(now);
        }
    }

    /// What `provider`'s simulator has seen so far.
    pub fn stats(&self, provider: &str, window_ms: u64) -> RequestStats {
        let spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        let list = spans.get(provider).cloned().unwrap_or_default();
        drop(spans);
        stats_of(&list, window_ms.saturating_mul(1000))
    }
}

/// The figures of [`RequestStats`] over `(start, end)` spans, with a window of `window_us`.
fn stats_of(spans: &[Span], window_us: u64) -> RequestStats {
    let mut starts: Vec<u64> = spans.iter().map(|s| s.0).collect();
    starts.sort_unstable();
    // Two pointers: the most starts inside [starts[lo], starts[lo] + window).
    let mut max_in_window = 0;
    let mut lo = 0;
    for hi in 0..starts.len() {
        while starts[hi] >= starts[lo].saturating_add(window_us) {
            lo += 1;
        }
        max_in_window = max_in_window.max(hi - lo + 1);
    }
    // Sweep: +1 at each start, -1 at each end (an end before a start at the same µs).
    let mut events: Vec<(u64, i8)> = Vec::with_capacity(spans.len() * 2);
    for &(s, e) in spans {
        events.push((s, 1));
        if let Some(e) = e {
            events.push((e, -1));
        }
    }
    events.sort_unstable();
    let (mut now, mut max_in_flight) = (0i64, 0i64);
    for (_, d) in events {
        now += i64::from(d);
        max_in_flight = max_in_flight.max(now);
    }
    RequestStats {
        count: spans.len(),
        max_in_window,
        max_in_flight: usize::try_from(max_in_flight).unwrap_or(0),
    }
}

/// Middleware recording one simulator's requests under `provider`.
pub(crate) async fn track(
    State((log, provider)): State<(RequestLog, &'static str)>,
    request: Request,
    next: Next,
) -> Response {
    let index = log.start(provider);
    let response = next.run(request).await;
    log.end(provider, index);
    response
}

/// `GET /_admin/requests?provider=camoo&window_ms=1000`.
pub(crate) async fn get_stats(
    State(log): State<RequestLog>,
    Query(q): Query<StatsQuery>,
) -> Json<RequestStats> {
    Json(log.stats(&q.provider, q.window_ms.unwrap_or(1000).max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_concurrency_are_counted() {
        let spans = [
            (0, Some(500_000)),
            (100_000, Some(200_000)),
            (150_000, Some(1_200_000)),
            (999_999, Some(1_000_000)),
            (1_000_000, None),
            (3_000_000, Some(3_000_001)),
        ];
        let s = stats_of(&spans, 1_000_000);
        assert_eq!(s.count, 6);
        // [0, 1 s) holds the first four; [100 ms, 1.1 s) holds four too.
        assert_eq!(s.max_in_window, 4);
        // At 150 ms: the first three; at 1 s: #3, #5 (and #4 ended at that µs).
        assert_eq!(s.max_in_flight, 3);
        assert_eq!(stats_of(&spans, 1).max_in_window, 1);
        assert_eq!(stats_of(&[], 1_000_000).max_in_window, 0);
    }
}
