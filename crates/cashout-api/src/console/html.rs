//! The page frame and small pieces shared by the console's pages. maud escapes every value.

use super::session::Session;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

/// Headers every console page carries: no caching, no framing, scripts and styles from us only.
fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

/// An HTML answer.
pub(crate) fn respond(status: StatusCode, page: Markup) -> Response {
    secure((status, axum::response::Html(page.into_string())).into_response())
}

/// A `303 See Other` to `to`, with extra headers.
pub(crate) fn redirect(to: &str, set_cookie: Option<String>) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(c) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    secure(r)
}

/// A whole page: navigation (when logged in), the flash message, the body.
pub(crate) fn page(
    title: &str,
    session: Option<&Session>,
    flash: Option<&str>,
    refresh_secs: u64,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · cashout console" }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/console" { "cashout" }
                    @if let Some(s) = session {
                        nav {
                            a href="/console" { "Overview" }
                            a href="/console/dlq" { "Dead-letter queue" }
                        }
                        form.search method="get" action="/console/search" {
                            input type="search" name="q" placeholder="id, idempotency key, provider reference" aria-label="search";
                            button type="submit" { "Search" }
                        }
                        form.logout method="post" action="/console/logout" {
                            (csrf(s))
                            span.who { (s.operator) }
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main id="main" data-refresh=(refresh_secs) {
                    @if let Some(f) = flash {
                        p.flash role="status" { (f) }
                    }
                    (body)
                }
            }
        }
    }
}

/// The hidden CSRF field of a form.
pub(crate) fn csrf(s: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

/// A time as the console shows it (UTC, to the second), with how long ago.
pub(crate) fn when(t: DateTime<Utc>, now: DateTime<Utc>) -> Markup {
    html! {
        time datetime=(t.to_rfc3339()) title=(t.to_rfc3339()) {
            (t.format("%Y-%m-%d %H:%M:%S")) " "
            span.ago { "(" (ago(now.signed_duration_since(t).num_seconds())) ")" }
        }
    }
}

/// `42s ago`, `5m ago`, `3h ago`, `2d ago`.
pub(crate) fn ago(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s ago"),
        60..3600 => format!("{}m ago", s / 60),
        3600..86_400 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

/// A duration in seconds, shortly: `42s`, `5m 3s`, `3h 2m`.
pub(crate) fn span(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

/// A state word with its colour.
pub(crate) fn badge(word: &str) -> Markup {
    html! { span class={"badge " (word)} { (word) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_shortly() {
        assert_eq!(ago(5), "5s ago");
        assert_eq!(ago(-5), "0s ago");
        assert_eq!(ago(125), "2m ago");
        assert_eq!(ago(7_300), "2h ago");
        assert_eq!(ago(200_000), "2d ago");
        assert_eq!(span(3_725), "1h 2m");
    }

    #[test]
    fn values_are_escaped() {
        let m = badge("<script>");
        assert!(!m.into_string().contains("<script>"));
    }
}
