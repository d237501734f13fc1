//! Group commit of record writes: the writes of one stream (one partition and provider) that
//! wait while the previous batch is in flight go to Redis together, in one `save.lua` call. A
//! lone write goes at once (nothing waits for company); under load, each script call carries
//! many writes, so the script call itself and the index commands that take many members
//! (`ZADD`, `ZREM`, `XACK`, `HINCRBY`) are shared by the batch. Each write is still decided on
//! its own, by its own compare-and-set, and its caller still waits for its own answer: the
//! driver acknowledges nothing before the script that wrote it has returned.

use crate::conn::RedisConn;
use crate::store::StoreError;
use redis::Script;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use tokio::sync::{mpsc, oneshot};

static SAVE: LazyLock<Script> =
    LazyLock::new(|| crate::store::record_script(include_str!("lua/save.lua")));

/// At most this many writes in one script call (its arguments stay far below what Lua's
/// `unpack` refuses).
const MAX_BATCH: usize = 64;

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

/// The keys a stream's writes share.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub due: String,
    pub parked: String,
    pub stream: String,
}

type Request = (SaveItem, oneshot::Sender<Result<i64, StoreError>>);

/// One writer task per stream, started on its first write.
#[derive(Debug, Clone, Default)]
pub(crate) struct Writers {
    senders: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Request>>>>,
}

impl Writers {
    /// Writes `item` with the next batch of `shared.stream`'s writes; its code from
    /// `save.lua` (1 written, 0 the version changed, 2 leased by somebody else).
    pub(crate) async fn save(
        &self,
        conn: &RedisConn,
        shared: Shared,
        item: SaveItem,
    ) -> Result<i64, StoreError> {
        let (tx, rx) = oneshot::channel();
        let mut request = (item, tx);
        for _ in 0..2 {
            let sender = self.sender(conn, &shared);
            match sender.send(request) {
                Ok(()) => {
                    return rx.await.unwrap_or_else(|_| {
                        Err(StoreError::Queue("the record writer stopped".to_owned()))
                    });
                }
                // The writer task is gone (its runtime ended): start another.
                Err(mpsc::error::SendError(back)) => {
                    request = back;
                    if let Ok(mut m) = self.senders.lock() {
                        m.remove(&shared.stream);
                    }
                }
            }
        }
        Err(StoreError::Queue("the record writer stopped".to_owned()))
    }

    fn sender(&self, conn: &RedisConn, shared: &Shared) -> mpsc::UnboundedSender<Request> {
        let mut m = match self.senders.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(tx) = m.get(&shared.stream).filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(conn.clone(), shared.clone(), rx));
        m.insert(shared.stream.clone(), tx.clone());
        tx
    }
}

async fn run(mut conn: RedisConn, shared: Shared, mut rx: mpsc::UnboundedReceiver<Request>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        metrics::histogram!("cashout_redis_write_batch_size").record(batch.len() as f64);
        let mut inv = SAVE.prepare_invoke();
        inv.key(&shared.due).key(&shared.parked).key(&shared.stream);
        for (item, _) in &batch {
            inv.key(&item.record).key(&item.outcomes);
        }
        inv.arg(crate::keys::GROUP)
            .arg(chrono::Utc::now().timestamp_millis());
        for (item, _) in &batch {
            for a in &item.args {
                inv.arg(a);
            }
        }
        let res: Result<Vec<i64>, redis::RedisError> = inv.invoke_async(&mut conn).await;
        match res {
            Ok(codes) if codes.len() == batch.len() => {
                for ((_, tx), code) in batch.into_iter().zip(codes) {
                    let _ = tx.send(Ok(code));
                }
            }
            Ok(codes) => {
                let msg = format!(
                    "save.lua answered {} codes for {} writes",
                    codes.len(),
                    batch.len()
                );
                for (_, tx) in batch {
                    let _ = tx.send(Err(StoreError::Queue(msg.clone())));
                }
            }
            Err(e) => {
                for (_, tx) in batch {
                    let _ = tx.send(Err(StoreError::Redis(e.clone())));
                }
            }
        }
    }
}
