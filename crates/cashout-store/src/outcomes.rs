//! Outcome counts per minute: the write that finishes a cashout (confirmed, failed, revoked) or
//! parks it counts it in its partition's hash of that minute (`save.lua`), kept two hours. The
//! console's last-hour throughput and failure rate read them.

use crate::store::{Store, StoreError};
use cashout_core::{Provider, State};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// What happened in one span of time, across all partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcomes {
    /// Finished, by provider and final state.
    pub finished: HashMap<(Provider, State), u64>,
    /// Parked, by provider.
    pub parked: HashMap<Provider, u64>,
}

impl Outcomes {
    /// Cashouts that reached `state`, all providers.
    pub fn in_state(&self, state: State) -> u64 {
        self.finished
            .iter()
            .filter(|((_, s), _)| *s == state)
            .map(|(_, n)| n)
            .sum()
    }

    /// Cashouts finished, all providers and states.
    pub fn finished_total(&self) -> u64 {
        self.finished.values().sum()
    }

    /// Cashouts parked, all providers.
    pub fn parked_total(&self) -> u64 {
        self.parked.values().sum()
    }

    fn add(&mut self, field: &str, n: u64) {
        let Some((p, what)) = field.split_once(':') else {
            return;
        };
        let Ok(p) = p.parse::<Provider>() else {
            return;
        };
        if what == "parked" {
            *self.parked.entry(p).or_default() += n;
        } else if let Some(s) = State::ALL.into_iter().find(|s| s.as_str() == what) {
            *self.finished.entry((p, s)).or_default() += n;
        }
    }
}

impl Store {
    /// The outcomes of the last `spans` spans of `span_minutes` minutes each, oldest first,
    /// the last one ending with the current minute. One pipelined round trip per partition.
    pub async fn recent_outcomes(
        &self,
        spans: usize,
        span_minutes: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<Outcomes>, StoreError> {
        let minute = now.timestamp_millis().div_euclid(60_000);
        let minutes = i64::try_from(spans * span_minutes).unwrap_or(i64::MAX);
        let mut out = vec![Outcomes::default(); spans];
        let mut conn = self.connection();
        for p in self.keys().all_partitions() {
            let mut pipe = redis::pipe();
            for m in (minute - minutes + 1)..=minute {
                pipe.hgetall(self.keys().outcomes(p, m));
            }
            let all: Vec<HashMap<String, u64>> = pipe.query_async(&mut conn).await?;
            for (i, fields) in all.into_iter().enumerate() {
                let span = i / span_minutes.max(1);
                if let Some(o) = out.get_mut(span) {
                    for (f, n) in fields {
                        o.add(&f, n);
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_back_by_provider_and_state() {
        let mut o = Outcomes::default();
        o.add("camoo:confirmed", 3);
        o.add("omno:failed", 2);
        o.add("camoo:parked", 1);
        o.add("garbage", 9);
        o.add("camoo:nonsense", 9);
        assert_eq!(o.in_state(State::Confirmed), 3);
        assert_eq!(o.in_state(State::Failed), 2);
        assert_eq!(o.finished_total(), 5);
        assert_eq!(o.parked_total(), 1);
    }
}
