//! One connection type for a single Redis and for a Redis Cluster, counting round trips.
//!
//! `redis.url` is one `redis://` URL, or several separated by commas: the seed nodes of a
//! cluster. Every key a script touches shares one hash tag (see [`crate::Keys`]), so scripts
//! run on one node; commands are routed by their first key.

use crate::store::{RedisConfig, StoreError};
use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static ROUND_TRIPS: AtomicU64 = AtomicU64::new(0);

/// Requests this process has sent to Redis (a pipeline or a script is one), for the
/// `cashout_redis_round_trips_total` metric and the benchmark.
pub fn round_trips() -> u64 {
    ROUND_TRIPS.load(Ordering::Relaxed)
}

/// True when `url` names cluster seed nodes (a comma-separated list).
pub fn is_cluster(url: &str) -> bool {
    url.contains(',')
}

fn nodes(url: &str) -> Vec<String> {
    url.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A connection to Redis or to a Redis Cluster. Cheap to clone; reconnects by itself.
#[derive(Clone)]
pub enum RedisConn {
    /// One server (or a proxy in front of several).
    Single(ConnectionManager),
    /// A cluster: commands are routed to the node that owns their key's slot.
    Cluster(ClusterConnection),
    /// A connection of its own for blocking reads (no response timeout).
    Dedicated(MultiplexedConnection),
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        ROUND_TRIPS.fetch_add(1, Ordering::Relaxed);
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
            Self::Dedicated(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        ROUND_TRIPS.fetch_add(1, Ordering::Relaxed);
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Dedicated(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
            Self::Dedicated(c) => c.get_db(),
        }
    }
}

/// Opens a connection (single or cluster, by the URL) with our timeouts.
pub async fn connect(config: &RedisConfig) -> Result<RedisConn, StoreError> {
    let response = Duration::from_millis(config.response_timeout_ms);
    let connect = Duration::from_millis(config.connection_timeout_ms);
    if is_cluster(&config.url) {
        let client = ClusterClient::builder(nodes(&config.url))
            .response_timeout(response)
            .connection_timeout(connect)
            .retries(3)
            .build()?;
        return Ok(RedisConn::Cluster(client.get_async_connection().await?));
    }
    let client = redis::Client::open(config.url.as_str())?;
    let cm = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(response))
        .set_connection_timeout(Some(connect))
        .set_number_of_retries(3)
        .set_max_delay(Duration::from_secs(2));
    Ok(RedisConn::Single(
        client.get_connection_manager_with_config(cm).await?,
    ))
}

/// Opens connections for blocking reads: on a single Redis a connection of its own per
/// reader; on a cluster a cluster connection whose response timeout outlasts `block`.
#[derive(Clone)]
pub(crate) enum Connector {
    Single(redis::Client, Duration),
    Cluster(Box<ClusterClient>),
}

impl Connector {
    pub(crate) fn new(config: &RedisConfig, block: Duration) -> Result<Self, StoreError> {
        // A blocking read answers within `block`; past that plus a command's timeout, the
        // connection is taken for dead (a half-open TCP connection would hang for hours).
        let timeout = block + Duration::from_millis(config.response_timeout_ms);
        if is_cluster(&config.url) {
            let client = ClusterClient::builder(nodes(&config.url))
                .response_timeout(timeout)
                .connection_timeout(Duration::from_millis(config.connection_timeout_ms))
                .retries(1)
                .build()?;
            return Ok(Self::Cluster(Box::new(client)));
        }
        Ok(Self::Single(
            redis::Client::open(config.url.as_str())?,
            timeout,
        ))
    }

    pub(crate) async fn blocking(&self) -> Result<RedisConn, StoreError> {
        match self {
            Self::Single(client, timeout) => {
                let cfg = AsyncConnectionConfig::new()
                    .set_response_timeout(Some(*timeout))
                    .set_connection_timeout(Some(Duration::from_secs(2)));
                Ok(RedisConn::Dedicated(
                    client
                        .get_multiplexed_async_connection_with_config(&cfg)
                        .await?,
                ))
            }
            Self::Cluster(client) => Ok(RedisConn::Cluster(client.get_async_connection().await?)),
        }
    }
}
