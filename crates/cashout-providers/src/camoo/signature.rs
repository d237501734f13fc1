//! Camoo notification signatures: drop `sig`, sort the rest by key, join `k=v` with `&` (values
//! percent-encoded per RFC 3986), HMAC-SHA256 keyed with the API secret, lowercase hex.
//! Verification compares in constant time, and only over an unambiguous parameter list: every
//! key made of ASCII letters, digits and `_`, each key once (a key such as `a=1&b` would
//! otherwise sign the same string as two parameters).

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::Sha256;

/// Everything but RFC 3986 unreserved characters is encoded.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The string that is signed.
pub fn canonical(params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "sig").collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, RFC3986)))
        .collect::<Vec<_>>()
        .join("&")
}

fn mac(secret: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

/// The signature of `params` (any `sig` among them is ignored).
pub fn sign(params: &[(String, String)], secret: &str) -> String {
    let mut m = mac(secret);
    m.update(canonical(params).as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// True when every key is plain (ASCII letters, digits, `_`) and appears once.
pub fn is_strict(params: &[(String, String)]) -> bool {
    let plain =
        |k: &str| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    params
        .iter()
        .enumerate()
        .all(|(i, (k, _))| plain(k) && !params[..i].iter().any(|(earlier, _)| earlier == k))
}

/// True when `params` carry a `sig` that matches, compared in constant time, and the
/// parameter list is [strict](is_strict).
pub fn verify(params: &[(String, String)], secret: &str) -> bool {
    if !is_strict(params) {
        return false;
    }
    let Some(sig) = params.iter().find(|(k, _)| k == "sig").map(|(_, v)| v) else {
        return false;
    };
    let Ok(sig) = hex::decode(sig.trim()) else {
        return false;
    };
    let mut m = mac(secret);
    m.update(canonical(params).as_bytes());
    m.verify_slice(&sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn canonical_sorts_and_encodes() {
        let params = p(&[
            ("status", "CONFIRMED"),
            ("payment_id", "abc"),
            ("status_time", "2026-11-21T05:00:00Z"),
            ("sig", "ignored"),
        ]);
        assert_eq!(
            canonical(&params),
            "payment_id=abc&status=CONFIRMED&status_time=2026-11-21T05%3A00%3A00Z"
        );
    }

    #[test]
    fn sign_then_verify() {
        let mut params = p(&[("payment_id", "abc"), ("status", "FAILED"), ("trx", "x y")]);
        let sig = sign(&params, "secret");
        params.push(("sig".into(), sig.clone()));
        assert!(verify(&params, "secret"));
        assert!(!verify(&params, "other"));
        let mut tampered = params.clone();
        tampered[1].1 = "CONFIRMED".into();
        assert!(!verify(&tampered, "secret"));
        assert!(!verify(&params[..3], "secret"));
        // Known vector, computed independently with Python's hmac module.
        assert_eq!(
            sign(&p(&[("a", "1")]), "k"),
            "310f57de49873563b85599a4aaa688883c5c6ebc7d3925020d99379d1a4d0af8"
        );
    }

    #[test]
    fn ambiguous_or_repeated_keys_never_verify() {
        // `a=1&b` as a key signs the same string as `a=1` and `b=2`.
        let honest = p(&[("a", "1"), ("b", "2")]);
        let forged = p(&[("a=1&b", "2")]);
        assert_eq!(canonical(&honest), canonical(&forged));
        let sig = sign(&honest, "secret");
        let with = |mut v: Vec<(String, String)>| {
            v.push(("sig".into(), sig.clone()));
            v
        };
        assert!(verify(&with(honest.clone()), "secret"));
        assert!(!verify(&with(forged), "secret"));
        // A key twice: which one a handler reads would be a guess.
        let twice = p(&[("a", "1"), ("b", "2"), ("b", "3")]);
        let sig2 = sign(&twice, "secret");
        let mut twice = twice;
        twice.push(("sig".into(), sig2));
        assert!(!verify(&twice, "secret"));
        assert!(!is_strict(&p(&[("", "x")])));
        assert!(is_strict(&p(&[("status_time", "x"), ("trx", "y")])));
    }
}
