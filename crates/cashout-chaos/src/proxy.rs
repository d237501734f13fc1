//! A fault-injecting HTTP/1.1 proxy in front of the sandbox: the workers' provider base URLs
//! point here, and each **request** (not each connection: the workers' clients keep connections
//! alive, so a per-connection draw would hit only the first request of a long-lived connection)
//! draws one fault:
//!
//! - **reset**: the request was read in full, nothing is forwarded, the client's connection is
//!   closed with a TCP RST. The provider never saw it; the client cannot know that.
//! - **drop**: the request is forwarded, the provider's whole answer is read (so it executed the
//!   call: a create is paid and audited), then the client's connection is RST instead of answered.
//! - **delay**: the proxy waits `delay_ms` (set past the workers' client timeouts) before
//!   forwarding, and forwards even when the client has given up meanwhile: the provider executes
//!   a call its caller already counts as timed out.
//!
//! Framing is parsed just enough to find where a message ends (`Content-Length`, `chunked`, or no
//! body); bytes are passed through unchanged. Every request gets a fresh upstream connection, so a
//! stale keep-alive connection to the sandbox can never make the proxy resend anything.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Fractions of requests meeting each fault (drawn independently per request, in this order).
#[derive(Debug, Clone, Copy)]
pub struct FaultMix {
    /// Reset before forwarding.
    pub reset: f64,
    /// Forward, then drop the answer.
    pub drop: f64,
    /// Delay past the client timeout, then forward.
    pub delay: f64,
    /// The delay of a `delay` fault.
    pub delay_ms: u64,
}

/// What a request met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    Reset,
    Drop,
    Delay,
}

/// The provider operation a request is, by method and path (for the report).
pub const OPERATIONS: [&str; 10] = [
    "camoo create",
    "camoo verify",
    "camoo other",
    "omt getcti",
    "omt paycti",
    "omt revoke",
    "omno create",
    "omno confirm",
    "omno reject",
    "omno status",
];

fn operation(method: &str, path: &str) -> usize {
    let path = path.split('?').next().unwrap_or(path);
    if path.starts_with("/camoo/") {
        if path.ends_with("/cashout") {
            0
        } else if path.ends_with("/verify") {
            1
        } else {
            2
        }
    } else if path.starts_with("/omt/") {
        if path.ends_with("/GETCTI") {
            3
        } else if path.ends_with("/PAYCTI") {
            4
        } else {
            5
        }
    } else if path.ends_with("/confirm") {
        7
    } else if path.ends_with("/reject") {
        8
    } else if method == "POST" {
        6
    } else {
        9
    }
}

/// Counters per operation: requests, resets, drops, delays.
#[derive(Default)]
pub struct Stats {
    counts: Mutex<[[u64; 4]; OPERATIONS.len()]>,
}

impl Stats {
    fn count(&self, op: usize, fault: Fault) {
        let mut c = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        c[op][0] += 1;
        match fault {
            Fault::None => {}
            Fault::Reset => c[op][1] += 1,
            Fault::Drop => c[op][2] += 1,
            Fault::Delay => c[op][3] += 1,
        }
    }

    /// `(operation, requests, resets, drops, delays)` for every operation seen.
    pub fn rows(&self) -> Vec<(&'static str, [u64; 4])> {
        let c = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        OPERATIONS
            .iter()
            .zip(c.iter())
            .filter(|(_, n)| n[0] > 0)
            .map(|(name, n)| (*name, *n))
            .collect()
    }

    /// Total faults injected.
    pub fn faults(&self) -> u64 {
        self.rows().iter().map(|(_, n)| n[1] + n[2] + n[3]).sum()
    }
}

/// A running proxy. Faults are on until [`Proxy::calm`].
pub struct Proxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Counters.
    pub stats: Arc<Stats>,
    on: Arc<AtomicBool>,
    in_flight_delays: Arc<AtomicU64>,
}

impl Proxy {
    /// Binds a loopback port and forwards to `upstream` (`127.0.0.1:PORT`).
    pub async fn start(upstream: std::net::SocketAddr, mix: FaultMix) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let stats = Arc::new(Stats::default());
        let on = Arc::new(AtomicBool::new(true));
        let in_flight_delays = Arc::new(AtomicU64::new(0));
        let (s, o, d) = (stats.clone(), on.clone(), in_flight_delays.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let (s, o, d) = (s.clone(), o.clone(), d.clone());
                tokio::spawn(async move {
                    if let Err(error) = serve(client, upstream, mix, &s, &o, &d).await {
                        tracing::debug!(%error, "proxy connection ended");
                    }
                });
            }
        });
        Ok(Self {
            url,
            stats,
            on,
            in_flight_delays,
        })
    }

    /// Stops injecting faults (requests already delayed still go through).
    pub fn calm(&self) {
        self.on.store(false, Ordering::SeqCst);
    }

    /// Delayed requests not yet forwarded.
    pub fn delays_in_flight(&self) -> u64 {
        self.in_flight_delays.load(Ordering::SeqCst)
    }
}

fn draw(mix: FaultMix, on: &AtomicBool) -> Fault {
    if !on.load(Ordering::SeqCst) {
        return Fault::None;
    }
    let mut rng = rand::rng();
    let x: f64 = rng.random();
    if x < mix.reset {
        Fault::Reset
    } else if x < mix.reset + mix.drop {
        Fault::Drop
    } else if x < mix.reset + mix.drop + mix.delay {
        Fault::Delay
    } else {
        Fault::None
    }
}

/// Closes `stream` with a RST (`SO_LINGER` 0): the peer sees "connection reset".
fn reset(stream: TcpStream) {
    // Deprecated because a non-zero linger blocks on drop; zero never blocks.
    #[allow(deprecated)]
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

async fn serve(
    mut client: TcpStream,
    upstream: std::net::SocketAddr,
    mix: FaultMix,
    stats: &Stats,
    on: &AtomicBool,
    delays: &AtomicU64,
) -> Result<()> {
    let mut cbuf = Vec::new();
    loop {
        let Some(req) = read_message(&mut client, &mut cbuf, None).await? else {
            return Ok(());
        };
        let (method, path) = request_line(&req.bytes)?;
        let fault = draw(mix, on);
        stats.count(operation(&method, &path), fault);
        match fault {
            Fault::Reset => {
                reset(client);
                return Ok(());
            }
            Fault::Delay => {
                delays.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(mix.delay_ms)).await;
                delays.fetch_sub(1, Ordering::SeqCst);
            }
            Fault::None | Fault::Drop => {}
        }
        let mut up = TcpStream::connect(upstream)
            .await
            .context("connect upstream")?;
        let _ = up.set_nodelay(true);
        up.write_all(&req.bytes).await?;
        let mut ubuf = Vec::new();
        let Some(resp) = read_message(&mut up, &mut ubuf, Some(&method)).await? else {
            // The sandbox closed without answering (its own reset fault): pass the reset on.
            reset(client);
            return Ok(());
        };
        drop(up);
        if fault == Fault::Drop {
            reset(client);
            return Ok(());
        }
        client.write_all(&resp.bytes).await?;
        if resp.close || req.close {
            return Ok(());
        }
    }
}

struct Message {
    bytes: Vec<u8>,
    close: bool,
}

fn request_line(bytes: &[u8]) -> Result<(String, String)> {
    let end = bytes
        .iter()
        .position(|b| *b == b'\r')
        .context("no request line")?;
    let line = String::from_utf8_lossy(&bytes[..end]);
    let mut parts = line.split(' ');
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    Ok((method, path))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads more into `buf`; `false` at end of stream.
async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<bool> {
    let mut chunk = [0_u8; 16 * 1024];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n > 0)
}

/// Reads one whole HTTP/1.1 message (a request when `request_method` is `None`, else the response
/// to a request of that method). `None` when the stream ends before a message starts. Bytes past
/// the message stay in `buf`.
async fn read_message(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    request_method: Option<&str>,
) -> Result<Option<Message>> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 1 << 20 {
            bail!("header section too large");
        }
        if !fill(stream, buf).await? {
            if buf.is_empty() {
                return Ok(None);
            }
            bail!("stream ended inside a header section");
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut close = false;
    for line in head.split("\r\n").skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            match name.trim() {
                "content-length" => length = value.parse().ok(),
                "transfer-encoding" => chunked = value.contains("chunked"),
                "connection" => close = value.contains("close"),
                _ => {}
            }
        }
    }
    let no_body = match request_method {
        None => false,
        Some(method) => {
            let status: u16 = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status)
        }
    };
    let end = if no_body {
        head_end
    } else if chunked {
        let mut at = head_end;
        loop {
            // One chunk: size line, data, CRLF; size 0 ends (no trailers from our peers).
            let line_end = loop {
                if let Some(i) = find(&buf[at..], b"\r\n") {
                    break at + i;
                }
                if !fill(stream, buf).await? {
                    bail!("stream ended inside a chunk size");
                }
            };
            let size_text = String::from_utf8_lossy(&buf[at..line_end]).to_string();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .context("bad chunk size")?;
            let next = line_end + 2 + size + 2;
            while buf.len() < next {
                if !fill(stream, buf).await? {
                    bail!("stream ended inside a chunk");
                }
            }
            at = next;
            if size == 0 {
                break at;
            }
        }
    } else if let Some(n) = length {
        while buf.len() < head_end + n {
            if !fill(stream, buf).await? {
                bail!("stream ended inside a body");
            }
        }
        head_end + n
    } else if request_method.is_some() {
        // A response without a length ends with the connection.
        while fill(stream, buf).await? {}
        close = true;
        buf.len()
    } else {
        head_end
    };
    let bytes: Vec<u8> = buf.drain(..end).collect();
    Ok(Some(Message { bytes, close }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_named_by_path() {
        let name = |m, p| OPERATIONS[operation(m, p)];
        assert_eq!(name("POST", "/camoo/v1/payment/cashout"), "camoo create");
        assert_eq!(name("GET", "/camoo/v1/payment/verify?id=3"), "camoo verify");
        assert_eq!(
            name("GET", "/omt/api/v1/cashout/GETCTI?accountId=1&otp=2"),
            "omt getcti"
        );
        assert_eq!(name("POST", "/omt/api/v1/cashout/PAYCTI"), "omt paycti");
        assert_eq!(name("POST", "/omno/public/payout"), "omno create");
        assert_eq!(
            name("PUT", "/omno/public/payout/ab/confirm"),
            "omno confirm"
        );
        assert_eq!(name("GET", "/omno/public/payout/ab"), "omno status");
    }

    fn mix(reset: f64, drop: f64, delay: f64) -> FaultMix {
        FaultMix {
            reset,
            drop,
            delay,
            delay_ms: 1_500,
        }
    }

    async fn getcti_calls(http: &reqwest::Client, sandbox: &str, account: i64) -> u64 {
        let v: serde_json::Value = http
            .get(format!("{sandbox}/_admin/omt/calls?account_id={account}"))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("sandbox admin")
            .json()
            .await
            .expect("json");
        v["getcti"].as_u64().unwrap_or(0)
    }

    /// Each fault, through a real proxy before a real sandbox: whether the caller got an answer,
    /// and whether the sandbox handled the call.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_fault_does_what_it_says_to_the_caller_and_the_provider() {
        let sandbox = cashout_sandbox::spawn(cashout_sandbox::SandboxConfig::default())
            .await
            .expect("sandbox");
        let base = sandbox.base_url();
        let admin = reqwest::Client::new();
        let cases = [
            ("none", mix(0.0, 0.0, 0.0), true, 1),
            ("reset", mix(1.0, 0.0, 0.0), false, 0),
            ("drop", mix(0.0, 1.0, 0.0), false, 1),
            ("delay", mix(0.0, 0.0, 1.0), false, 1),
        ];
        for (account, (name, mix, answered, executed)) in (1_i64..).zip(cases) {
            let proxy = Proxy::start(sandbox.addr, mix).await.expect("proxy");
            let client = reqwest::Client::builder()
                .timeout(Duration::from_millis(1_000))
                .build()
                .expect("client");
            let r = client
                .get(format!(
                    "{}/omt/api/v1/cashout/GETCTI?accountId={account}&otp=1234",
                    proxy.url
                ))
                .basic_auth("sandbox-user", Some("sandbox-pass"))
                .send()
                .await;
            assert_eq!(r.is_ok(), answered, "{name}: {r:?}");
            // A delayed call is forwarded after the caller gave up: wait for it (bounded).
            let mut calls = getcti_calls(&admin, &base, account).await;
            for _ in 0..100 {
                if calls >= executed {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                calls = getcti_calls(&admin, &base, account).await;
            }
            assert_eq!(calls, executed, "{name}");
            let row = proxy.stats.rows();
            assert_eq!(row.len(), 1, "{name}");
            assert_eq!(proxy.stats.faults(), u64::from(name != "none"), "{name}");
            if name == "none" {
                // Keep-alive: more requests on the same client, a body included, pass unchanged.
                for _ in 0..3 {
                    let r = client
                        .post(format!("{}/omt/api/v1/cashout/PAYCTI", proxy.url))
                        .basic_auth("sandbox-user", Some("sandbox-pass"))
                        .json(
                            &serde_json::json!({"accountId": 99, "amount": 5, "currency": 1,
                            "customerName": "A B", "receiptNumber": "R1"}),
                        )
                        .send()
                        .await
                        .expect("answered");
                    let v: serde_json::Value = r.json().await.expect("json");
                    assert_eq!(v["isSuccess"], false, "{v}");
                }
            } else {
                // Once calm, the same proxy passes everything.
                proxy.calm();
                let r = client
                    .get(format!(
                        "{}/omt/api/v1/cashout/GETCTI?accountId={account}&otp=1234",
                        proxy.url
                    ))
                    .basic_auth("sandbox-user", Some("sandbox-pass"))
                    .send()
                    .await;
                assert!(r.is_ok(), "{name} calm: {r:?}");
            }
        }
        sandbox.shutdown().await;
    }

    #[test]
    fn no_fault_when_calm() {
        let mix = FaultMix {
            reset: 1.0,
            drop: 0.0,
            delay: 0.0,
            delay_ms: 0,
        };
        assert_eq!(draw(mix, &AtomicBool::new(true)), Fault::Reset);
        assert_eq!(draw(mix, &AtomicBool::new(false)), Fault::None);
    }
}
