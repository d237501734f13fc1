//! Group commit: the requests of one stream (one partition and provider) of one kind (record
//! writes, creates, first reads) that wait while the previous batch of their kind is in flight
//! go to Redis together, in one call. A lone request goes at once (nothing waits for company);
//! under load each call carries many, so the script call itself and the index commands that take
//! many members (`ZADD`, `ZREM`, `XACK`, `HINCRBY`, `MGET`) are shared by the batch. Each request
//! is still decided on its own (a write by its own compare-and-set), and its caller still waits
//! for its own answer: nothing is acknowledged before the script that wrote it has returned.

use crate::conn::RedisConn;
use crate::keys::Keys;
use crate::store::StoreError;
use redis::{Script, Value};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex};
use tokio::sync::{mpsc, oneshot};

static SAVE: LazyLock<Script> =
    LazyLock::new(|| crate::store::record_script(include_str!("lua/save.lua")));
static CREATE: LazyLock<Script> =
    LazyLock::new(|| crate::store::record_script(include_str!("lua/create.lua")));

/// At most this many requests in one call (a script's arguments stay far below what Lua's
/// `unpack` refuses).
const MAX_BATCH: usize = 64;

/// The keys a stream's requests share.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub due: String,
    pub parked: String,
    pub stream: String,
}

/// One kind of request that can go to Redis in batches.
pub(crate) trait Kind: Send + Sync + 'static {
    /// One request.
    type Item: Send + 'static;
    /// Its answer.
    type Out: Send + 'static;
    /// The metric label.
    const NAME: &'static str;
    /// Sends `items` in one call; one answer per item, in order.
    fn run(
        conn: &mut RedisConn,
        shared: &Shared,
        items: &[Self::Item],
    ) -> impl Future<Output = Result<Vec<Self::Out>, StoreError>> + Send;
}

type Request<K> = (
    <K as Kind>::Item,
    oneshot::Sender<Result<<K as Kind>::Out, StoreError>>,
);
type Senders<K> = HashMap<Stream, mpsc::UnboundedSender<Request<K>>>;

/// A stream: its provider and partition.
pub(crate) type Stream = (cashout_core::Provider, u16);

/// One batching task per stream and kind, started on its first request.
pub(crate) struct Batcher<K: Kind> {
    senders: Arc<Mutex<Senders<K>>>,
}

impl<K: Kind> Clone for Batcher<K> {
    fn clone(&self) -> Self {
        Self {
            senders: Arc::clone(&self.senders),
        }
    }
}

impl<K: Kind> Default for Batcher<K> {
    fn default() -> Self {
        Self {
            senders: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl<K: Kind> std::fmt::Debug for Batcher<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").field("kind", &K::NAME).finish()
    }
}

impl<K: Kind> Batcher<K> {
    /// Sends `item` with the next batch of `shared.stream`'s requests of this kind.
    pub(crate) async fn send(
        &self,
        conn: &RedisConn,
        keys: &Keys,
        stream: Stream,
        item: K::Item,
    ) -> Result<K::Out, StoreError> {
        let stopped = || StoreError::Queue(format!("the {} batcher stopped", K::NAME));
        let (tx, rx) = oneshot::channel();
        let mut request = (item, tx);
        for _ in 0..2 {
            match self.sender(conn, keys, stream).send(request) {
                Ok(()) => return rx.await.unwrap_or_else(|_| Err(stopped())),
                // The task is gone (the runtime it ran on ended): start another.
                Err(mpsc::error::SendError(back)) => {
                    request = back;
                    self.lock().remove(&stream);
                }
            }
        }
        Err(stopped())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Senders<K>> {
        match self.senders.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The stream's task, started (with the stream's key names, built once) on first use.
    fn sender(
        &self,
        conn: &RedisConn,
        keys: &Keys,
        stream: Stream,
    ) -> mpsc::UnboundedSender<Request<K>> {
        let mut m = self.lock();
        if let Some(tx) = m.get(&stream).filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (provider, p) = stream;
        let shared = Shared {
            due: keys.due(provider, p),
            parked: keys.parked(p),
            stream: keys.stream(provider, p),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run::<K>(conn.clone(), shared, rx));
        m.insert(stream, tx.clone());
        tx
    }
}

async fn run<K: Kind>(
    mut conn: RedisConn,
    shared: Shared,
    mut rx: mpsc::UnboundedReceiver<Request<K>>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        metrics::histogram!("cashout_redis_batch_size", "kind" => K::NAME)
            .record(batch.len() as f64);
        let (items, replies): (Vec<K::Item>, Vec<_>) = batch.into_iter().unzip();
        match K::run(&mut conn, &shared, &items).await {
            Ok(outs) if outs.len() == replies.len() => {
                for (tx, out) in replies.into_iter().zip(outs) {
                    let _ = tx.send(Ok(out));
                }
            }
            Ok(outs) => {
                let msg = format!(
                    "{}: {} answers for {} requests",
                    K::NAME,
                    outs.len(),
                    replies.len()
                );
                for tx in replies {
                    let _ = tx.send(Err(StoreError::Queue(msg.clone())));
                }
            }
            Err(e) => {
                for tx in replies {
                    let _ = tx.send(Err(e.clone()));
                }
            }
        }
    }
}

/// One record write (see `lua/save.lua` for its fields).
#[derive(Debug)]
pub(crate) struct SaveItem {
    /// The record's key.
    pub record: String,
    /// This minute's outcome counts of the record's partition.
    pub outcomes: String,
    /// The item's arguments, in `save.lua`'s order, its history lines last.
    pub args: Vec<String>,
}

/// Record writes: `save.lua`'s code per write (1 written, 0 the version changed, 2 leased by
/// somebody else, 3 the record's key holds another type).
pub(crate) struct Saves;

impl Kind for Saves {
    type Item = SaveItem;
    type Out = i64;
    const NAME: &'static str = "save";

    async fn run(
        conn: &mut RedisConn,
        shared: &Shared,
        items: &[SaveItem],
    ) -> Result<Vec<i64>, StoreError> {
        let mut inv = SAVE.prepare_invoke();
        inv.key(&shared.due).key(&shared.parked).key(&shared.stream);
        for item in items {
            inv.key(&item.record).key(&item.outcomes);
        }
        inv.arg(crate::keys::GROUP)
            .arg(chrono::Utc::now().timestamp_millis());
        for item in items {
            for a in &item.args {
                inv.arg(a);
            }
        }
        Ok(inv.invoke_async(conn).await?)
    }
}

/// A new cashout (see `lua/create.lua`).
#[derive(Debug)]
pub(crate) struct CreateItem {
    /// The record's key.
    pub record: String,
    /// id, record JSON, version, first history line, due (ms), redelivery deadline (ms), '1'
    /// to deliver now.
    pub args: [String; 7],
}

/// Creates: per cashout, `{1}` created, `{0, json}` the key was taken, `{2}` the key was taken
/// by a record whose header is malformed.
pub(crate) struct Creates;

impl Kind for Creates {
    type Item = CreateItem;
    type Out = Value;
    const NAME: &'static str = "create";

    async fn run(
        conn: &mut RedisConn,
        shared: &Shared,
        items: &[CreateItem],
    ) -> Result<Vec<Value>, StoreError> {
        let mut inv = CREATE.prepare_invoke();
        inv.key(&shared.due).key(&shared.stream);
        for item in items {
            inv.key(&item.record);
            for a in &item.args {
                inv.arg(a);
            }
        }
        Ok(inv.invoke_async(conn).await?)
    }
}

/// First reads of records (`MGET`): the stored value, if any.
pub(crate) struct Reads;

impl Kind for Reads {
    type Item = String;
    type Out = Option<Vec<u8>>;
    const NAME: &'static str = "read";

    async fn run(
        conn: &mut RedisConn,
        _shared: &Shared,
        items: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        Ok(redis::cmd("MGET").arg(items).query_async(conn).await?)
    }
}
