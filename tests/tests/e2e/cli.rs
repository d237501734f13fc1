//! The `cashout` binary as an operator uses it: enqueue straight into Redis, read the status.

use cashout_tests::{Options, TestApp, cashout_bin, phone};
use serde_json::Value;

async fn cashout(app: &TestApp, args: &[&str]) -> (bool, Value, String) {
    let (ok, stdout, stderr) = cashout_raw(app, args).await;
    (
        ok,
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stderr,
    )
}

async fn cashout_raw(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let mut cmd = tokio::process::Command::new(cashout_bin());
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("CASHOUT_") {
            cmd.env_remove(k);
        }
    }
    let redis = app
        .worker_env()
        .into_iter()
        .find(|(k, _)| k == "CASHOUT_REDIS__URL");
    let out = cmd
        .envs(redis)
        .env("CASHOUT_REDIS__PREFIX", &app.prefix)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_then_status_through_the_binary() {
    let mut app = TestApp::spawn(Options::default()).await;
    let p = phone(50, 1);
    let args = [
        "enqueue",
        "--key",
        "cli-1",
        "--amount",
        "1500",
        "--currency",
        "XAF",
        "--phone",
        &p,
        // As the API's `tests` token, so the API shows it to that token.
        "--producer",
        "tests",
    ];
    let (ok, v, err) = cashout(&app, &args).await;
    assert!(ok, "{err}");
    assert_eq!(v["state"], "created");
    assert!(!v.to_string().contains(&p[4..]), "phone masked: {v}");
    let id = v["id"].as_str().unwrap().to_owned();

    // The same key again: the existing cashout, not a second one.
    let (ok, again, err) = cashout(&app, &args).await;
    assert!(ok && err.contains("existing"), "{err}");
    assert_eq!(again["id"], v["id"]);

    // Bad input names the field and stores nothing.
    let before = app.record_count().await;
    let (ok, _, err) = cashout(
        &app,
        &[
            "enqueue",
            "--key",
            "cli-2",
            "--amount",
            "0",
            "--currency",
            "XAF",
            "--phone",
            &p,
        ],
    )
    .await;
    assert!(!ok && err.contains("amount"), "{err}");
    assert_eq!(app.record_count().await, before);

    app.start_worker();
    app.wait_settled(&id).await;
    let (ok, status, err) = cashout(&app, &["status", &id]).await;
    assert!(ok, "{err}");
    assert_eq!(status["state"], "confirmed");
    assert!(status["history"].as_array().unwrap().len() >= 3);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_has_help() {
    for cmd in [
        "api", "worker", "sandbox", "demo", "enqueue", "status", "dlq",
    ] {
        let out = tokio::process::Command::new(cashout_bin())
            .args([cmd, "--help"])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{cmd} --help");
        assert!(!out.stdout.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_list_and_replay_through_the_binary() {
    let mut opts = Options::default();
    opts.sandbox.camoo.balance = 1_000;
    let mut app = TestApp::spawn(opts).await;
    app.start_worker();
    let (_, created) = app
        .post_cashout(&TestApp::order("cli-dlq", &phone(51, 1), 5_000))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    app.wait_settled(&id).await;

    let (ok, out, err) =
        cashout_raw(&app, &["dlq", "list", "--reason", "insufficient_funds"]).await;
    assert!(ok, "{err}");
    assert!(
        out.contains(&id) && out.contains("insufficient_funds"),
        "{out}"
    );
    let (ok, out, _) = cashout_raw(&app, &["dlq", "list", "--reason", "poison"]).await;
    assert!(ok && !out.contains(&id));
    let (ok, _, err) = cashout_raw(&app, &["dlq", "list", "--reason", "nonsense"]).await;
    assert!(!ok && err.contains("reason"), "{err}");

    app.sandbox_config(serde_json::json!({"balance": 1_000_000}))
        .await;
    let (ok, out, err) = cashout_raw(
        &app,
        &[
            "dlq",
            "replay",
            &id,
            "--note",
            "topped up",
            "--operator",
            "alice",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("1 replayed"), "{out}");
    let v = app
        .wait_for_cashout(&id, std::time::Duration::from_secs(20), |v| {
            v["state"] == "confirmed"
        })
        .await;
    assert!(
        cashout_tests::causes(&v)
            .iter()
            .any(|c| c.starts_with("replayed by alice: topped up")),
        "{v:#}"
    );
    app.shutdown().await;
}

/// Runs the binary with only these `CASHOUT_…` variables.
async fn cashout_with_env(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = tokio::process::Command::new(cashout_bin());
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("CASHOUT_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd.envs(env.iter().copied()).output().await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_redis_url_never_shows_its_password() {
    let id = cashout_core::CashoutId::generate().to_string();
    for url in [
        "user:s3cret-pw@127.0.0.1:6379",
        "s3cret-pw@127.0.0.1:6379",
        "redis://user:s3cret-pw@127.0.0.1:1",
        "redis://:s3cret-pw@127.0.0.1:1/0",
        "redis://u:s3cret@pw@127.0.0.1:1",
        "redis://:s3cret-pw@127.0.0.1:1,redis://:s3cret-pw@127.0.0.1:2",
        "user:s3cret-pw@127.0.0.1:1,user:s3cret-pw@127.0.0.1:2",
        "redis+unix:///nonexistent/redis.sock?pass=s3cret-pw",
    ] {
        let env = [
            ("CASHOUT_REDIS__URL", url),
            ("CASHOUT_REDIS__CONNECTION_TIMEOUT_MS", "500"),
            ("CASHOUT_API__TOKENS", "upstream:0123456789abcdef"),
            ("CASHOUT_API__LISTEN", "127.0.0.1:0"),
        ];
        for args in [
            vec!["status", id.as_str()],
            vec!["api"],
            vec!["dlq", "list"],
        ] {
            let (ok, out, err) = cashout_with_env(&args, &env).await;
            assert!(!ok, "{url} {args:?}: {out}");
            assert!(err.contains("redis"), "{url} {args:?}: {err}");
            assert!(
                !err.contains("s3cret") && !out.contains("s3cret"),
                "{url} {args:?}: {err}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_commands_on_unknown_or_refused_ids_exit_non_zero() {
    let app = TestApp::spawn(Options::default()).await;
    let unknown = cashout_core::CashoutId::generate().to_string();
    let note = ["--note", "checked with the provider"];
    for args in [
        vec!["dlq", "show", &unknown],
        vec!["dlq", "replay", &unknown],
        vec!["dlq", "resolve", &unknown, "--as", "failed"],
        vec!["dlq", "discard", &unknown],
    ] {
        let args: Vec<&str> = if args[1] == "resolve" || args[1] == "discard" {
            args.iter().chain(note.iter()).copied().collect()
        } else {
            args
        };
        let (ok, out, err) = cashout_raw(&app, &args).await;
        assert!(!ok, "{args:?} exits non-zero: {out}");
        assert!(
            err.contains(&unknown) && err.contains("no such cashout"),
            "{args:?}: {err}"
        );
    }
    // Not an id at all.
    for args in [vec!["dlq", "show", "nope"], vec!["dlq", "replay", "nope"]] {
        let (ok, _, err) = cashout_raw(&app, &args).await;
        assert!(!ok && err.contains("nope"), "{args:?}: {err}");
    }
    // Several ids, one unknown: the known one is replayed (a no-op here), the run fails.
    let (_, created) = app
        .post_cashout(&TestApp::order("cli-dlq-refused", &phone(52, 1), 1_500))
        .await;
    let known = created["id"].as_str().unwrap().to_owned();
    let (ok, out, err) = cashout_raw(&app, &["dlq", "replay", &known, &unknown]).await;
    assert!(!ok, "{out}");
    assert!(out.contains(&known), "{out}");
    assert!(
        err.contains(&unknown) && err.contains("not replayed"),
        "{err}"
    );
    // A cashout that is not parked: show, resolve and discard are refused.
    for args in [
        vec!["dlq", "show", known.as_str()],
        vec!["dlq", "resolve", &known, "--as", "failed", "--note", "x y"],
        vec!["dlq", "discard", &known, "--note", "x y"],
    ] {
        let (ok, out, err) = cashout_raw(&app, &args).await;
        assert!(!ok, "{args:?}: {out}");
        assert!(
            err.contains(&known) && err.contains("dead-letter queue"),
            "{args:?}: {err}"
        );
    }
    app.shutdown().await;
}

/// Cashouts in doubt (create answers lost, no Camoo notifications) settled in bulk once checked
/// with the provider: every id is resolved and reported; an unknown one among them fails the
/// run without stopping the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_doubt_cashouts_are_resolved_in_bulk() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.fault(
        "create",
        3,
        serde_json::json!({"kind": "reset", "phase": "after"}),
    )
    .await;
    app.start_worker();
    let mut ids = Vec::new();
    for i in 0..3 {
        let (s, v) = app
            .post_cashout(&TestApp::order(
                &format!("cli-bulk-{i}"),
                &phone(53 + i, 1),
                1_500,
            ))
            .await;
        assert_eq!(s, 202);
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let v = app.wait_settled(id).await;
        assert_eq!(v["parked"]["reason"], "outcome_unknown", "{v:#}");
    }
    let unknown = cashout_core::CashoutId::generate().to_string();
    let mut args = vec!["dlq", "resolve"];
    args.extend(ids.iter().map(String::as_str));
    args.push(&unknown);
    args.extend(["--as", "confirmed", "--note", "checked with Camoo: paid"]);
    let (ok, out, err) = cashout_raw(&app, &args).await;
    assert!(!ok, "an unknown id fails the run: {out}");
    assert!(err.contains(&unknown) && err.contains("1 of 4"), "{err}");
    for id in &ids {
        assert!(out.contains(&format!("{id}  resolved: confirmed")), "{out}");
        let v = app.get_cashout(id).await;
        assert_eq!(v["state"], "confirmed", "{v:#}");
        assert!(v["parked"].is_null());
    }
    app.shutdown().await;
}
