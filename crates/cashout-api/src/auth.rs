//! Bearer tokens: `name:secret` pairs from config. A presented token is compared by its
//! SHA-256 digest with each configured secret's, in constant time: comparing fixed-length
//! digests reveals neither the secret's bytes nor its length.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::Modify;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// One accepted token. The name is safe to log; the secret is not.
#[derive(Clone)]
pub struct ApiToken {
    /// Who holds it (`upstream`, `ops-alice`).
    pub name: String,
    /// SHA-256 of the secret: all that is kept, and all that is compared.
    digest: [u8; 32],
}

/// SHA-256 of a secret or a presented token.
fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// True when `a` and `b` are equal, compared by their digests in constant time (the time
/// depends on neither their contents nor their lengths beyond hashing them).
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    bool::from(digest(a).ct_eq(&digest(b)))
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ApiToken {
    /// A token.
    pub fn new(name: impl Into<String>, secret: SecretString) -> Self {
        Self {
            name: name.into(),
            digest: digest(secret.expose_secret().as_bytes()),
        }
    }

    /// True when both tokens have the same secret (digests compared in constant time).
    pub fn same_secret(&self, other: &ApiToken) -> bool {
        bool::from(self.digest.ct_eq(&other.digest))
    }

    /// What a console session records of the token it was opened with, so the session ends
    /// when its token is removed or its secret changes: 32 bits of a hash of the secret's
    /// digest. Enough to notice a change (a new secret keeps the mark once in 4 billion), too
    /// little to test guesses of the secret against: someone who reads Redis finds billions of
    /// candidate secrets for any mark.
    pub(crate) fn session_mark(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"cashout-console-session:");
        h.update(self.digest);
        hex::encode(&h.finalize()[..4])
    }

    /// True when `presented` is this token's secret (digests compared in constant time).
    fn matches(&self, presented: &[u8; 32]) -> bool {
        bool::from(self.digest.ct_eq(presented))
    }
}

/// Parses `name:secret,name:secret`. Errors name the position, never the secret.
pub fn parse_tokens(raw: &str) -> Result<Vec<ApiToken>, String> {
    let mut out: Vec<ApiToken> = Vec::new();
    for (i, part) in raw.split(',').map(str::trim).enumerate() {
        if part.is_empty() {
            continue;
        }
        let Some((name, secret)) = part.split_once(':') else {
            return Err(format!("token #{} is not of the form name:secret", i + 1));
        };
        let (name, secret) = (name.trim(), secret.trim());
        if name.is_empty() || secret.is_empty() {
            return Err(format!("token #{} has an empty name or secret", i + 1));
        }
        if cashout_core::ProducerName::parse(name).is_err() {
            return Err(format!(
                "token #{}: the name must be 1 to 64 bytes without control characters",
                i + 1
            ));
        }
        if secret.len() < 8 {
            return Err(format!("token '{name}' is shorter than 8 characters"));
        }
        if out.iter().any(|t| t.name == name) {
            return Err(format!("token name '{name}' appears twice"));
        }
        out.push(ApiToken::new(name, SecretString::from(secret)));
    }
    Ok(out)
}

/// The name of the token that `header` (`Bearer …`) carries, if any matches. The scheme is
/// case-insensitive (RFC 9110 §11.1): `bearer x` and `BEARER x` are `Bearer x`.
pub(crate) fn authenticate<'a>(tokens: &'a [ApiToken], header: Option<&str>) -> Option<&'a str> {
    let (scheme, rest) = header?.trim_start().split_once([' ', '\t'])?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let presented = rest.trim().as_bytes();
    if presented.is_empty() {
        return None;
    }
    let presented = digest(presented);
    let mut found = None;
    // Look at every token so the time taken does not depend on which one matched.
    for t in tokens {
        if t.matches(&presented) {
            found = Some(t.name.as_str());
        }
    }
    found
}

pub(crate) struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let t = parse_tokens("upstream:s3cr3t-token, ops:another-one").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(authenticate(&t, Some("Bearer another-one")), Some("ops"));
        assert_eq!(authenticate(&t, Some("Bearer wrong")), None);
        assert_eq!(authenticate(&t, Some("another-one")), None);
        assert_eq!(authenticate(&t, None), None);
        // A prefix or an extension of a secret is not it.
        assert_eq!(authenticate(&t, Some("Bearer another-on")), None);
        assert_eq!(authenticate(&t, Some("Bearer another-one1")), None);
        assert!(same_bytes(b"abc", b"abc"));
        assert!(!same_bytes(b"abc", b"abcd"));
        assert!(t[0].same_secret(&ApiToken::new("x", SecretString::from("s3cr3t-token"))));
    }

    #[test]
    fn the_scheme_is_case_insensitive() {
        let t = parse_tokens("upstream:s3cr3t-token").unwrap();
        for h in [
            "Bearer s3cr3t-token",
            "bearer s3cr3t-token",
            "BEARER s3cr3t-token",
            "bEaReR s3cr3t-token",
            "Bearer   s3cr3t-token ",
            "Bearer\ts3cr3t-token",
        ] {
            assert_eq!(authenticate(&t, Some(h)), Some("upstream"), "{h}");
        }
        for h in [
            "Basic s3cr3t-token",
            "Bearers3cr3t-token",
            "Bearer",
            "Bearer ",
            "Bear s3cr3t-token",
            "bearer s3cr3t-tokenx",
            "",
        ] {
            assert_eq!(authenticate(&t, Some(h)), None, "{h}");
        }
    }

    #[test]
    fn errors_never_show_secrets() {
        let e = parse_tokens("nocolon-supersecret").unwrap_err();
        assert!(!e.contains("supersecret"));
        assert!(parse_tokens("a:short").is_err());
        assert!(parse_tokens("a:longenough1,a:longenough2").is_err());
        assert!(format!("{:?}", parse_tokens("a:longenough1").unwrap()).contains('a'));
        assert!(!format!("{:?}", parse_tokens("a:longenough1").unwrap()).contains("longenough"));
    }
}
