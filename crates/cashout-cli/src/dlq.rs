//! `cashout dlq …`: the dead-letter queue from a terminal, straight on Redis. Every action is
//! recorded in the cashout's history under the operator's name (`--operator`, default
//! `cli:$USER`).

use anyhow::{Context, bail};
use cashout_api::{CashoutView, parse_since};
use cashout_core::{CashoutId, ParkReason, Provider};
use cashout_store::Producer;
use cashout_store::dlq::{self, Filter, Replay, Resolution};
use chrono::Utc;

/// Dead-letter queue commands.
#[derive(clap::Subcommand, Debug)]
pub enum DlqCommand {
    /// List parked cashouts, oldest first.
    List {
        /// Only this provider (camoo, omt, omno).
        #[arg(long)]
        provider: Option<String>,
        /// Only this reason (e.g. outcome_unknown, retries_exhausted).
        #[arg(long)]
        reason: Option<String>,
        /// Parked since: RFC 3339, or 30m / 12h / 7d back from now.
        #[arg(long)]
        since: Option<String>,
        /// Rows per page.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Page cursor printed under the previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show a parked cashout: the record, its history and the last error.
    Show {
        /// Cashout id.
        id: String,
    },
    /// Replay cashouts: by id, or all parked for a reason (and provider).
    Replay {
        /// Cashout ids.
        ids: Vec<String>,
        /// Replay every cashout parked for this reason.
        #[arg(long, conflicts_with = "ids")]
        reason: Option<String>,
        /// With --reason: only this provider.
        #[arg(long, requires = "reason")]
        provider: Option<String>,
        /// Why (kept in the history).
        #[arg(long)]
        note: Option<String>,
        /// Who does it (default cli:$USER).
        #[arg(long)]
        operator: Option<String>,
    },
    /// Record an outcome settled by hand with the provider.
    Resolve {
        /// Cashout ids: each one checked with the provider (several settle in bulk; each is
        /// reported, and the run fails if any is refused).
        #[arg(required = true, num_args = 1..)]
        ids: Vec<String>,
        /// confirmed or failed.
        #[arg(long = "as", value_parser = ["confirmed", "failed"])]
        resolution: String,
        /// What was checked, with whom (required).
        #[arg(long)]
        note: String,
        /// Who does it (default cli:$USER).
        #[arg(long)]
        operator: Option<String>,
    },
    /// Reset the OMT lockout guard of one account after checking with OMT that the customer's
    /// failed-attempt count is back at zero (e.g. after OMT support cleared it). Logged with the
    /// operator and note.
    OmtResetGuard {
        /// The OMT account id.
        account_id: i64,
        /// What was checked, with whom (required).
        #[arg(long)]
        note: String,
        /// Who does it (default cli:$USER).
        #[arg(long)]
        operator: Option<String>,
    },
    /// List OMT attempts that were sent and never answered (a timeout, a reset, a worker
    /// killed mid-call), per account: the lockout guard counts them until an operator has
    /// checked with OMT and cleared them.
    OmtReservations,
    /// Clear one unresolved OMT attempt (from `omt-reservations`) after checking with OMT that
    /// it was not counted. Logged with the operator and note.
    OmtClearReservation {
        /// The OMT account id.
        account_id: i64,
        /// The reservation's token.
        token: String,
        /// What was checked, with whom (required).
        #[arg(long)]
        note: String,
        /// Who does it (default cli:$USER).
        #[arg(long)]
        operator: Option<String>,
    },
    /// Remove from the queue and mark the cashout failed.
    Discard {
        /// Cashout id.
        id: String,
        /// Why (required).
        #[arg(long)]
        note: String,
        /// Who does it (default cli:$USER).
        #[arg(long)]
        operator: Option<String>,
    },
}

fn operator(o: Option<String>) -> String {
    o.unwrap_or_else(|| {
        format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".into())
        )
    })
}

fn id(s: &str) -> anyhow::Result<CashoutId> {
    CashoutId::parse(s).map_err(|e| anyhow::anyhow!("{s}: {e}"))
}

fn provider(s: Option<&str>) -> anyhow::Result<Option<Provider>> {
    s.map(|p| {
        p.parse::<Provider>()
            .map_err(|e| anyhow::anyhow!("--provider: {e}"))
    })
    .transpose()
}

fn reason(s: Option<&str>) -> anyhow::Result<Option<ParkReason>> {
    s.map(|r| {
        serde_json::from_value::<ParkReason>(serde_json::Value::String(r.to_owned()))
            .with_context(|| format!("--reason: unknown park reason '{r}'"))
    })
    .transpose()
}

/// Runs one command.
pub async fn run(producer: &Producer, cmd: DlqCommand) -> anyhow::Result<()> {
    let store = producer.store();
    match cmd {
        DlqCommand::List {
            provider: p,
            reason: r,
            since,
            limit,
            cursor,
        } => {
            let filter = Filter {
                provider: provider(p.as_deref())?,
                reason: reason(r.as_deref())?,
                since: since
                    .as_deref()
                    .map(|s| parse_since(s, Utc::now()))
                    .transpose()
                    .map_err(|e| anyhow::anyhow!("--since: {e}"))?,
            };
            let page = dlq::list(store, &filter, cursor.as_deref(), limit).await?;
            println!(
                "{:<36}  {:<6}  {:<18}  {:<9}  {:<20}  last error",
                "id", "prov", "reason", "state", "parked at"
            );
            for item in &page.items {
                let (id, prov, reason, state, at, err) = match item {
                    dlq::Item::Cashout(c) => {
                        let Some(p) = &c.parked else { continue };
                        (
                            c.id,
                            c.order.provider.as_str(),
                            p.reason,
                            c.state.as_str(),
                            p.at,
                            c.last_error.clone().unwrap_or_default(),
                        )
                    }
                    dlq::Item::Corrupt(r) => (
                        r.id,
                        r.provider.map_or("?", |p| p.as_str()),
                        r.reason,
                        "?",
                        r.at,
                        r.error.clone(),
                    ),
                };
                let err: String = err.chars().take(60).collect();
                println!(
                    "{:<36}  {:<6}  {:<18}  {:<9}  {:<20}  {err}",
                    id.to_string(),
                    prov,
                    reason.as_str(),
                    state,
                    at.format("%Y-%m-%d %H:%M:%S"),
                );
            }
            println!("({} shown)", page.items.len());
            if let Some(next) = page.next_cursor {
                println!("more: --cursor {next}");
            }
            Ok(())
        }
        DlqCommand::Show { id: raw } => {
            let id = id(&raw)?;
            let c = match store.get(&id).await {
                Err(e @ cashout_store::StoreError::Corrupt { .. }) => {
                    let Some(r) = store.corrupt(&id).await? else {
                        return Err(e.into());
                    };
                    // The record's bytes are not printed (personal data): inspect them in Redis.
                    println!("{}", serde_json::to_string_pretty(&r)?);
                    println!("record kept as found: {}", store.keys().record(&id));
                    for h in store.history_lines(&id).await? {
                        println!("{}  {:<10}  {}", h.at.to_rfc3339(), h.kind, h.cause);
                    }
                    return Ok(());
                }
                r => r?,
            };
            let Some(c) = c else {
                bail!("{id}: no such cashout")
            };
            if c.parked.is_none() {
                bail!("{id}: not in the dead-letter queue (state {})", c.state);
            }
            let history = store.history(&c).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&CashoutView::new(&c, Some(history)))?
            );
            Ok(())
        }
        DlqCommand::Replay {
            ids,
            reason: r,
            provider: p,
            note,
            operator: o,
        } => {
            let actor = operator(o);
            // Unknown ids and refused replays: reported on stderr, and the exit status is 1.
            let mut failed = 0usize;
            let results: Vec<(CashoutId, Replay)> = if let Some(r) = reason(r.as_deref())? {
                let filter = Filter {
                    provider: provider(p.as_deref())?,
                    reason: Some(r),
                    since: None,
                };
                dlq::replay_all(producer, &filter, &actor, note.as_deref(), 10_000).await?
            } else {
                if ids.is_empty() {
                    bail!("give cashout ids, or --reason");
                }
                let mut out = Vec::new();
                for raw in &ids {
                    let Ok(cid) = CashoutId::parse(raw) else {
                        eprintln!("{raw}: not a cashout id");
                        failed += 1;
                        continue;
                    };
                    match dlq::replay(producer, &cid, &actor, note.as_deref()).await {
                        Ok(r) => out.push((cid, r)),
                        Err(dlq::DlqError::NotFound) => {
                            eprintln!("{cid}: no such cashout");
                            failed += 1;
                        }
                        Err(dlq::DlqError::Corrupt) => out.push((cid, Replay::Corrupt)),
                        Err(e) => return Err(anyhow::Error::new(e).context(format!("{cid}"))),
                    }
                }
                out
            };
            for (cid, r) in &results {
                if matches!(r, Replay::InDoubt | Replay::Corrupt) {
                    eprintln!("{cid}  {}", r.message());
                    failed += 1;
                } else {
                    println!("{cid}  {}", r.message());
                }
            }
            let n = results
                .iter()
                .filter(|(_, r)| *r == Replay::Replayed)
                .count();
            println!("{n} replayed");
            if failed > 0 {
                bail!("{failed} cashout(s) unknown or refused, not replayed (see above)");
            }
            Ok(())
        }
        DlqCommand::Resolve {
            ids,
            resolution,
            note,
            operator: o,
        } => {
            let r = if resolution == "confirmed" {
                Resolution::Confirmed
            } else {
                Resolution::Failed
            };
            let actor = operator(o);
            if ids.len() == 1 {
                let cid = id(&ids[0])?;
                let c = dlq::resolve(store, &cid, r, &actor, &note)
                    .await
                    .with_context(|| format!("{cid}: not resolved"))?;
                println!("{}  resolved: {}", c.id, c.state);
                return Ok(());
            }
            // In bulk: every id is tried and reported; any refusal fails the run.
            let mut failed = 0usize;
            for raw in &ids {
                let Ok(cid) = CashoutId::parse(raw) else {
                    eprintln!("{raw}: not a cashout id");
                    failed += 1;
                    continue;
                };
                match dlq::resolve(store, &cid, r, &actor, &note).await {
                    Ok(c) => println!("{}  resolved: {}", c.id, c.state),
                    Err(e) => {
                        eprintln!("{cid}: not resolved: {e}");
                        failed += 1;
                    }
                }
            }
            if failed > 0 {
                bail!("{failed} of {} cashouts not resolved", ids.len());
            }
            Ok(())
        }
        DlqCommand::OmtResetGuard {
            account_id,
            note,
            operator: o,
        } => {
            if note.trim().is_empty() {
                bail!("--note is required: say what was checked with OMT");
            }
            let account =
                cashout_core::OmtAccountId::new(account_id).map_err(|e| anyhow::anyhow!("{e}"))?;
            let before = store.omt_failures(account).await?;
            store.omt_reset_failures(account).await?;
            let actor = operator(o);
            tracing::warn!(%account, before, operator = %actor, note = %note, "omt lockout guard reset");
            println!(
                "omt account {account}: {before} counted failed attempts reset by {actor} ({note})"
            );
            Ok(())
        }
        DlqCommand::OmtReservations => {
            let unresolved = store.omt_unresolved().await?;
            if unresolved.is_empty() {
                println!("no unresolved omt attempts");
            }
            for g in unresolved {
                println!(
                    "omt account {}: {} answered as failed, {} unresolved",
                    g.account_id,
                    g.failures,
                    g.reservations.len()
                );
                for r in g.reservations {
                    println!(
                        "  {}  {}  cashout {}  sent {}",
                        r.token,
                        r.call,
                        r.cashout_id,
                        r.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    );
                }
            }
            Ok(())
        }
        DlqCommand::OmtClearReservation {
            account_id,
            token,
            note,
            operator: o,
        } => {
            if note.trim().is_empty() {
                bail!("--note is required: say what was checked with OMT");
            }
            let account =
                cashout_core::OmtAccountId::new(account_id).map_err(|e| anyhow::anyhow!("{e}"))?;
            if !store.omt_clear_reservation(account, &token).await? {
                bail!("omt account {account} has no reservation {token}");
            }
            let actor = operator(o);
            tracing::warn!(%account, token = %token, operator = %actor, note = %note,
                "omt reservation cleared");
            println!("omt account {account}: reservation {token} cleared by {actor} ({note})");
            Ok(())
        }
        DlqCommand::Discard {
            id: raw,
            note,
            operator: o,
        } => {
            let cid = id(&raw)?;
            match dlq::discard(store, &cid, &operator(o), &note)
                .await
                .with_context(|| format!("{cid}: not discarded"))?
            {
                dlq::Item::Cashout(c) => println!("{}  discarded: {}", c.id, c.state),
                dlq::Item::Corrupt(r) => println!(
                    "{}  discarded: corrupt_record, kept as found until the retention expires",
                    r.id
                ),
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn argument_parsers_never_panic(s in any::<String>()) {
            let _ = id(&s);
            let _ = provider(Some(&s));
            let _ = reason(Some(&s));
            let _ = parse_since(&s, Utc::now());
        }
    }

    #[test]
    fn argument_parsers_accept_known_values_and_refuse_garbage() {
        assert_eq!(provider(Some("omt")).unwrap(), Some(Provider::Omt));
        assert!(provider(Some("é")).is_err());
        assert_eq!(
            reason(Some("outcome_unknown")).unwrap(),
            Some(ParkReason::OutcomeUnknown)
        );
        assert!(reason(Some("nonsense")).is_err());
        assert!(id("nope").is_err());
        assert!(id(&CashoutId::generate().to_string()).is_ok());
    }
}
