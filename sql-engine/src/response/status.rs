//! The status and headers of an answer, once PostgreSQL has run the statement: counts and
//! `Content-Range`, singular and max-affected checks, `Location`, `Content-Location`, and the
//! `response.status` / `response.headers` settings a function or the pre-request hook may set.

use super::shape::{ResponseShape, WriteShape};
use crate::api_request::preferences::Count;
use crate::api_request::Mutation;
use crate::error::ApiError;

/// What the main statement (and the count's EXPLAIN) returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// Rows in the page.
    pub page_total: u64,
    /// `total_result_set`: the exact count, when one was made.
    pub exact: Option<i64>,
    /// The planner's estimate from EXPLAIN, when one was asked for.
    pub planned: Option<i64>,
}

/// Response headers with fixed names.
pub type Headers = Vec<(&'static str, String)>;

/// The total PostgREST reports for a count preference.
fn total(shape: &ResponseShape, c: Counted) -> Option<i64> {
    match shape.count? {
        Count::Exact => c.exact,
        Count::Planned => c.planned,
        Count::Estimated => {
            let exact = c.exact?;
            let over_max = shape
                .max_rows
                .is_none_or(|m| exact > i64::try_from(m).unwrap_or(i64::MAX));
            Some(if over_max {
                exact.max(c.planned.unwrap_or(exact))
            } else {
                exact
            })
        }
    }
}

/// Status and headers of a successful read, or the error PostgREST gives instead
/// (406 PGRST116 for a singular response over other than one row, 416 PGRST103 past the end).
pub fn read_response(shape: &ResponseShape, c: Counted) -> Result<(u16, Headers), ApiError> {
    if shape.singular && c.page_total != 1 {
        return Err(ApiError::NotSingular(c.page_total));
    }
    if shape.max_affected.is_some_and(|max| c.page_total > max) {
        return Err(ApiError::MaxAffected(c.page_total));
    }
    let total = total(shape, c);
    let lower = shape.offset;
    let range = match (c.page_total, total) {
        (0, _) | (_, Some(0)) => String::from("*"),
        (n, _) => format!("{lower}-{}", lower + n - 1),
    };
    let total_text = total.map_or_else(|| String::from("*"), |t| t.to_string());
    let status = match total {
        Some(t) if i64::try_from(lower).unwrap_or(i64::MAX) > t => {
            return Err(ApiError::OffsetBeyondTotal {
                offset: lower,
                total: t,
            })
        }
        Some(t) if i64::try_from(c.page_total).unwrap_or(i64::MAX) < t => 206,
        _ => 200,
    };
    let mut headers = vec![("content-range", format!("{range}/{total_text}"))];
    if shape.void {
        if let Some(applied) = &shape.preference_applied {
            headers.push(("preference-applied", applied.clone()));
        }
        return Ok((204, headers));
    }
    headers.insert(0, ("content-type", shape.content_type.clone()));
    if let Some(applied) = &shape.preference_applied {
        headers.push(("preference-applied", applied.clone()));
    }
    if let Some(location) = &shape.content_location {
        headers.push(("content-location", location.clone()));
    }
    if let Some(profile) = &shape.content_profile {
        headers.push(("content-profile", profile.clone()));
    }
    Ok((status, headers))
}

/// `Content-Range` as PostgREST writes it (`contentRangeH`): `lower-upper/total`, `*` for an
/// empty range.
fn content_range(lower: i64, upper: i64, total: Option<i64>) -> String {
    let range = if total != Some(0) && lower <= upper {
        format!("{lower}-{upper}")
    } else {
        String::from("*")
    };
    let total = total.map_or_else(|| String::from("*"), |t| t.to_string());
    format!("{range}/{total}")
}

/// What a write's statement reported besides the counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteResult<'a> {
    /// Rows an upsert inserted (rather than updated).
    pub inserted: Option<i64>,
    /// The inserted row's primary key values (a JSON array of texts).
    pub location: Option<&'a str>,
}

/// Status and headers of a successful write, or the error that rolls it back: 406 PGRST116
/// (singular over other than one row), 400 PGRST124 (max-affected), 400 PGRST115 (PUT).
pub fn write_response(
    shape: &ResponseShape,
    write: &WriteShape,
    c: Counted,
    result: WriteResult<'_>,
) -> Result<(u16, Headers), ApiError> {
    let n = c.page_total;
    if shape.singular && n != 1 {
        return Err(ApiError::NotSingular(n));
    }
    if shape.max_affected.is_some_and(|max| n > max) {
        return Err(ApiError::MaxAffected(n));
    }
    if write.mutation == Mutation::Put && n != 1 {
        return Err(ApiError::PutMismatch);
    }
    let rows = i64::try_from(n).unwrap_or(i64::MAX);
    let total = shape.count.map(|_| rows);
    let inserted = result.inserted.unwrap_or(0);
    let mut headers: Headers = Vec::new();
    let status = match write.mutation {
        Mutation::Insert => {
            if let (Some((table, key)), Some(values), 1) = (&write.location, result.location, n) {
                if let Ok(values) = serde_json::from_str::<Vec<Option<String>>>(values) {
                    let mut location = format!("/{table}");
                    for (i, (k, v)) in key.iter().zip(values).enumerate() {
                        location.push(if i == 0 { '?' } else { '&' });
                        crate::urlencoded::encode(k, &mut location);
                        location.push('=');
                        crate::urlencoded::encode(
                            &format!("eq.{}", v.unwrap_or_default()),
                            &mut location,
                        );
                    }
                    headers.push(("location", location));
                }
            }
            headers.push(("content-range", content_range(1, 0, total)));
            if write.merge && inserted <= 0 {
                200
            } else {
                201
            }
        }
        Mutation::Update => {
            headers.push(("content-range", content_range(0, rows - 1, total)));
            if write.representation {
                200
            } else {
                204
            }
        }
        Mutation::Delete => {
            headers.push(("content-range", content_range(1, 0, total)));
            if write.representation {
                200
            } else {
                204
            }
        }
        Mutation::Put => match (write.representation, inserted > 0) {
            (true, true) => 201,
            (true, false) => 200,
            (false, _) => 204,
        },
    };
    if let Some(applied) = &shape.preference_applied {
        headers.push(("preference-applied", applied.clone()));
    }
    if write.representation {
        headers.push(("content-type", shape.content_type.clone()));
        if let Some(profile) = &shape.content_profile {
            headers.push(("content-profile", profile.clone()));
        }
    }
    Ok((status, headers))
}

/// `Content-Location` of a read: `/<table>` and the query parameters sorted by name (values of a
/// repeated name joined by `,`), as PostgREST's canonical query string.
pub fn content_location(table: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = format!("/{table}");
    let mut previous: Option<&str> = None;
    for (key, value) in sorted {
        if previous == Some(key.as_str()) {
            out.push(',');
        } else {
            out.push(if previous.is_none() { '?' } else { '&' });
            crate::urlencoded::encode_latin1(key, &mut out);
            out.push('=');
        }
        crate::urlencoded::encode_latin1(value, &mut out);
        previous = Some(key);
    }
    out
}

/// An HTTP token (RFC 9110): what a header name may be.
fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Visible ASCII, spaces and tabs: what a header value may hold.
fn valid_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// The status and headers PostgreSQL asked for.
pub type Overrides = (Option<u16>, Vec<(String, String)>);

/// Reads `response.headers` (a JSON array of single-key objects with string values) and
/// `response.status` (an integer status code), as PostgREST does.
pub fn guc_overrides(headers: Option<&str>, status: Option<&str>) -> Result<Overrides, ApiError> {
    let status = match status {
        None => None,
        Some(s) => Some(
            s.trim()
                .parse::<u16>()
                .ok()
                .filter(|s| (100..=599).contains(s))
                .ok_or(ApiError::ResponseStatus)?,
        ),
    };
    let mut out = Vec::new();
    if let Some(h) = headers {
        let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(h)
        else {
            return Err(ApiError::ResponseHeaders);
        };
        for item in items {
            let serde_json::Value::Object(map) = item else {
                return Err(ApiError::ResponseHeaders);
            };
            let mut entries = map.into_iter();
            match (entries.next(), entries.next()) {
                // Checked here, inside the transaction: a header the HTTP layer would refuse
                // must roll back, not fail after the commit.
                (Some((k, serde_json::Value::String(v))), None)
                    if valid_header_name(&k) && valid_header_value(&v) =>
                {
                    out.push((k, v))
                }
                _ => return Err(ApiError::ResponseHeaders),
            }
        }
    }
    Ok((status, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(offset: u64, count: Option<Count>, max_rows: Option<u64>) -> ResponseShape {
        ResponseShape {
            content_type: "application/json; charset=utf-8".into(),
            offset,
            count,
            max_rows,
            ..ResponseShape::default()
        }
    }

    fn range(
        s: &ResponseShape,
        page_total: u64,
        exact: Option<i64>,
        planned: Option<i64>,
    ) -> String {
        match read_response(
            s,
            Counted {
                page_total,
                exact,
                planned,
            },
        ) {
            Ok((status, h)) => format!(
                "{status} {}",
                h.iter()
                    .find(|(k, _)| *k == "content-range")
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("")
            ),
            Err(e) => format!("{} {}", e.status(), e.to_response().body),
        }
    }

    #[test]
    fn content_range_and_status_follow_postgrest() {
        assert_eq!(range(&shape(0, None, None), 15, None, None), "200 0-14/*");
        assert_eq!(range(&shape(0, None, None), 0, None, None), "200 */*");
        assert_eq!(
            range(&shape(0, Some(Count::Exact), None), 15, Some(15), None),
            "200 0-14/15"
        );
        assert_eq!(
            range(&shape(10, Some(Count::Exact), None), 5, Some(100), None),
            "206 10-14/100"
        );
        assert_eq!(
            range(&shape(0, Some(Count::Exact), None), 0, Some(0), None),
            "200 */0"
        );
        assert_eq!(
            range(&shape(0, Some(Count::Planned), None), 2, None, Some(7)),
            "206 0-1/7"
        );
        insta::assert_snapshot!(range(&shape(20, Some(Count::Exact), None), 0, Some(15), None), @r#"416 {"code":"PGRST103","details":"An offset of 20 was requested, but there are only 15 rows.","hint":null,"message":"Requested range not satisfiable"}"#);
    }

    #[test]
    fn estimated_counts_switch_at_max_rows() {
        // Up to db-max-rows the exact count stands; above it, the larger of exact and planned.
        assert_eq!(
            range(
                &shape(0, Some(Count::Estimated), Some(10)),
                5,
                Some(5),
                Some(900)
            ),
            "200 0-4/5"
        );
        assert_eq!(
            range(
                &shape(0, Some(Count::Estimated), Some(10)),
                10,
                Some(11),
                Some(900)
            ),
            "206 0-9/900"
        );
    }

    #[test]
    fn singular_needs_exactly_one_row() {
        let mut s = shape(0, None, None);
        s.singular = true;
        assert_eq!(range(&s, 1, None, None), "200 0-0/*");
        insta::assert_snapshot!(range(&s, 2, None, None), @r#"406 {"code":"PGRST116","details":"The result contains 2 rows","hint":null,"message":"Cannot coerce the result to a single JSON object"}"#);
    }

    #[test]
    fn content_location_is_postgrest_canonical_query() {
        let p = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(content_location("films", &[]), "/films");
        assert_eq!(
            content_location(
                "films",
                &p(&[("select", "id,title"), ("id", "eq.1"), ("d", "")])
            ),
            "/films?d=&id=eq.1&select=id%2Ctitle"
        );
        assert_eq!(
            content_location("t", &p(&[("b", "2"), ("a", "x y"), ("b", "1")])),
            "/t?a=x%20y&b=2,1"
        );
        assert_eq!(
            content_location("t", &p(&[("n", "é")])),
            "/t?n=%C3%83%C2%A9"
        );
    }

    #[test]
    fn valid_overrides() {
        assert_eq!(
            guc_overrides(
                Some(r#"[{"X-A":"1"},{"Cache-Control":"no-cache"}]"#),
                Some("418")
            ),
            Ok((
                Some(418),
                vec![
                    ("X-A".into(), "1".into()),
                    ("Cache-Control".into(), "no-cache".into())
                ]
            ))
        );
        assert_eq!(guc_overrides(None, None), Ok((None, vec![])));
    }

    #[test]
    fn malformed_overrides_are_pgrst111_and_pgrst112() {
        assert_eq!(
            guc_overrides(Some(r#"{"X-A":"1"}"#), None),
            Err(ApiError::ResponseHeaders)
        );
        assert_eq!(
            guc_overrides(Some(r#"[{"X-A":1}]"#), None),
            Err(ApiError::ResponseHeaders)
        );
        assert_eq!(
            guc_overrides(Some(r#"[{"a":"1","b":"2"}]"#), None),
            Err(ApiError::ResponseHeaders)
        );
        assert_eq!(
            guc_overrides(None, Some("abc")),
            Err(ApiError::ResponseStatus)
        );
        assert_eq!(
            guc_overrides(None, Some("1000")),
            Err(ApiError::ResponseStatus)
        );
    }
}
