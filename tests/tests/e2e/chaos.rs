//! The chaos suite, bounded: `make chaos` runs 5,000 cashouts for minutes; this is the same
//! scenario with 300 cashouts, one worker `kill -9`, one API `kill -9` and one Redis `kill -9`
//! (AOF, same data), the provider proxy injecting resets, dropped answers and delays past the
//! client timeout, and the same audit.

use cashout_chaos::{ChaosConfig, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_short_chaos_run_loses_nothing_and_pays_nothing_twice() {
    let report = run(ChaosConfig::short(cashout_tests::cashout_bin()))
        .await
        .expect("the chaos run could not be carried out");
    println!("{report}");
    assert!(report.failures().is_empty(), "{report}");
    // The faults did happen, so the zeros above mean something.
    assert_eq!(report.worker_kills, 1, "{report}");
    for what in ["api kill -9", "redis kill -9"] {
        assert_eq!(
            report.events.iter().filter(|e| e.contains(what)).count(),
            1,
            "{what}: {report}"
        );
    }
    let faults: u64 = report.proxy.iter().map(|(_, n)| n[1] + n[2] + n[3]).sum();
    assert!(faults > 0, "{report}");
    assert!(
        report.post_retries > 0,
        "the API and Redis kills were seen: {report}"
    );
    assert_eq!(report.accepted, report.orders, "{report}");
    // Wrong OTPs reached OMT (failed) and the guard stopped the rest (parked), without a lock.
    assert!(report.wrong_otp_outcomes.contains_key("failed"), "{report}");
    assert!(report.omt_max_failed <= 3, "{report}");
    // Every provider paid something.
    assert!(report.payouts > 0, "{report}");
    assert!(report.logs_searched.0 >= 5, "{report}");
}
