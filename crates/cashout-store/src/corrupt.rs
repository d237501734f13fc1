//! Records that cannot be decoded. A delivery that finds one parks it as `corrupt_record`
//! instead of failing forever (see [`Store::claim`]): the record is kept byte for byte as found,
//! for an operator to inspect, and a side key (`{prefix}:{p}:corrupt:{id}`, the record's hash
//! tag) says why and when, since the parked reason of a readable cashout lives in its JSON.

use crate::delivery;
use crate::keys::GROUP;
use crate::store::{
    Claim, RecordParts, Store, StoreError, compact_entry, parse_entry, record_script,
};
use cashout_core::{CashoutId, HistoryEntry, ParkReason, Provider};
use chrono::{DateTime, Utc};
use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

static PARK: LazyLock<Script> =
    LazyLock::new(|| record_script(include_str!("lua/park_corrupt.lua")));
static DISCARD: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/discard_corrupt.lua")));

/// What was recorded when an undecodable record was parked (the side key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorruptRecord {
    /// The cashout id the record is stored under.
    pub id: CashoutId,
    /// Always [`ParkReason::CorruptRecord`].
    pub reason: ParkReason,
    /// When it was parked.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub at: DateTime<Utc>,
    /// The provider whose stream delivered it (unknown when it was found another way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// Why it cannot be decoded, redacted (no quoted values, no long digit runs).
    pub error: String,
    /// When an operator discarded it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "chrono::serde::ts_milliseconds_option"
    )]
    pub discarded_at: Option<DateTime<Utc>>,
    /// Who discarded it, and their note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discarded_by: Option<String>,
}

/// What the claim found wrong.
pub(crate) enum Found<'a> {
    /// The header is malformed; the claim wrote nothing.
    Header,
    /// The JSON does not decode; the claim took the lease, to be put back as it was.
    Body {
        json: &'a [u8],
        lease_before: &'a [u8],
        token: &'a str,
    },
}

/// The header check of `lua/record.lua` (`valid_header`): markers in place, digits where
/// numbers go, a blank or numeric due time, a blank or hex lease token.
pub(crate) fn valid_header(v: &[u8]) -> bool {
    let Some(h) = v.get(..crate::store::RECORD_HEADER_LEN) else {
        return false;
    };
    let digits = |r: std::ops::Range<usize>| h[r].iter().all(u8::is_ascii_digit);
    let blank = |r: std::ops::Range<usize>| h[r].iter().all(|b| *b == b' ');
    // 0-based offsets of the 1-based positions in record.lua.
    h[0] == b'V'
        && h[11] == b'D'
        && h[25] == b'L'
        && h[39] == b'N'
        && h[45] == b'T'
        && h[86] == b'\n'
        && digits(1..11)
        && (blank(12..25) || digits(12..25))
        && digits(26..39)
        && digits(40..45)
        && (blank(46..86) || h[46..86].iter().all(u8::is_ascii_hexdigit))
}

/// A decode error as it may be shown to operators and logged: serde_json quotes the value it
/// choked on (a phone number, an OTP), so quoted text and runs of four or more digits are
/// masked; the position is kept.
pub(crate) fn describe(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let msg = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(m, _)| m);
    let masked = mask(msg);
    if e.line() > 0 {
        format!("{masked} at line {} column {}", e.line(), e.column())
    } else {
        masked
    }
}

fn mask(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut quoted = false;
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 4 {
            out.push('…');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for ch in s.chars() {
        if ch == '"' {
            flush(&mut run, &mut out);
            out.push('"');
            quoted = !quoted;
            if quoted {
                out.push('…');
            }
        } else if quoted {
        } else if ch.is_ascii_digit() {
            run.push(ch);
        } else {
            flush(&mut run, &mut out);
            out.push(ch);
        }
    }
    flush(&mut run, &mut out);
    out
}

fn to_json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Queue(e.to_string()))
}

fn history_line(
    now: DateTime<Utc>,
    kind: cashout_core::HistoryKind,
    cause: String,
) -> Result<String, StoreError> {
    let entry = HistoryEntry {
        at: now,
        kind,
        from: None,
        to: None,
        cause,
        attempt: 0,
        trace_id: String::new(),
    };
    Ok(compact_entry(&entry, ""))
}

fn at_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

impl Store {
    /// Parks an undecodable record found by a delivery from `provider`'s stream (see
    /// `lua/park_corrupt.lua`) and acknowledges the delivery's entry.
    pub(crate) async fn park_corrupt(
        &self,
        id: &CashoutId,
        provider: Provider,
        error: &str,
        found: Found<'_>,
    ) -> Result<Claim, StoreError> {
        let now = at_ms(Utc::now());
        let keys = self.keys();
        let side = CorruptRecord {
            id: *id,
            reason: ParkReason::CorruptRecord,
            at: now,
            provider: Some(provider),
            error: error.to_owned(),
            discarded_at: None,
            discarded_by: None,
        };
        let entry = delivery::pending_entry();
        let stream = entry
            .as_ref()
            .map_or_else(|| keys.stream_of(id, provider), |e| e.stream.clone());
        let (mode, json, before, token): (&str, &[u8], &[u8], &str) = match found {
            Found::Header => ("header", &[], &[], ""),
            Found::Body {
                json,
                lease_before,
                token,
            } => ("body", json, lease_before, token),
        };
        let mut inv = PARK.prepare_invoke();
        inv.key(keys.record(id))
            .key(keys.history(id))
            .key(keys.parked_of(id))
            .key(keys.corrupt(id))
            .key(stream);
        for due in keys.dues_of(id) {
            inv.key(due);
        }
        inv.arg(id.to_string())
            .arg(now.timestamp_millis())
            .arg(to_json(&side)?)
            .arg(history_line(
                now,
                cashout_core::HistoryKind::Parked,
                format!("parked: corrupt_record: the record cannot be decoded: {error}"),
            )?)
            .arg(mode)
            .arg(json)
            .arg(before)
            .arg(token)
            .arg(entry.as_ref().map_or("", |e| e.id.as_str()))
            .arg(GROUP);
        let mut c = self.connection();
        let res: i64 = inv.invoke_async(&mut c).await?;
        match res {
            1 | 2 => {
                if entry.is_some() {
                    delivery::acked();
                }
                if res == 1 {
                    metrics::counter!("cashout_parked_total", "provider" => provider.as_str(),
                        "reason" => ParkReason::CorruptRecord.as_str())
                    .increment(1);
                }
                Ok(Claim::Corrupt(error.to_owned()))
            }
            0 => {
                if entry.is_some() {
                    delivery::acked();
                }
                Ok(Claim::Missing)
            }
            // It changed since the claim (someone repaired it): the next delivery decides.
            _ => Err(StoreError::Contention),
        }
    }

    /// What was recorded when `id`'s record was parked as undecodable, if it was.
    pub async fn corrupt(&self, id: &CashoutId) -> Result<Option<CorruptRecord>, StoreError> {
        Ok(self.corrupt_raw(id).await?.map(|(_, r)| r))
    }

    async fn corrupt_raw(
        &self,
        id: &CashoutId,
    ) -> Result<Option<(Vec<u8>, CorruptRecord)>, StoreError> {
        let key = self.keys().corrupt(id);
        let mut c = self.connection();
        let raw: Option<Vec<u8>> = c.get(&key).await?;
        raw.map(|b| {
            serde_json::from_slice(&b)
                .map(|r| (b, r))
                .map_err(|e| StoreError::Corrupt {
                    key: key.clone(),
                    message: describe(&e),
                })
        })
        .transpose()
    }

    /// Takes a parked corrupt record out of the dead-letter queue for good, by `by`: the side
    /// key records who and when, a history line is written on the side list, and the record
    /// (kept as found), the side list and the side key expire after the retention. `None` when it is not a parked
    /// corrupt record (never parked so, or discarded already).
    pub async fn discard_corrupt(
        &self,
        id: &CashoutId,
        by: &str,
    ) -> Result<Option<CorruptRecord>, StoreError> {
        let keys = self.keys();
        for _ in 0..16 {
            let Some((raw, mut rec)) = self.corrupt_raw(id).await? else {
                return Ok(None);
            };
            if rec.discarded_at.is_some() {
                return Ok(None);
            }
            let now = at_ms(Utc::now());
            rec.discarded_at = Some(now);
            rec.discarded_by = Some(by.to_owned());
            let retention = self.retention();
            let mut c = self.connection();
            let res: i64 = DISCARD
                .key(keys.record(id))
                .key(keys.history(id))
                .key(keys.parked_of(id))
                .key(keys.corrupt(id))
                .arg(id.to_string())
                .arg(raw)
                .arg(to_json(&rec)?)
                .arg(history_line(
                    now,
                    cashout_core::HistoryKind::Operator,
                    format!("corrupt record discarded by {by}"),
                )?)
                .arg(if retention.is_zero() {
                    String::new()
                } else {
                    retention.as_millis().to_string()
                })
                .invoke_async(&mut c)
                .await?;
            match res {
                1 => return Ok(Some(rec)),
                0 => return Ok(None),
                _ => continue,
            }
        }
        Err(StoreError::Contention)
    }

    /// The history lines of `id` as stored, without needing its record to decode: the lines
    /// the record's bytes hold (as far as they read), then those written on the side list since
    /// it was found undecodable (unreadable lines are left out). One round trip.
    pub async fn history_lines(&self, id: &CashoutId) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut c = self.connection();
        let (stored, side): (Option<Vec<u8>>, Vec<Vec<u8>>) = redis::pipe()
            .get(self.keys().record(id))
            .lrange(self.keys().history(id), 0, -1)
            .query_async(&mut c)
            .await?;
        Ok(readable_lines(stored.as_deref(), &side))
    }
}

/// The history of a record that may not decode: the lines of its bytes that parse, then the
/// side list's lines that parse.
fn readable_lines(stored: Option<&[u8]>, side: &[Vec<u8>]) -> Vec<HistoryEntry> {
    let own = stored
        .and_then(RecordParts::split)
        .into_iter()
        .flat_map(|p| p.lines());
    own.chain(side.iter().map(Vec::as_slice))
        .filter_map(|l| std::str::from_utf8(l).ok())
        .filter_map(|l| parse_entry(l).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_checked_as_the_scripts_check_them() {
        let good = format!(
            "V{:010}D{:013}L{:013}N{:05}T{}\n{{}}",
            3,
            17,
            0,
            1,
            " ".repeat(40)
        );
        assert!(valid_header(good.as_bytes()));
        let blank_due = good.replacen("D0000000000017", &format!("D{}", " ".repeat(13)), 1);
        assert!(valid_header(blank_due.as_bytes()));
        let token = good.replacen(&" ".repeat(40), &"a1".repeat(20), 1);
        assert!(valid_header(token.as_bytes()));
        for (at, byte) in [
            (0, b'X'),
            (5, b'x'),
            (20, b'x'),
            (30, b' '),
            (86, b' '),
            (60, b'g'),
        ] {
            let mut bad = good.clone().into_bytes();
            bad[at] = byte;
            assert!(!valid_header(&bad), "byte {at}");
        }
        assert!(!valid_header(b"{}"));
    }

    #[test]
    fn a_corrupt_records_history_is_its_readable_lines_then_the_side_lists() {
        let line = |cause: &str| {
            history_line(
                DateTime::from_timestamp_millis(1_796_304_250_036).unwrap(),
                cashout_core::HistoryKind::Note,
                cause.to_owned(),
            )
            .unwrap()
        };
        let header = format!(
            "V{:010}D{:013}L{:013}N{:05}T{}\n",
            3,
            17,
            0,
            1,
            " ".repeat(40)
        );
        let side = vec![line("parked").into_bytes(), b"not json".to_vec()];
        let causes = |v: Vec<HistoryEntry>| v.into_iter().map(|e| e.cause).collect::<Vec<_>>();
        // JSON that does not decode, two lines of its own (one unreadable), the side list.
        let mut stored = format!("{header}{{\"id\":").into_bytes();
        for l in [line("accepted").into_bytes(), vec![0xff, 0xfe]] {
            stored.push(b'\n');
            stored.extend(l);
        }
        assert_eq!(
            causes(readable_lines(Some(&stored), &side)),
            ["accepted", "parked"]
        );
        // Bytes with no line, or too short for a header, or gone: the side list only.
        for stored in [format!("{header}{{").into_bytes(), b"garbage".to_vec()] {
            assert_eq!(causes(readable_lines(Some(&stored), &side)), ["parked"]);
        }
        assert_eq!(causes(readable_lines(None, &side)), ["parked"]);
        assert!(readable_lines(None, &[]).is_empty());
    }

    #[test]
    fn decode_errors_lose_the_values_they_quote() {
        let e = serde_json::from_str::<u32>("\"+237612345678\"").unwrap_err();
        let d = describe(&e);
        assert!(!d.contains("612345678"), "{d}");
        assert!(d.contains("line 1 column"), "{d}");
        let e = serde_json::from_str::<bool>("456789").unwrap_err();
        assert!(!describe(&e).contains("456789"), "{}", describe(&e));
        let e = serde_json::from_str::<serde_json::Value>(&"[".repeat(200)).unwrap_err();
        assert!(describe(&e).contains("recursion limit"), "{}", describe(&e));
        assert_eq!(mask("a 123 b 12345 \"x 9\" c"), "a 123 b … \"…\" c");
    }
}
