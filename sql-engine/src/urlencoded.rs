//! One codec for `application/x-www-form-urlencoded` text: query strings and form bodies in,
//! `Content-Location` out.

/// Splits and decodes a query string as PostgREST does (`+` is a space, `%XX` is a byte).
pub fn parse_query_string(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (percent_decode(k, true), percent_decode(v, true)),
            None => (percent_decode(pair, true), String::new()),
        })
        .collect()
}

/// Percent-decoding; invalid escapes are kept as they are, invalid UTF-8 is replaced.
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One value encoded as PostgREST's canonical query string does (Haskell's `urlEncode` over
/// the raw bytes: unreserved ASCII kept, other ASCII as `%XX`, and a byte above 0x7F taken as a
/// Latin-1 character, so encoded as the two UTF-8 bytes of that character).
pub fn encode_latin1(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else if b < 0x80 {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push_str(&format!(
                "%{:02X}%{:02X}",
                0xC0 | (b >> 6),
                0x80 | (b & 0x3F)
            ));
        }
    }
}

/// Percent-encodes every byte outside the unreserved set (UTF-8 stays UTF-8, as in PostgREST's
/// `Location`).
pub fn encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}
