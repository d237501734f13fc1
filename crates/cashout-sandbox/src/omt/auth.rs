//! HTTP Basic authentication (RFC 7617) of the OMT simulator: reading the `Authorization` header
//! (with a small base64 decoder, to avoid a dependency for one header) and checking it in
//! constant time.

use axum::http::{HeaderMap, header};

use crate::util::secret_eq;

/// The value of one base64 character of the standard alphabet.
fn sextet(c: u8) -> Option<u32> {
    let value = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

/// Decodes standard base64, padded or not; `None` when malformed.
fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    let data = text
        .strip_suffix(b"==")
        .or_else(|| text.strip_suffix(b"="))
        .unwrap_or(text);
    let padded = data.len() != text.len();
    if data.len() % 4 == 1 || (padded && !text.len().is_multiple_of(4)) {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in data {
        acc = (acc << 6) | sextet(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            // Keeps the low 8 bits on purpose.
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// `(user-id, password)` of a `Basic` `Authorization` header, if there is a well-formed one.
fn credentials(headers: &HeaderMap) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let space = value.iter().position(|&b| b == b' ')?;
    let (scheme, token) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let decoded = decode_base64(token.trim_ascii())?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let password = decoded[colon + 1..].to_vec();
    let mut user = decoded;
    user.truncate(colon);
    Some((user, password))
}

/// Whether `headers` carry Basic credentials equal to `username` and `password` (both compared
/// in constant time, always both).
pub(crate) fn authorized(headers: &HeaderMap, username: &str, password: &str) -> bool {
    let Some((user, pass)) = credentials(headers) else {
        return false;
    };
    // Non-short-circuit `&` so both comparisons always run.
    secret_eq(&user, username.as_bytes()) & secret_eq(&pass, password.as_bytes())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn base64_vectors() {
        // RFC 4648 §10.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(
                decode_base64(encoded.as_bytes()).as_deref(),
                Some(plain.as_bytes())
            );
            let unpadded = encoded.trim_end_matches('=');
            assert_eq!(
                decode_base64(unpadded.as_bytes()).as_deref(),
                Some(plain.as_bytes())
            );
        }
        assert_eq!(decode_base64(b"/+8=").as_deref(), Some(&[0xff, 0xef][..]));
        for bad in ["Z", "Zm9=v", "Zm9v=", "Zg===", "Z*==", "Zm 9v"] {
            assert_eq!(decode_base64(bad.as_bytes()), None, "{bad}");
        }
    }

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("header"),
        );
        headers
    }

    #[test]
    fn checks_basic_credentials() {
        // base64("sandbox-user:sandbox-pass")
        let good = "c2FuZGJveC11c2VyOnNhbmRib3gtcGFzcw==";
        assert!(authorized(
            &headers(&format!("Basic {good}")),
            "sandbox-user",
            "sandbox-pass"
        ));
        assert!(authorized(
            &headers(&format!("basic  {good}")),
            "sandbox-user",
            "sandbox-pass"
        ));
        assert!(!authorized(
            &headers(&format!("Basic {good}")),
            "sandbox-user",
            "other"
        ));
        assert!(!authorized(
            &headers(&format!("Basic {good}")),
            "other",
            "sandbox-pass"
        ));
        assert!(!authorized(
            &headers(&format!("Bearer {good}")),
            "sandbox-user",
            "sandbox-pass"
        ));
        assert!(!authorized(
            &headers("Basic"),
            "sandbox-user",
            "sandbox-pass"
        ));
        // base64("no-colon")
        assert!(!authorized(&headers("Basic bm8tY29sb24="), "no-colon", ""));
        // base64("u:p:q"): the password may contain colons.
        assert!(authorized(&headers("Basic dTpwOnE="), "u", "p:q"));
        assert!(!authorized(
            &HeaderMap::new(),
            "sandbox-user",
            "sandbox-pass"
        ));
    }
}
