//! The hand-off from filter to sidecar: one JSON header with everything the sidecar needs, and a
//! MAC over it (plus the upstream method and path) with a key only the filter and sidecar hold.

use serde::{Deserialize, Serialize};

use crate::api_request::payload::BodyFormat;
use crate::api_request::preferences::Count;
use crate::api_request::Mutation;
use crate::sql::Statement;

/// Path the filter routes planned queries to.
pub const QUERY_PATH: &str = "/_pgmesh/query";
/// Path of the schema-cache document.
pub const SCHEMA_PATH: &str = "/_pgmesh/schema";
/// The hand-off document (JSON, one line).
pub const HANDOFF_HEADER: &str = "x-pgmesh-handoff";
/// Hex keyed BLAKE3 over method, path and the hand-off document.
pub const SIGNATURE_HEADER: &str = "x-pgmesh-signature";
/// Every client header starting with this is deleted by the filter.
pub const HEADER_PREFIX: &str = "x-pgmesh-";
/// Hand-offs older (or newer) than this are refused.
pub const MAX_AGE_MS: u64 = 30_000;

/// What the filter hands to the sidecar for one request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    /// The main statement; empty for control requests (schema fetch).
    pub sql: String,
    pub params: Vec<Option<String>>,
    /// Role to switch to (`set_config('role', …, true)`).
    pub role: String,
    /// `request.jwt.claims` (JSON text).
    pub claims: String,
    /// Whether the request carried a valid JWT.
    pub authenticated: bool,
    /// `request.method` and `request.path`: the client's.
    pub method: String,
    pub path: String,
    /// `request.headers` (JSON object text, lower-case names, no cookie).
    pub headers: String,
    /// `request.cookies` (JSON object text).
    #[serde(default)]
    pub cookies: String,
    /// The exposed schema the statement reads (first of `search_path`).
    pub schema: String,
    /// Whether the transaction must be READ ONLY.
    pub read_only: bool,
    /// `Prefer: timezone=…`, set as the transaction's `timezone`.
    pub timezone: Option<String>,
    /// The called function's hoisted settings (`db-hoisted-tx-settings`), applied after the
    /// role's own; `default_transaction_isolation` sets the transaction's isolation level.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tx_settings: Vec<(String, String)>,
    /// `EXPLAIN (FORMAT JSON)` of the count query (planned and estimated counts), or empty.
    pub explain_sql: String,
    pub explain_params: Vec<Option<String>>,
    /// The request body, when the statement reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<BodySpec>,
    /// End the transaction with ROLLBACK (`Prefer: tx=rollback` or `db-tx-end`).
    #[serde(default)]
    pub rollback: bool,
    /// How to turn the result into a response.
    pub shape: ResponseShape,
    /// Milliseconds since the Unix epoch when the filter signed.
    pub ts_ms: u64,
    /// Unique per hand-off; the sidecar refuses a nonce it has seen.
    pub nonce: String,
}

/// Where the request body goes and how the sidecar prepares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodySpec {
    /// Index into `params`.
    pub param: usize,
    pub format: BodyFormat,
    /// The keys every JSON object must have (the filter read them from the first object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<String>>,
}

/// What the sidecar needs to answer a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteShape {
    pub mutation: Mutation,
    /// `return=representation`: the rows are the body.
    pub representation: bool,
    /// `resolution=merge-duplicates`: 200 instead of 201 when no row was inserted.
    pub merge: bool,
    /// The relation and its primary key columns, for `Location` (`return=headers-only`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<(String, Vec<String>)>,
}

/// How the sidecar joins the rows' texts into the body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Assembly {
    /// `[row, \n row]`, as `json_agg` writes it; `[]` when empty.
    #[default]
    Array,
    /// `[row,row]`: what `json_strip_nulls` makes of `json_agg`'s array.
    CompactArray,
    /// `[1, 2]`: `json_agg` over scalar values (no newline between them).
    Values,
    /// The single row itself.
    Object,
    /// The header line, a newline, the rows separated by newlines.
    Csv,
    /// A GeoJSON FeatureCollection around the rows' features, as `json_build_object` writes it.
    FeatureCollection,
    /// HEAD: no body.
    Nothing,
}

impl Assembly {
    /// Bytes before the first row, between rows, and after the last row.
    pub fn framing(self, csv_header: &str) -> (String, &'static str, &'static str) {
        match self {
            Assembly::Array => (String::from("["), ", \n ", "]"),
            Assembly::CompactArray => (String::from("["), ",", "]"),
            Assembly::Values => (String::from("["), ", ", "]"),
            Assembly::Object | Assembly::Nothing => (String::new(), "", ""),
            Assembly::Csv => (format!("{csv_header}\n"), "\n", ""),
            Assembly::FeatureCollection => (
                String::from("{\"type\" : \"FeatureCollection\", \"features\" : ["),
                ", ",
                "]}",
            ),
        }
    }
}

/// What the sidecar needs to build a read's response around PostgreSQL's body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseShape {
    pub content_type: String,
    pub assembly: Assembly,
    /// `vnd.pgrst.object`: exactly one row, or 406.
    pub singular: bool,
    /// First row of the page, for `Content-Range`.
    pub offset: u64,
    pub count: Option<Count>,
    pub max_rows: Option<u64>,
    /// The `Preference-Applied` header, if any.
    pub preference_applied: Option<String>,
    /// The `Content-Profile` header (the schema, when several are exposed).
    pub content_profile: Option<String>,
    /// The `Content-Location` header of a read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_location: Option<String>,
    /// Set for writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<WriteShape>,
    /// A function returning `void`: 204, no body.
    #[serde(default)]
    pub void: bool,
    /// `Prefer: max-affected=N` with strict handling: more rows roll back with 400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_affected: Option<u64>,
}

impl Handoff {
    /// The main statement; its body parameter (if any) is prepared as `format` says.
    pub fn with_statement(mut self, st: Statement) -> Self {
        self.sql = st.sql;
        self.params = st.params;
        if let (Some(param), Some(body)) = (st.body, self.body.as_mut()) {
            body.param = param;
        }
        if st.body.is_none() {
            self.body = None;
        }
        self
    }

    pub fn with_explain(mut self, st: Option<Statement>) -> Self {
        if let Some(st) = st {
            self.explain_sql = st.sql;
            self.explain_params = st.params;
        }
        self
    }
}

/// The hand-off MAC's key, derived once from the secret the filter and sidecar share
/// (`PGMESH_HANDOFF_KEY`).
#[derive(Clone)]
pub struct HandoffKey([u8; 32]);

impl HandoffKey {
    pub fn derive(secret: &[u8]) -> Self {
        HandoffKey(blake3::derive_key(
            "pgmesh 2026-11-24 hand-off MAC v2",
            secret,
        ))
    }
}

impl std::fmt::Debug for HandoffKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandoffKey(..)")
    }
}

/// Keyed BLAKE3 over method, path and document, each prefixed with its length. (BLAKE3 rather
/// than HMAC-SHA256: in the filter's wasm it costs 2.1 µs for a 1.5 KB hand-off where
/// HMAC-SHA256 cost 5.9 µs, measured under V8.)
fn mac(key: &HandoffKey, method: &str, path: &str, document: &str) -> blake3::Hash {
    let mut m = blake3::Hasher::new_keyed(&key.0);
    for part in [method, path, document] {
        m.update(&(part.len() as u64).to_be_bytes());
        m.update(part.as_bytes());
    }
    m.finalize()
}

/// Serialises and signs: returns the header values for [`HANDOFF_HEADER`] and [`SIGNATURE_HEADER`].
pub fn sign(
    key: &HandoffKey,
    method: &str,
    path: &str,
    handoff: &Handoff,
) -> Option<(String, String)> {
    let document = serde_json::to_string(handoff).ok()?;
    let sig = mac(key, method, path, &document).to_hex().to_string();
    Some((document, sig))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing hand-off headers")]
    Missing,
    #[error("bad hand-off signature")]
    BadSignature,
    #[error("malformed hand-off document")]
    Malformed,
    #[error("stale hand-off")]
    Stale,
}

/// Checks the signature (constant time), then the age. The replay check is the caller's (it
/// needs memory of nonces).
pub fn verify(
    key: &HandoffKey,
    method: &str,
    path: &str,
    document: Option<&str>,
    signature: Option<&str>,
    now_ms: u64,
) -> Result<Handoff, VerifyError> {
    let (Some(document), Some(signature)) = (document, signature) else {
        return Err(VerifyError::Missing);
    };
    let sig = blake3::Hash::from_hex(signature).map_err(|_| VerifyError::BadSignature)?;
    // `Hash` compares in constant time.
    if mac(key, method, path, document) != sig {
        return Err(VerifyError::BadSignature);
    }
    let handoff: Handoff = serde_json::from_str(document).map_err(|_| VerifyError::Malformed)?;
    if now_ms.abs_diff(handoff.ts_ms) > MAX_AGE_MS {
        return Err(VerifyError::Stale);
    }
    Ok(handoff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> HandoffKey {
        HandoffKey::derive(b"k")
    }

    fn sample() -> Handoff {
        Handoff {
            sql: "SELECT 1".into(),
            role: "web_anon".into(),
            ts_ms: 1_000_000,
            nonce: "n1".into(),
            ..Handoff::default()
        }
    }

    #[test]
    fn signed_handoff_verifies() {
        let (doc, sig) = sign(&key(), "GET", QUERY_PATH, &sample()).unwrap_or_default();
        assert_eq!(
            verify(&key(), "GET", QUERY_PATH, Some(&doc), Some(&sig), 1_000_500),
            Ok(sample())
        );
    }

    #[test]
    fn tampering_wrong_key_and_age_are_refused() {
        let (doc, sig) = sign(&key(), "GET", QUERY_PATH, &sample()).unwrap_or_default();
        let forged = doc.replace("web_anon", "postgres");
        assert_eq!(
            verify(
                &key(),
                "GET",
                QUERY_PATH,
                Some(&forged),
                Some(&sig),
                1_000_000
            ),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify(
                &HandoffKey::derive(b"other"),
                "GET",
                QUERY_PATH,
                Some(&doc),
                Some(&sig),
                1_000_000
            ),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify(
                &key(),
                "POST",
                QUERY_PATH,
                Some(&doc),
                Some(&sig),
                1_000_000
            ),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify(&key(), "GET", QUERY_PATH, Some(&doc), None, 1_000_000),
            Err(VerifyError::Missing)
        );
        assert_eq!(
            verify(
                &key(),
                "GET",
                QUERY_PATH,
                Some(&doc),
                Some(&sig),
                1_000_000 + MAX_AGE_MS + 1
            ),
            Err(VerifyError::Stale)
        );
    }
}
