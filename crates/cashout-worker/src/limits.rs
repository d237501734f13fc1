//! Admission of provider calls under `providers.<p>.limits`, shared by every worker process
//! through Redis (see `cashout_store::limits`). A call waits here, before anything about it is
//! written: a create's intent is written only once the call may go, so a process that dies
//! while waiting leaves nothing in doubt.

use crate::driver::{Driver, Providers};
use cashout_core::Provider;
use cashout_providers::CallLimits;
use cashout_store::limits::{Admission, LimitSpec};
use cashout_store::{Store, StoreError};
use std::time::{Duration, Instant};
use tracing::debug;

/// How long a call first waits before asking again when every in-flight slot is taken; the
/// wait doubles (jittered) up to [`FULL_RETRY_MAX`], so many waiters do not hammer Redis.
const FULL_RETRY: Duration = Duration::from_millis(20);
const FULL_RETRY_MAX: Duration = Duration::from_millis(500);

/// The script's form of a provider's limits.
pub(crate) fn spec(limits: &CallLimits) -> LimitSpec {
    LimitSpec {
        interval_us: limits.interval_us(),
        burst: limits.burst.max(1),
        max_in_flight: limits.max_in_flight,
        hold_ms: limits.hold_ms,
    }
}

impl Providers {
    /// The configured limits of `provider` (none when it is not configured here).
    pub(crate) fn limits(&self, provider: Provider) -> LimitSpec {
        match provider {
            Provider::Camoo => self.camoo.as_ref().map(|c| spec(&c.limits)),
            Provider::Omt => self.omt.as_ref().map(|o| spec(&o.config.limits)),
            Provider::Omno => self.omno.as_ref().map(|o| spec(&o.config.limits)),
        }
        .unwrap_or_default()
    }
}

/// The right to make one provider call; dropping it frees its in-flight slot.
#[must_use = "the call must be made while the permit is held"]
pub(crate) struct CallPermit {
    slot: Option<(Store, Provider, String)>,
}

impl Drop for CallPermit {
    fn drop(&mut self) {
        let Some((store, provider, token)) = self.slot.take() else {
            return;
        };
        // The slot frees itself after `hold_ms` if this release never lands.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = store.release_call(provider, &token).await {
                    debug!(%provider, error = %e, "in-flight slot not released; it expires by itself");
                }
            });
        }
    }
}

impl Driver {
    /// Waits until a call to `provider` is allowed by its limits, across all workers. Without
    /// limits it returns at once, without a round trip.
    pub(crate) async fn admit(&self, provider: Provider) -> Result<CallPermit, StoreError> {
        let spec = self.providers().limits(provider);
        if spec.is_unlimited() {
            return Ok(CallPermit { slot: None });
        }
        let token = Self::token();
        let started = Instant::now();
        let mut full_wait = FULL_RETRY;
        loop {
            match self.store().admit_call(provider, &spec, &token).await? {
                Admission::Granted => {
                    metrics::histogram!("cashout_provider_admission_wait_seconds",
                        "provider" => provider.as_str())
                    .record(started.elapsed().as_secs_f64());
                    let slot =
                        (spec.max_in_flight > 0).then(|| (self.store().clone(), provider, token));
                    return Ok(CallPermit { slot });
                }
                Admission::Wait(d) => {
                    // Waiters woken together would ask together: spread them a little.
                    let spread =
                        crate::schedule::full_jitter((d / 4).min(Duration::from_millis(20)));
                    tokio::time::sleep(d + spread).await;
                }
                Admission::Full => {
                    tokio::time::sleep(full_wait + crate::schedule::full_jitter(full_wait)).await;
                    full_wait = (full_wait * 2).min(FULL_RETRY_MAX);
                }
            }
        }
    }
}
