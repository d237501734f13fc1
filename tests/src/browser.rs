//! A real headless Chromium for the console tests, driven over WebDriver (`chromedriver`) with
//! fantoccini. Debian's `chromium` and `chromium-driver` are installed with apt-get when missing
//! and we are root (as `make test` does for redis-server); where that is impossible the caller
//! skips with a loud message.

use fantoccini::{Client, ClientBuilder};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const DRIVER: &str = "/usr/bin/chromedriver";

fn installed() -> bool {
    std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(DRIVER).exists()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Makes sure Chromium and chromedriver are there; `Err` says why they cannot be.
pub fn ensure_installed() -> Result<(), String> {
    static ONCE: std::sync::Mutex<Option<Result<(), String>>> = std::sync::Mutex::new(None);
    let mut g = ONCE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(r) = g.as_ref() {
        return r.clone();
    }
    let r = if installed() {
        Ok(())
    } else if !is_root() {
        Err(
            "chromium and chromium-driver are missing and we are not root: \
             apt-get install chromium chromium-driver"
                .to_owned(),
        )
    } else {
        eprintln!("installing chromium and chromium-driver with apt-get…");
        let apt = |args: &[&str]| {
            Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let _ = apt(&["update", "-qq"]);
        if apt(&["install", "-y", "-qq", "chromium", "chromium-driver"]) && installed() {
            Ok(())
        } else {
            Err("apt-get install chromium chromium-driver failed".to_owned())
        }
    };
    *g = Some(r.clone());
    r
}

/// chromedriver on a free port and one browser session; both stopped on drop (the session
/// with [`Browser::close`]).
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile.
    pub async fn start() -> Result<Self, String> {
        ensure_installed()?;
        let port = crate::free_port();
        let mut driver = Command::new(DRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start chromedriver: {e}"))?;
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > Duration::from_secs(20) {
                let _ = driver.kill();
                return Err("chromedriver did not listen within 20 s".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = std::env::temp_dir().join(format!(
            "cashout-chromium-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        match client {
            Ok(client) => Ok(Self {
                client,
                driver,
                profile,
            }),
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                Err(format!("no browser session: {e}"))
            }
        }
    }

    /// Ends the browser session and chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Whether a PNG shows something: it decodes, is at least 200×200, and has many colours and
/// enough pixels away from the background (a blank or one-colour page fails).
pub fn check_png(bytes: &[u8]) -> Result<(u32, u32, usize), String> {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or("no buffer size")?];
    let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    let (w, h) = (info.width, info.height);
    if w < 200 || h < 200 {
        return Err(format!("{w}×{h} is too small"));
    }
    let px = info.color_type.samples();
    let data = &buf[..info.buffer_size()];
    let mut colours = std::collections::HashSet::new();
    let first = data.get(..px.min(3)).unwrap_or_default().to_vec();
    let mut differing = 0usize;
    for p in data.chunks(px) {
        let rgb = &p[..px.min(3)];
        colours.insert(rgb.to_vec());
        if rgb != first.as_slice() {
            differing += 1;
        }
    }
    let total = (w * h) as usize;
    if colours.len() < 16 || differing * 50 < total {
        return Err(format!(
            "looks blank: {} colours, {differing} of {total} pixels differ from the first",
            colours.len()
        ));
    }
    Ok((w, h, colours.len()))
}
