//! The processes under test: a `redis-server` with AOF on a free port, and real `cashout api` /
//! `cashout worker` processes, each incarnation logging into its own file so that every line any
//! of them wrote can be searched afterwards.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::process::{Child, Command};

/// A free loopback port (bound, then released).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `redis-server` with `appendonly yes` and, by default, `appendfsync always`: a write is in the
/// AOF (and fsynced) before Redis acknowledges it, so whatever a client was told survives
/// `kill -9` (and even a power cut).
pub struct Redis {
    /// Its port.
    pub port: u16,
    appendfsync: String,
    dir: PathBuf,
    child: Option<Child>,
    /// Incarnations started so far (for the log file names).
    starts: u32,
}

impl Redis {
    /// Starts one with its data under `dir/redis`; `appendfsync` is `always` or `everysec`.
    pub async fn start(dir: &Path, appendfsync: &str) -> Result<Self> {
        let data = dir.join("redis");
        std::fs::create_dir_all(&data)?;
        let mut r = Self {
            port: free_port()?,
            appendfsync: appendfsync.to_owned(),
            dir: data,
            child: None,
            starts: 0,
        };
        r.launch().await?;
        Ok(r)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn launch(&mut self) -> Result<()> {
        self.starts += 1;
        let log = std::fs::File::create(self.dir.join(format!("redis-{}.log", self.starts)))?;
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "yes", "--appendfsync"])
            .arg(&self.appendfsync)
            .arg("--dir")
            .arg(&self.dir)
            .stdout(log)
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("redis-server (apt-get install redis-server)")?;
        self.child = Some(child);
        // PING answers only once the AOF is loaded.
        let client = redis::Client::open(self.url())?;
        let started = Instant::now();
        loop {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .is_ok()
            {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("redis-server did not come up on port {}", self.port);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no chance to write anything more.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
    }

    /// Starts it again on the same port and data directory (the AOF is replayed).
    pub async fn restart(&mut self) -> Result<()> {
        self.kill().await;
        self.launch().await
    }
}

/// One role (`api` or `worker N`) whose process is killed and started again; every incarnation
/// writes stdout and stderr to `logs/<name>-<n>.log`.
pub struct Role {
    /// `api`, `worker-1`, …
    pub name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    bin: PathBuf,
    logs: PathBuf,
    child: Option<Child>,
    /// Incarnations started so far.
    pub starts: u32,
    /// Times it was `kill -9`ed.
    pub kills: u32,
    /// Times it exited on its own (found dead and restarted).
    pub exits: u32,
}

impl Role {
    /// A role; nothing runs until [`Role::start`].
    pub fn new(
        name: &str,
        bin: &Path,
        args: &[&str],
        env: Vec<(String, String)>,
        logs: &Path,
    ) -> Self {
        Self {
            name: name.to_owned(),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            env,
            bin: bin.to_owned(),
            logs: logs.to_owned(),
            child: None,
            starts: 0,
            kills: 0,
            exits: 0,
        }
    }

    /// Starts a new incarnation.
    pub fn start(&mut self) -> Result<()> {
        self.starts += 1;
        let path = self.logs.join(format!("{}-{}.log", self.name, self.starts));
        let out = std::fs::File::create(&path)?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(&self.bin);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        // The configuration comes from `env` only, not from the caller's CASHOUT_ variables.
        for (k, _) in std::env::vars() {
            if k.starts_with("CASHOUT_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        self.child = Some(
            cmd.spawn()
                .with_context(|| format!("spawn {}", self.bin.display()))?,
        );
        Ok(())
    }

    /// `kill -9`, waiting until it is gone.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
            let _ = c.wait().await;
            self.kills += 1;
        }
    }

    /// Restarts it if it exited on its own; `true` when it had.
    pub fn revive_if_dead(&mut self) -> Result<bool> {
        let dead = match self.child.as_mut() {
            Some(c) => c.try_wait()?.is_some(),
            None => false,
        };
        if dead {
            self.exits += 1;
            self.child = None;
            self.start()?;
        }
        Ok(dead)
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        if let Some(mut c) = self.child.take() {
            if let Some(pid) = c.id() {
                let _ = std::process::Command::new("kill")
                    .arg(pid.to_string())
                    .status();
            }
            if tokio::time::timeout(grace, c.wait()).await.is_err() {
                let _ = c.start_kill();
                let _ = c.wait().await;
            }
        }
    }
}
