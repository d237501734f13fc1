//! Console sessions: a random id in an `HttpOnly`, `SameSite=Strict` cookie; the operator's name
//! and the session's CSRF token kept in Redis under the service prefix, with a TTL. The cookie
//! never holds a token, and Redis holds only a hash of the session id.

use axum::http::{HeaderMap, header};
use cashout_store::{Store, StoreError};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use subtle::ConstantTimeEq;

/// The cookie's name.
pub(crate) const COOKIE: &str = "cashout_console";

/// A logged-in operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Session {
    /// The admin token's name: every action is recorded under it.
    pub operator: String,
    /// Sent back with every form.
    pub csrf: String,
    /// The [`ApiToken::session_mark`](crate::auth::ApiToken::session_mark) of the token it was
    /// opened with: the session ends when that token is removed or its secret changes.
    #[serde(default)]
    pub mark: String,
    /// The session id (not stored).
    #[serde(skip)]
    pub id: String,
}

impl Session {
    /// True while the token this session was opened with is still an operator token, under
    /// the same name and with the same secret.
    pub(crate) fn still_valid(&self, admin_tokens: &[crate::auth::ApiToken]) -> bool {
        admin_tokens.iter().any(|t| {
            t.name == self.operator
                && bool::from(t.session_mark().as_bytes().ct_eq(self.mark.as_bytes()))
        })
    }

    /// True when `presented` is this session's CSRF token (compared in constant time).
    pub(crate) fn csrf_ok(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(self.csrf.as_bytes())))
    }
}

fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn key(store: &Store, id: &str) -> String {
    let digest = sha2::Sha256::digest(id.as_bytes());
    format!(
        "{}:console:session:{}",
        store.keys().prefix(),
        hex::encode(digest)
    )
}

fn flash_key(store: &Store, id: &str) -> String {
    format!("{}:flash", key(store, id))
}

/// Starts a session for `operator`.
pub(crate) async fn create(
    store: &Store,
    operator: &str,
    mark: String,
    ttl_secs: u64,
) -> Result<Session, StoreError> {
    let s = Session {
        operator: operator.to_owned(),
        mark,
        csrf: random_hex(),
        id: random_hex(),
    };
    let json = serde_json::to_string(&s).unwrap_or_default();
    let mut c = store.connection();
    let _: () = c.set_ex(key(store, &s.id), json, ttl_secs.max(60)).await?;
    Ok(s)
}

/// The session a request's cookie names, if it is still open.
pub(crate) async fn get(store: &Store, headers: &HeaderMap) -> Result<Option<Session>, StoreError> {
    let Some(id) = cookie(headers) else {
        return Ok(None);
    };
    // Only ids we hand out can match: 64 hex digits.
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let mut c = store.connection();
    let raw: Option<String> = c.get(key(store, id)).await?;
    Ok(raw
        .and_then(|r| serde_json::from_str::<Session>(&r).ok())
        .map(|mut s| {
            s.id = id.to_owned();
            s
        }))
}

/// Ends a session.
pub(crate) async fn end(store: &Store, s: &Session) -> Result<(), StoreError> {
    let mut c = store.connection();
    let _: () = c.del(key(store, &s.id)).await?;
    Ok(())
}

/// Keeps a message for the session's next page.
pub(crate) async fn set_flash(store: &Store, s: &Session, msg: &str) -> Result<(), StoreError> {
    let mut c = store.connection();
    let _: () = c.set_ex(flash_key(store, &s.id), msg, 300).await?;
    Ok(())
}

/// Takes the message kept for this page, if any.
pub(crate) async fn take_flash(store: &Store, s: &Session) -> Result<Option<String>, StoreError> {
    let mut c = store.connection();
    let k = flash_key(store, &s.id);
    let (msg, _): (Option<String>, i64) = redis::pipe()
        .atomic()
        .get(&k)
        .del(&k)
        .query_async(&mut c)
        .await?;
    Ok(msg)
}

/// The session id from the `Cookie` headers.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim())
}

/// The `Set-Cookie` value that opens a session.
pub(crate) fn set_cookie(s: &Session, ttl_secs: u64, secure: bool) -> String {
    format!(
        "{COOKIE}={}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{}",
        s.id,
        ttl_secs.max(60),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that clears it.
pub(crate) fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_session_ends_with_its_token() {
        use crate::auth::ApiToken;
        use secrecy::SecretString;
        let ops = ApiToken::new("ops", SecretString::from("a-long-secret-1"));
        let s = Session {
            operator: "ops".into(),
            csrf: "c".into(),
            mark: ops.session_mark(),
            id: String::new(),
        };
        assert!(s.still_valid(std::slice::from_ref(&ops)));
        // Removed, renamed, or the same name with another secret: the session is over.
        assert!(!s.still_valid(&[]));
        let renamed = ApiToken::new("ops-2", SecretString::from("a-long-secret-1"));
        assert!(!s.still_valid(&[renamed]));
        let rotated = ApiToken::new("ops", SecretString::from("a-long-secret-2"));
        assert!(!s.still_valid(&[rotated]));
        // A session stored before marks existed has none: it ends too.
        let old = Session {
            mark: String::new(),
            ..s.clone()
        };
        assert!(!old.still_valid(&[ops]));
    }

    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; cashout_console=abc ; b=2"),
        );
        assert_eq!(cookie(&h), Some("abc"));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("xcashout_console=1"),
        );
        assert_eq!(cookie(&h), None);
        assert_eq!(cookie(&HeaderMap::new()), None);
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_holds_no_token() {
        let s = Session {
            operator: "ops".into(),
            csrf: random_hex(),
            mark: String::new(),
            id: random_hex(),
        };
        let c = set_cookie(&s, 3600, false);
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict"),
            "{c}"
        );
        assert!(!c.contains(&s.csrf) && !c.contains("ops"));
        assert!(set_cookie(&s, 3600, true).ends_with("; Secure"));
        assert_eq!(s.id.len(), 64);
        assert_ne!(s.id, random_hex());
    }

    #[test]
    fn csrf_must_match_exactly() {
        let s = Session {
            operator: "ops".into(),
            csrf: "abcdef".into(),
            mark: String::new(),
            id: String::new(),
        };
        assert!(s.csrf_ok(Some("abcdef")));
        assert!(!s.csrf_ok(Some("abcde")));
        assert!(!s.csrf_ok(Some("")));
        assert!(!s.csrf_ok(None));
    }
}
