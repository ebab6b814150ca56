//! A scripted backend for tests: PostgreSQL's messages as bytes, and a reader of what the
//! client sent.

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

pub fn parse_complete() -> Vec<u8> {
    msg(b'1', &[])
}

pub fn bind_complete() -> Vec<u8> {
    msg(b'2', &[])
}

pub fn no_data() -> Vec<u8> {
    msg(b'n', &[])
}

pub fn parameter_description(params: i16) -> Vec<u8> {
    let mut body = params.to_be_bytes().to_vec();
    for _ in 0..params {
        body.extend_from_slice(&25i32.to_be_bytes());
    }
    msg(b't', &body)
}

pub fn row_description(names: &[&str]) -> Vec<u8> {
    let mut body = (names.len() as i16).to_be_bytes().to_vec();
    for name in names {
        cstr(&mut body, name);
        body.extend_from_slice(&0i32.to_be_bytes()); // table
        body.extend_from_slice(&0i16.to_be_bytes()); // column
        body.extend_from_slice(&25i32.to_be_bytes()); // text
        body.extend_from_slice(&(-1i16).to_be_bytes());
        body.extend_from_slice(&(-1i32).to_be_bytes());
        body.extend_from_slice(&0i16.to_be_bytes()); // text format
    }
    msg(b'T', &body)
}

pub fn data_row(values: &[Option<&str>]) -> Vec<u8> {
    let mut body = (values.len() as i16).to_be_bytes().to_vec();
    for v in values {
        match v {
            Some(v) => {
                body.extend_from_slice(&(v.len() as i32).to_be_bytes());
                body.extend_from_slice(v.as_bytes());
            }
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    msg(b'D', &body)
}

pub fn command_complete(tag: &str) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, tag);
    msg(b'C', &body)
}

fn fields(tag: u8, severity: &str, code: &str, message: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (t, v) in [(b'S', severity), (b'C', code), (b'M', message)] {
        body.push(t);
        cstr(&mut body, v);
    }
    body.push(0);
    msg(tag, &body)
}

pub fn error_response(code: &str, message: &str) -> Vec<u8> {
    fields(b'E', "ERROR", code, message)
}

pub fn notice(message: &str) -> Vec<u8> {
    fields(b'N', "NOTICE", "00000", message)
}

pub fn parameter_status(name: &str, value: &str) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, name);
    cstr(&mut body, value);
    msg(b'S', &body)
}

pub fn backend_key_data() -> Vec<u8> {
    let mut body = 42i32.to_be_bytes().to_vec();
    body.extend_from_slice(&7i32.to_be_bytes());
    msg(b'K', &body)
}

pub fn ready(status: u8) -> Vec<u8> {
    msg(b'Z', &[status])
}

/// The answer to a statement new to the connection that returns no rows (`BEGIN`, `SET`):
/// `Parse`, `Describe` (no parameters, no data), `Bind`, `Execute`.
pub fn prepared_command(tag: &str) -> Vec<u8> {
    [
        parse_complete(),
        parameter_description(0),
        no_data(),
        bind_complete(),
        command_complete(tag),
    ]
    .concat()
}

/// What the client sent: each message's tag, with the SQL of each `Parse`.
pub fn frontend(bytes: &[u8]) -> Vec<(char, Option<String>)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 5 {
        let tag = rest[0];
        let len = i32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let body = &rest[5..1 + len];
        let sql = (tag == b'P').then(|| {
            let mut parts = body.split(|b| *b == 0);
            parts.next();
            String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned()
        });
        out.push((char::from(tag), sql));
        rest = &rest[1 + len..];
    }
    assert!(rest.is_empty(), "a partial frontend message");
    out
}
