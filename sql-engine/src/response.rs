//! Response shaping that PostgreSQL can steer: the `response.status` and `response.headers`
//! settings a function or the pre-request hook may set.

use crate::error::ApiError;

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
                (Some((k, serde_json::Value::String(v))), None) => out.push((k, v)),
                _ => return Err(ApiError::ResponseHeaders),
            }
        }
    }
    Ok((status, out))
}

#[cfg(test)]
mod tests {
    use super::*;

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
