//! Bearer tokens: `name:secret` pairs from config, compared in constant time.

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use utoipa::Modify;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// One accepted token. The name is safe to log; the secret is not.
#[derive(Clone)]
pub struct ApiToken {
    /// Who holds it (`upstream`, `ops-alice`).
    pub name: String,
    secret: SecretString,
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
            secret,
        }
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

/// The name of the token that `header` (`Bearer …`) carries, if any matches.
pub(crate) fn authenticate<'a>(tokens: &'a [ApiToken], header: Option<&str>) -> Option<&'a str> {
    let presented = header?.strip_prefix("Bearer ")?.trim().as_bytes();
    let mut found = None;
    // Look at every token so the time taken does not depend on which one matched.
    for t in tokens {
        if bool::from(t.secret.expose_secret().as_bytes().ct_eq(presented)) {
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
