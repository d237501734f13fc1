//! Configuration: defaults → TOML file (`--config` or `CASHOUT_CONFIG`) → environment
//! (`CASHOUT_` prefix, `__` for nesting, e.g. `CASHOUT_REDIS__URL`). Secrets stay `SecretString`;
//! an invalid value is reported with its key.

use anyhow::{Context, bail};
use cashout_api::{ApiConfig, ApiToken, parse_tokens};
use cashout_providers::camoo::CamooConfig;
use cashout_store::RedisConfig;
use cashout_worker::WorkerConfig;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::path::Path;

/// Everything the binary can be told.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Redis.
    pub redis: RedisConfig,
    /// HTTP API.
    pub api: ApiConfig,
    /// The operator console under `/console` on the API.
    pub console: cashout_api::ConsoleConfig,
    /// Workers.
    pub worker: WorkerConfig,
    /// Provider adapters.
    pub providers: ProvidersConfig,
    /// The local sandbox.
    pub sandbox: SandboxSettings,
    /// Logging.
    pub log: LogConfig,
}

/// Provider settings; a provider without credentials is disabled.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProvidersConfig {
    /// Camoo.
    pub camoo: CamooConfig,
    /// OMT.
    pub omt: cashout_providers::omt::OmtConfig,
    /// OMNO.
    pub omno: cashout_providers::omno::OmnoConfig,
}

impl ProvidersConfig {
    /// True when Camoo has credentials.
    pub fn camoo_enabled(&self) -> bool {
        !self.camoo.api_key.expose_secret().is_empty()
    }

    /// True when OMNO has a token.
    pub fn omno_enabled(&self) -> bool {
        !self.omno.token.expose_secret().is_empty()
    }

    /// True when OMT has credentials.
    pub fn omt_enabled(&self) -> bool {
        !self.omt.username.expose_secret().is_empty()
    }
}

/// `cashout sandbox` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxSettings {
    /// `host:port`.
    pub listen: String,
    /// The simulated Camoo.
    pub camoo: cashout_sandbox::CamooConfig,
    /// The simulated OMT.
    pub omt: cashout_sandbox::OmtConfig,
    /// The simulated OMNO.
    pub omno: cashout_sandbox::OmnoConfig,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8090".to_owned(),
            camoo: cashout_sandbox::CamooConfig::default(),
            omt: cashout_sandbox::OmtConfig::default(),
            omno: cashout_sandbox::OmnoConfig::default(),
        }
    }
}

/// Log output.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (default) or `json`; anything else is refused at start-up.
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, with the current span and the span list.
    Json,
}

impl Settings {
    /// Loads the layers. `file` wins over `CASHOUT_CONFIG`.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut fig = Figment::new();
        let env_file = std::env::var("CASHOUT_CONFIG").ok();
        if let Some(path) = file.map(Path::to_path_buf).or(env_file.map(Into::into)) {
            if !path.exists() {
                bail!("config file {} does not exist", path.display());
            }
            fig = fig.merge(Toml::file(path));
        }
        fig = fig.merge(
            Env::prefixed("CASHOUT_")
                .split("__")
                .filter(|k| k.as_str() != "config"),
        );
        Self::from_figment(fig)
    }

    /// Extracts and validates.
    pub fn from_figment(fig: Figment) -> anyhow::Result<Self> {
        let s: Settings = fig.extract().map_err(|e| {
            // figment names the key ("for key `redis.url`"); secrets are never echoed because
            // they only fail to parse when they are not strings.
            anyhow::anyhow!("invalid configuration: {e}")
        })?;
        s.validate()?;
        Ok(s)
    }

    /// Cross-field checks.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.redis.prefix.is_empty()
            || self
                .redis
                .prefix
                .contains(|c: char| c.is_whitespace() || c == '{' || c == '}')
        {
            // Braces would change the keys' Redis Cluster hash tags.
            bail!("redis.prefix: must be non-empty, without spaces or braces");
        }
        // redis-rs only says "did not parse"; name the setting and show the URL redacted
        // (a URL without `scheme://` would otherwise be echoed as is, password included).
        if self
            .redis
            .url
            .split(',')
            .map(str::trim)
            .any(|node| !node.is_empty() && !node.contains("://"))
        {
            bail!(
                "redis.url: '{}' is not a URL like redis://[user:password@]host:port[/db] (or a comma-separated list of them)",
                cashout_store::redact_url(&self.redis.url)
            );
        }
        if self.api.header_read_timeout_ms == 0 {
            bail!("api.header_read_timeout_ms: must be at least 1");
        }
        if self.worker.concurrency == 0 {
            bail!("worker.concurrency: must be at least 1");
        }
        if self.worker.max_deliveries == 0 {
            bail!("worker.max_deliveries: must be at least 1");
        }
        // The lease is renewed every third of its length during a step: it need not outlast
        // the provider calls, only a few Redis round trips.
        if self.worker.lease_ms < 1_000 {
            bail!("worker.lease_ms: must be at least 1000 (it is renewed every third of it)");
        }
        if self.providers.omt.max_failed_attempts > 3 {
            bail!("providers.omt.max_failed_attempts: must be at most 3 (OMT locks at the 4th)");
        }
        for (name, retry) in [
            ("camoo", &self.providers.camoo.retry),
            ("omt", &self.providers.omt.retry),
            ("omno", &self.providers.omno.retry),
        ] {
            retry
                .check()
                .map_err(|e| anyhow::anyhow!("providers.{name}.retry.{e}"))?;
        }
        let p = &self.providers;
        for (name, limits, timeouts) in [
            ("camoo", &p.camoo.limits, &p.camoo.timeouts),
            ("omt", &p.omt.limits, &p.omt.timeouts),
            ("omno", &p.omno.limits, &p.omno.timeouts),
        ] {
            limits
                .validate(name, timeouts)
                .map_err(|e| anyhow::anyhow!(e))?;
        }
        let tokens = self.tokens().context("api.tokens")?;
        let admin = self.admin_tokens().context("api.admin_tokens")?;
        if let Some(t) = admin
            .iter()
            .find(|a| tokens.iter().any(|t| t.name == a.name))
        {
            bail!(
                "api.admin_tokens: the name '{}' is also a producer token; use distinct names",
                t.name
            );
        }
        // One secret in both lists would make a producer an operator (require_admin matches
        // admin tokens first). The error names the tokens, never the secret.
        for a in &admin {
            if let Some(t) = tokens.iter().find(|t| t.same_secret(a)) {
                bail!(
                    "api.admin_tokens: the token '{}' has the same secret as the producer token '{}' in api.tokens; give operators their own secrets",
                    a.name,
                    t.name
                );
            }
        }
        Ok(())
    }

    /// The operator tokens.
    pub fn admin_tokens(&self) -> anyhow::Result<Vec<ApiToken>> {
        parse_tokens(self.api.admin_tokens.expose_secret()).map_err(anyhow::Error::msg)
    }

    /// The API's bearer tokens.
    pub fn tokens(&self) -> anyhow::Result<Vec<ApiToken>> {
        parse_tokens(self.api.tokens.expose_secret()).map_err(anyhow::Error::msg)
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return figment::Error
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn a_prefix_with_braces_is_refused() {
        let mut s = Settings::default();
        s.validate().expect("defaults are valid");
        s.redis.prefix = "cash{out}".into();
        let e = s.validate().expect_err("braces change the hash tags");
        assert!(e.to_string().contains("redis.prefix"), "{e}");
    }

    #[test]
    fn a_secret_shared_by_a_producer_and_an_admin_token_is_refused() {
        let mut s = Settings::default();
        s.api.tokens = "upstream:shared-secret-1,other:producer-only".into();
        s.api.admin_tokens = "ops-alice:admin-only-1,ops-bob:shared-secret-1".into();
        let e = format!("{:#}", s.validate().expect_err("a shared secret"));
        assert!(e.contains("api.admin_tokens"), "{e}");
        assert!(e.contains("ops-bob") && e.contains("upstream"), "{e}");
        assert!(!e.contains("shared-secret-1"), "{e}");
        s.api.admin_tokens = "ops-alice:admin-only-1,ops-bob:admin-only-2".into();
        s.validate().expect("distinct secrets are fine");
    }

    #[test]
    fn a_redis_url_without_a_scheme_is_refused_without_its_password() {
        for url in [
            "user:s3cret@host:6379",
            "s3cret@host:6379",
            "redis://:s3cret@h1:1,user:s3cret@h2:2",
        ] {
            let mut s = Settings::default();
            s.redis.url = url.into();
            let e = format!("{:#}", s.validate().expect_err(url));
            assert!(e.contains("redis.url"), "{e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn log_format_is_text_or_json() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.log.format, LogFormat::Text);
            jail.set_env("CASHOUT_LOG__FORMAT", "json");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.log.format, LogFormat::Json);
            jail.set_env("CASHOUT_LOG__FORMAT", "text");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.log.format, LogFormat::Text);
            for bad in ["xml", "JSONL", ""] {
                jail.set_env("CASHOUT_LOG__FORMAT", bad);
                let e = format!("{:#}", Settings::load(None).expect_err(bad)).to_lowercase();
                assert!(e.contains("log.format"), "{e}");
                assert!(e.contains("text") && e.contains("json"), "{e}");
            }
            Ok(())
        });
    }

    #[test]
    fn layers_and_nesting() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                "c.toml",
                "[redis]\nurl = \"redis://127.0.0.1:7000\"\n[worker]\nconcurrency = 4\n",
            )?;
            jail.set_env("CASHOUT_WORKER__CONCURRENCY", "9");
            jail.set_env("CASHOUT_API__TOKENS", "upstream:0123456789,ops:abcdefghij");
            jail.set_env(
                "CASHOUT_PROVIDERS__CAMOO__BASE_URL",
                "http://127.0.0.1:1/camoo/v1/payment",
            );
            jail.set_env("CASHOUT_PROVIDERS__CAMOO__API_KEY", "k");
            let s = Settings::load(Some(Path::new("c.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(s.redis.url, "redis://127.0.0.1:7000");
            assert_eq!(s.worker.concurrency, 9);
            assert_eq!(s.tokens().map_err(|e| e.to_string())?.len(), 2);
            assert!(s.providers.camoo_enabled());
            assert_eq!(
                s.providers.camoo.base_url,
                "http://127.0.0.1:1/camoo/v1/payment"
            );
            Ok(())
        });
    }

    #[test]
    fn bad_values_name_their_key() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("CASHOUT_WORKER__CONCURRENCY", "many");
            let e = Settings::load(None).unwrap_err().to_string().to_lowercase();
            assert!(e.contains("worker.concurrency"), "{e}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("CASHOUT_API__TOKENS", "nocolon-secretvalue");
            let e = format!("{:#}", Settings::load(None).unwrap_err());
            assert!(e.contains("api.tokens"), "{e}");
            assert!(!e.contains("secretvalue"), "{e}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("CASHOUT_REDIS__URLL", "x");
            let e = Settings::load(None).unwrap_err().to_string().to_lowercase();
            assert!(e.contains("urll"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn debug_output_hides_secrets() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("CASHOUT_PROVIDERS__CAMOO__API_SECRET", "topsecretvalue");
            jail.set_env("CASHOUT_API__TOKENS", "upstream:tokensecretvalue");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            let dbg = format!("{s:?}");
            assert!(!dbg.contains("topsecretvalue"));
            assert!(!dbg.contains("tokensecretvalue"));
            Ok(())
        });
    }

    #[test]
    fn example_config_loads_and_matches_defaults() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let path =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/cashout.example.toml");
            let s = Settings::load(Some(&path)).map_err(|e| e.to_string())?;
            let d = Settings::default();
            assert_eq!(s.redis.url, d.redis.url);
            assert_eq!(s.worker.lease_ms, d.worker.lease_ms);
            assert_eq!(s.providers.camoo.retry, d.providers.camoo.retry);
            assert_eq!(s.providers.camoo.timeouts, d.providers.camoo.timeouts);
            assert_eq!(s.worker.queue.claim_idle_ms, d.worker.queue.claim_idle_ms);
            assert_eq!(s.worker.queue.batch_size, d.worker.queue.batch_size);
            assert_eq!(s.redis.partitions, d.redis.partitions);
            assert_eq!(s.api.header_read_timeout_ms, d.api.header_read_timeout_ms);
            assert_eq!(s.redis.redeliver_after_ms, d.redis.redeliver_after_ms);
            assert_eq!(s.providers.camoo.poll, d.providers.camoo.poll);
            Ok(())
        });
    }
}
