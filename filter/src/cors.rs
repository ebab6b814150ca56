//! CORS, as PostgREST's policy (wai-cors): any origin unless `server-cors-allowed-origins` lists
//! them; preflights are answered by the filter; other responses to a request with `Origin`
//! carry `Access-Control-Allow-Origin` and the exposed headers. A request whose origin is not
//! allowed goes on without CORS headers (PostgREST ignores CORS failures): a preflight from
//! such an origin is answered as a plain `OPTIONS` (see [`info_headers`]).
//!
//! A listed origin is echoed with `Access-Control-Allow-Credentials: true`; `*` never comes
//! with credentials, which browsers reject (Fetch standard, CORS check).

/// Response headers with fixed names.
pub type Headers = Vec<(&'static str, String)>;

const METHODS: &str = "GET, POST, PATCH, PUT, DELETE, OPTIONS";
const EXPOSED: &str = "Content-Encoding, Content-Location, Content-Range, Content-Type, Date, Location, Server, Transfer-Encoding, Range-Unit";

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `Access-Control-Allow-Origin` (and credentials for a listed origin), when CORS applies.
fn allow_origin(headers: &[(String, String)], allowed: &[String]) -> Option<Headers> {
    let origin = header(headers, "origin")?;
    if allowed.is_empty() {
        return Some(vec![("access-control-allow-origin", String::from("*"))]);
    }
    allowed.iter().any(|o| o == origin).then(|| {
        vec![
            ("access-control-allow-origin", origin.to_string()),
            ("access-control-allow-credentials", String::from("true")),
        ]
    })
}

/// The answer to a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`).
pub fn preflight(
    method: &str,
    headers: &[(String, String)],
    allowed: &[String],
) -> Option<Headers> {
    if method != "OPTIONS" {
        return None;
    }
    let requested = header(headers, "access-control-request-method")?;
    if !METHODS.split(", ").any(|m| m == requested.trim()) {
        return None;
    }
    let mut out = allow_origin(headers, allowed)?;
    let mut allow_headers = vec![String::from("Authorization")];
    if let Some(h) = header(headers, "access-control-request-headers") {
        allow_headers.extend(
            h.split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(String::from),
        );
    }
    out.push(("access-control-allow-methods", METHODS.to_string()));
    out.push(("access-control-allow-headers", allow_headers.join(", ")));
    out.push(("access-control-max-age", String::from("86400")));
    Some(out)
}

/// `Access-Control-Allow-Origin` on the answer to a plain `OPTIONS` (not a preflight, or a
/// preflight from an origin that is not allowed).
///
/// PostgREST's `respondInfo` always sets `*` here. The reason: wai-cors treats every `OPTIONS`
/// as a preflight and, ignoring failures, hands one without `Access-Control-Request-Method`
/// (a page's own `OPTIONS` request, sent after its preflight) to the app with no CORS headers;
/// the app's `*` keeps that answer readable from other origins. pgmesh keeps the `*` where the
/// policy allows any origin (no allow-list) or where no `Origin` was sent (not a CORS
/// request; `*` without credentials cannot leak anything). With an allow-list, a request with
/// `Origin` follows it like every other response: a listed origin is echoed with credentials,
/// any other origin gets no CORS headers, so an allow-list is not undone by `OPTIONS`.
pub fn info_headers(headers: &[(String, String)], allowed: &[String]) -> Headers {
    if header(headers, "origin").is_none() {
        return vec![("access-control-allow-origin", String::from("*"))];
    }
    allow_origin(headers, allowed).unwrap_or_default()
}

/// The headers every other response to a request with an allowed `Origin` carries.
pub fn response_headers(headers: &[(String, String)], allowed: &[String]) -> Headers {
    match allow_origin(headers, allowed) {
        Some(mut out) => {
            out.push(("access-control-expose-headers", EXPOSED.to_string()));
            out
        }
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn preflight_and_actual_requests() {
        let pre = h(&[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type, prefer"),
        ]);
        let p = preflight("OPTIONS", &pre, &[]).expect("a preflight is answered");
        assert!(p.contains(&("access-control-allow-origin", "*".into())));
        assert!(p.contains(&(
            "access-control-allow-headers",
            "Authorization, content-type, prefer".into()
        )));
        assert!(p.contains(&("access-control-max-age", "86400".into())));
        assert_eq!(preflight("OPTIONS", &h(&[("origin", "x")]), &[]), None);
        let listed = vec![String::from("https://app.example")];
        let r = response_headers(&pre, &listed);
        assert_eq!(
            r[0],
            ("access-control-allow-origin", "https://app.example".into())
        );
        assert!(response_headers(&h(&[("origin", "https://evil.example")]), &listed).is_empty());
        assert!(response_headers(&h(&[]), &[]).is_empty());
    }

    const ALLOW_ORIGIN: &str = "access-control-allow-origin";
    const CREDENTIALS: &str = "access-control-allow-credentials";

    fn get<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    fn preflight_from(origin: &str) -> Vec<(String, String)> {
        h(&[("origin", origin), ("access-control-request-method", "GET")])
    }

    #[test]
    fn preflight_from_a_listed_origin_echoes_it_with_credentials() {
        let listed = vec![String::from("https://good.example")];
        let p = preflight("OPTIONS", &preflight_from("https://good.example"), &listed)
            .expect("a preflight from a listed origin is answered");
        assert_eq!(get(&p, ALLOW_ORIGIN), Some("https://good.example"));
        assert_eq!(get(&p, CREDENTIALS), Some("true"));
    }

    #[test]
    fn preflight_from_an_unlisted_origin_is_not_answered_as_one() {
        let listed = vec![String::from("https://good.example")];
        let evil = preflight_from("https://evil.example");
        assert_eq!(preflight("OPTIONS", &evil, &listed), None);
        // It is answered as a plain OPTIONS: no CORS headers at all.
        assert!(info_headers(&evil, &listed).is_empty());
    }

    #[test]
    fn plain_options_follows_the_allow_list() {
        let listed = vec![String::from("https://good.example")];
        let good = h(&[("origin", "https://good.example")]);
        let info = info_headers(&good, &listed);
        assert_eq!(get(&info, ALLOW_ORIGIN), Some("https://good.example"));
        assert_eq!(get(&info, CREDENTIALS), Some("true"));
        assert!(info_headers(&h(&[("origin", "https://evil.example")]), &listed).is_empty());
        // PostgREST's `*`: with any origin allowed, or with no Origin (not a CORS request).
        for (headers, allowed) in [(&good, &[][..]), (&h(&[]), &listed[..])] {
            let info = info_headers(headers, allowed);
            assert_eq!(info, vec![(ALLOW_ORIGIN, String::from("*"))]);
        }
    }
}
