//! Request bodies. A body reaches PostgreSQL as one bind parameter and PostgreSQL maps it to
//! rows, as in PostgREST. Two stages need to look at it first:
//! - the filter reads the keys a write takes (the first object's keys, or the CSV header) from a
//!   bounded prefix of the body, so it never holds a large body;
//! - the sidecar, which has the whole body to bind it, checks that every object has those same
//!   keys and turns CSV and form bodies into the JSON PostgreSQL reads.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::urlencoded::parse_query_string;

/// The most of a body the filter reads to find the keys of a write (the first JSON object, the
/// CSV header line, a whole form body).
pub const PREFIX_MAX: usize = 512 * 1024;

/// What a request body is, by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyFormat {
    Json,
    Csv,
    Form,
    /// `text/plain`, for a function's single unnamed `text` argument.
    Text,
    /// `application/octet-stream`, for a single unnamed `bytea` argument.
    Bytes,
    /// `text/xml`, for a single unnamed `xml` argument.
    Xml,
}

impl BodyFormat {
    /// The format of a `Content-Type` (none means JSON); `None` for a type no write accepts.
    pub fn from_content_type(content_type: Option<&str>) -> Option<BodyFormat> {
        let essence = content_type
            .map(|c| {
                c.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        match essence.as_str() {
            "" | "application/json" | "*/*" => Some(BodyFormat::Json),
            "text/csv" => Some(BodyFormat::Csv),
            "application/x-www-form-urlencoded" => Some(BodyFormat::Form),
            "text/plain" => Some(BodyFormat::Text),
            "application/octet-stream" => Some(BodyFormat::Bytes),
            "text/xml" => Some(BodyFormat::Xml),
            _ => None,
        }
    }

    /// Formats whose rows or arguments are named by keys.
    pub fn has_keys(self) -> bool {
        matches!(self, BodyFormat::Json | BodyFormat::Csv | BodyFormat::Form)
    }
}

/// The top-level shape of a JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Object,
    Array,
    /// A bare JSON scalar: PostgREST treats it as an empty array.
    Scalar,
}

/// What the filter learned from a body's prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The keys of the first object (sorted), the CSV header's fields, or the form's keys.
    pub keys: Vec<String>,
    pub shape: Shape,
}

impl Summary {
    /// An empty object: no keys.
    pub fn empty() -> Self {
        Summary {
            keys: Vec::new(),
            shape: Shape::Object,
        }
    }
}

fn invalid_json() -> ApiError {
    ApiError::InvalidBody(String::from("Empty or invalid json"))
}

/// The keys of one JSON object, in sorted order.
struct Keys(Vec<String>);

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    keys.push(k);
                }
                keys.sort();
                keys.dedup();
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(V)
    }
}

/// Reads, as a body arrives in pieces, what a request needs from it before it can be planned:
/// the keys of the first JSON object (scanned byte by byte, keeping only the keys, however large
/// the values), the CSV header line, or a whole form body (both at most [`PREFIX_MAX`] bytes).
#[derive(Debug, Clone)]
pub struct BodyReader {
    format: BodyFormat,
    /// CSV and form bytes so far.
    held: Vec<u8>,
    json: JsonKeys,
}

/// The JSON scan: where it is, and the keys found so far.
#[derive(Debug, Clone, Default)]
struct JsonKeys {
    state: Scan,
    shape: Option<Shape>,
    /// Nesting inside the first object (1: directly inside it).
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// At depth 1, the next string is a key.
    expect_key: bool,
    /// The key being read, with its quotes, when a string at depth 1 is a key.
    key: Option<Vec<u8>>,
    keys: Vec<String>,
    key_bytes: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Scan {
    #[default]
    Start,
    /// After `[`: the first element decides.
    ArrayStart,
    Object,
    Done,
}

/// Keys of the first object may add up to this many bytes.
const KEYS_MAX: usize = 64 * 1024;

impl JsonKeys {
    /// Scans more bytes; `Ok(true)` once the first object (or the shape) is known.
    fn feed(&mut self, chunk: &[u8]) -> Result<bool, ApiError> {
        for &c in chunk {
            match self.state {
                Scan::Done => return Ok(true),
                Scan::Start => match c {
                    c if c.is_ascii_whitespace() => {}
                    b'{' => self.open(Shape::Object),
                    b'[' => self.state = Scan::ArrayStart,
                    _ => {
                        self.shape = Some(Shape::Scalar);
                        self.state = Scan::Done;
                    }
                },
                Scan::ArrayStart => match c {
                    c if c.is_ascii_whitespace() => {}
                    b']' => {
                        self.shape = Some(Shape::Array);
                        self.state = Scan::Done;
                    }
                    b'{' => self.open(Shape::Array),
                    _ => return Err(invalid_json()),
                },
                Scan::Object => self.object_byte(c)?,
            }
        }
        Ok(self.state == Scan::Done)
    }

    fn open(&mut self, shape: Shape) {
        self.shape = Some(shape);
        self.state = Scan::Object;
        self.depth = 1;
        self.expect_key = true;
    }

    fn object_byte(&mut self, c: u8) -> Result<(), ApiError> {
        if self.in_string {
            if let Some(key) = self.key.as_mut() {
                key.push(c);
                self.key_bytes += 1;
                if self.key_bytes > KEYS_MAX {
                    return Err(ApiError::InvalidBody(String::from(
                        "The keys of the body's first object are too long",
                    )));
                }
            }
            match (self.escaped, c) {
                (true, _) => self.escaped = false,
                (false, b'\\') => self.escaped = true,
                (false, b'"') => {
                    self.in_string = false;
                    if let Some(key) = self.key.take() {
                        let key: String =
                            serde_json::from_slice(&key).map_err(|_| invalid_json())?;
                        self.keys.push(key);
                    }
                }
                _ => {}
            }
            return Ok(());
        }
        match c {
            b'"' => {
                self.in_string = true;
                if self.depth == 1 && self.expect_key {
                    self.key = Some(vec![b'"']);
                }
            }
            b':' if self.depth == 1 => self.expect_key = false,
            b',' if self.depth == 1 => self.expect_key = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 0 {
                    self.state = Scan::Done;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl BodyReader {
    pub fn new(format: BodyFormat) -> Self {
        BodyReader {
            format,
            held: Vec::new(),
            json: JsonKeys::default(),
        }
    }

    /// Takes the next piece of the body; `Ok(Some(_))` once enough is known.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Option<Summary>, ApiError> {
        match self.format {
            BodyFormat::Json => {
                if self.json.feed(chunk)? {
                    return Ok(Some(self.json_summary()));
                }
                Ok(None)
            }
            BodyFormat::Csv | BodyFormat::Form => {
                if self.held.len() + chunk.len() > PREFIX_MAX {
                    return Err(ApiError::InvalidBody(format!(
                        "The CSV header line or form body is larger than {PREFIX_MAX} bytes"
                    )));
                }
                self.held.extend_from_slice(chunk);
                match (self.format, header_end(&self.held)) {
                    (BodyFormat::Csv, Some(end)) => {
                        let header = self.held[..end].to_vec();
                        self.csv_summary(&header).map(Some)
                    }
                    _ => Ok(None),
                }
            }
            BodyFormat::Text | BodyFormat::Bytes | BodyFormat::Xml => Ok(Some(Summary {
                keys: Vec::new(),
                shape: Shape::Scalar,
            })),
        }
    }

    /// Whether nothing but whitespace has arrived.
    pub fn is_blank(&self) -> bool {
        match self.format {
            BodyFormat::Json => self.json.state == Scan::Start,
            _ => self.held.iter().all(u8::is_ascii_whitespace),
        }
    }

    /// The body ended: what it says, or why it cannot be read.
    pub fn finish(mut self) -> Result<Summary, ApiError> {
        if let Some(summary) = self.feed(&[])? {
            return Ok(summary);
        }
        match self.format {
            BodyFormat::Json => Err(invalid_json()),
            BodyFormat::Csv => {
                let header = std::mem::take(&mut self.held);
                self.csv_summary(&header)
            }
            _ => {
                let text = String::from_utf8_lossy(&self.held);
                let mut keys: Vec<String> = parse_query_string(&text)
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect();
                keys.sort();
                keys.dedup();
                Ok(Summary {
                    keys,
                    shape: Shape::Object,
                })
            }
        }
    }

    fn json_summary(&self) -> Summary {
        let mut keys = self.json.keys.clone();
        keys.sort();
        keys.dedup();
        Summary {
            keys,
            shape: self.json.shape.unwrap_or(Shape::Scalar),
        }
    }

    fn csv_summary(&self, header: &[u8]) -> Result<Summary, ApiError> {
        let header = header.strip_suffix(b"\r").unwrap_or(header);
        let text = std::str::from_utf8(header)
            .map_err(|_| ApiError::InvalidBody(String::from("The CSV is not UTF-8")))?;
        Ok(Summary {
            keys: csv_records(text)?.into_iter().next().unwrap_or_default(),
            shape: Shape::Array,
        })
    }
}

/// Reads what a request needs from the start of its body. `Ok(None)`: more of the body is
/// needed. `complete` says the prefix is the whole body.
pub fn summarize(
    format: BodyFormat,
    prefix: &[u8],
    complete: bool,
) -> Result<Option<Summary>, ApiError> {
    let mut reader = BodyReader::new(format);
    match reader.feed(prefix)? {
        Some(summary) => Ok(Some(summary)),
        None if complete => reader.finish().map(Some),
        None => Ok(None),
    }
}

/// The end of the CSV header line (a newline outside quotes), if the prefix holds it.
fn header_end(b: &[u8]) -> Option<usize> {
    let mut quoted = false;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// RFC 4180 records: `,` separates fields, `"` quotes (`""` inside quotes is one quote), CRLF or
/// LF ends a record; a trailing newline does not start a record.
fn csv_records(text: &str) -> Result<Vec<Vec<String>>, ApiError> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => record.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                any = false;
            }
            c => field.push(c),
        }
    }
    if quoted {
        return Err(ApiError::InvalidBody(String::from(
            "The CSV has an unterminated quoted field",
        )));
    }
    if any {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

/// A CSV body (header line, then rows) as the JSON array of objects PostgreSQL maps to rows:
/// every value a string, except the literal `NULL`, which is null (as in PostgREST).
pub fn csv_to_json(body: &[u8]) -> Result<String, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::InvalidBody(String::from("The CSV is not UTF-8")))?;
    let mut records = csv_records(text)?.into_iter();
    let header = records.next().unwrap_or_default();
    let mut rows = Vec::new();
    for record in records {
        if record.len() != header.len() {
            return Err(ApiError::InvalidBody(String::from(
                "All lines must have same number of fields",
            )));
        }
        let object: serde_json::Map<String, serde_json::Value> = header
            .iter()
            .cloned()
            .zip(record.into_iter().map(|v| {
                if v == "NULL" {
                    serde_json::Value::Null
                } else {
                    serde_json::Value::String(v)
                }
            }))
            .collect();
        rows.push(serde_json::Value::Object(object));
    }
    Ok(serde_json::Value::Array(rows).to_string())
}

/// A form body as one JSON object of strings (a repeated key keeps its last value).
pub fn form_to_json(body: &[u8]) -> String {
    let object: serde_json::Map<String, serde_json::Value> =
        parse_query_string(&String::from_utf8_lossy(body))
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
    serde_json::Value::Object(object).to_string()
}

/// Checks a whole JSON body without building it in memory: valid JSON, and every object (the
/// body, or each element of the array) has exactly `expected` keys (sorted).
pub fn check_keys(body: &[u8], expected: &[String]) -> Result<(), ApiError> {
    let mismatch = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(body);
    let top = Top {
        expected,
        mismatch: &mismatch,
    };
    top.deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|_| invalid_json())?;
    if mismatch.get() {
        return Err(ApiError::InvalidBody(String::from(
            "All object keys must match",
        )));
    }
    Ok(())
}

struct Top<'a> {
    expected: &'a [String],
    mismatch: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let keys = Keys::deserialize(de::value::MapAccessDeserializer::new(map))?;
        if keys.0 != self.expected {
            self.mismatch.set(true);
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(keys) = seq.next_element::<Keys>()? {
            if keys.0 != self.expected {
                self.mismatch.set(true);
            }
        }
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(body: &str, complete: bool) -> Result<Option<(Vec<String>, Shape)>, String> {
        summarize(BodyFormat::Json, body.as_bytes(), complete)
            .map(|s| s.map(|s| (s.keys, s.shape)))
            .map_err(|e| e.to_response().body)
    }

    #[test]
    fn first_object_keys_come_from_a_prefix() {
        assert_eq!(
            keys(r#" [ {"b":1,"a":"x}","c":{"d":[1]}}, {"b""#, false),
            Ok(Some((
                vec!["a".into(), "b".into(), "c".into()],
                Shape::Array
            )))
        );
        assert_eq!(keys(r#"[{"a":"\"}"#, false), Ok(None));
        assert_eq!(
            keys(r#"{"id":1}"#, true),
            Ok(Some((vec!["id".into()], Shape::Object)))
        );
        assert_eq!(keys("[]", true), Ok(Some((vec![], Shape::Array))));
        assert_eq!(keys("3", true), Ok(Some((vec![], Shape::Scalar))));
        insta::assert_snapshot!(keys("", true).unwrap_err(), @r#"{"code":"PGRST102","details":null,"hint":null,"message":"Empty or invalid json"}"#);
        assert!(keys("[1,2]", true).is_err());
        assert!(keys(r#"{"a":1"#, true).is_err());
    }

    #[test]
    fn whole_bodies_are_checked_for_matching_keys() {
        let ab = vec!["a".to_string(), "b".to_string()];
        assert_eq!(check_keys(br#"[{"a":1,"b":2},{"b":3,"a":4}]"#, &ab), Ok(()));
        assert_eq!(check_keys(br#"{"b":3,"a":{"x":[1]}}"#, &ab), Ok(()));
        let e = check_keys(br#"[{"a":1,"b":2},{"a":4}]"#, &ab).map_err(|e| e.to_response().body);
        insta::assert_snapshot!(e.unwrap_err(), @r#"{"code":"PGRST102","details":null,"hint":null,"message":"All object keys must match"}"#);
        assert!(check_keys(br#"[{"a":1,"b":2}"#, &ab).is_err());
        assert!(check_keys(br#"[{"a":1,"b":2}] x"#, &ab).is_err());
        assert!(check_keys(br#"[1]"#, &ab).is_err());
    }

    #[test]
    fn csv_and_form_bodies() {
        let s = summarize(BodyFormat::Csv, b"name,\"a,b\"\r\nx,y", false);
        assert_eq!(
            s.map(|s| s.map(|s| s.keys)),
            Ok(Some(vec!["name".into(), "a,b".into()]))
        );
        assert_eq!(
            csv_to_json(b"id,name\n1,\"Say \"\"hi\"\"\"\n2,NULL\n3,\n"),
            Ok(
                r#"[{"id":"1","name":"Say \"hi\""},{"id":"2","name":null},{"id":"3","name":""}]"#
                    .to_string()
            )
        );
        assert!(csv_to_json(b"id,name\n1\n").is_err());
        assert_eq!(form_to_json(b"a=1&b=x+y%21"), r#"{"a":"1","b":"x y!"}"#);
        let f = summarize(BodyFormat::Form, b"b=1&a=2", true);
        assert_eq!(
            f.map(|s| s.map(|s| s.keys)),
            Ok(Some(vec!["a".into(), "b".into()]))
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(BodyFormat::from_content_type(None), Some(BodyFormat::Json));
        assert_eq!(
            BodyFormat::from_content_type(Some("application/json; charset=utf-8")),
            Some(BodyFormat::Json)
        );
        assert_eq!(
            BodyFormat::from_content_type(Some("Text/CSV")),
            Some(BodyFormat::Csv)
        );
        assert_eq!(BodyFormat::from_content_type(Some("image/png")), None);
    }
}
