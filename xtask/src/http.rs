//! A tiny HTTP/1.1 client for probes and tests: one request per connection, full control over
//! the path and headers (the tests send malformed and forged requests on purpose).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::Result;

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

pub fn request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> Result<Response> {
    let headers: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    request_bytes(addr, method, path, &headers)
}

/// Like [`request`], with header values as raw bytes (for values that are not UTF-8).
pub fn request_bytes(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
) -> Result<Response> {
    send(addr, method, path, headers, None)
}

/// A request with a body (sent with `Content-Length`).
pub fn request_with_body(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response> {
    let headers: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    send(addr, method, path, &headers, Some(body))
}

fn send(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: Option<&[u8]>,
) -> Result<Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n").into_bytes();
    for (k, v) in headers {
        head.extend_from_slice(k.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(v);
        head.extend_from_slice(b"\r\n");
    }
    if let Some(body) = body {
        head.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    stream.write_all(&head)?;
    if let Some(body) = body {
        // A server may answer (and close) before reading all of a refused body.
        if let Err(e) = stream.write_all(body) {
            if e.kind() != std::io::ErrorKind::BrokenPipe
                && e.kind() != std::io::ErrorKind::ConnectionReset
            {
                return Err(e.into());
            }
        }
    }
    // Read only as much as the response says it holds: waiting for the server to close would
    // wait out Envoy's delayed close (1 s) on every request.
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if complete(&raw, method == "HEAD") {
            break;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    parse(&raw, method == "HEAD")
}

/// Whether `raw` holds a whole response (headers plus the body they announce).
fn complete(raw: &[u8], head_only: bool) -> bool {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let body = &raw[split + 4..];
    if head_only || head.starts_with("http/1.1 204") || head.starts_with("http/1.1 304") {
        return true;
    }
    for line in head.split("\r\n") {
        if let Some(len) = line.strip_prefix("content-length:") {
            return len.trim().parse::<usize>().is_ok_and(|l| body.len() >= l);
        }
        if line.starts_with("transfer-encoding:") && line.contains("chunked") {
            return body.ends_with(b"0\r\n\r\n");
        }
    }
    false
}

pub fn get(addr: &str, path: &str) -> Result<Response> {
    request(addr, "GET", path, &[])
}

fn parse(raw: &[u8], head_only: bool) -> Result<Response> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers in response")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("bad status line")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked && !head_only {
        body = dechunk(&body)?;
    }
    Ok(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunked body")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(..size).ok_or("truncated chunk")?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).ok_or("truncated chunk")?;
    }
}
