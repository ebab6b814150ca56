//! CORS, as PostgREST's policy (wai-cors): any origin unless `server-cors-allowed-origins` lists
//! them; preflights are answered by the filter; other responses to a request with `Origin`
//! carry `Access-Control-Allow-Origin` and the exposed headers. A request whose origin is not
//! allowed goes on without CORS headers (PostgREST ignores CORS failures).

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
        let p = preflight("OPTIONS", &pre, &[]).unwrap_or_default();
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
}
