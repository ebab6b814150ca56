//! Content negotiation for reads: `Accept` with q-values → the output format.

use crate::error::ApiError;

/// What a read's body is built as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json` (also `*/*`, `application/*`, `vnd.pgrst.array+json`).
    Json { strip_nulls: bool },
    /// `application/vnd.pgrst.object+json`: exactly one row, as an object.
    Object { strip_nulls: bool },
    /// `text/csv`
    Csv,
    /// `application/geo+json`: a GeoJSON FeatureCollection (needs PostGIS).
    GeoJson,
}

impl Format {
    /// The response's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json { strip_nulls: false } => "application/json; charset=utf-8",
            Format::Json { strip_nulls: true } => {
                "application/vnd.pgrst.array+json; nulls=stripped; charset=utf-8"
            }
            Format::Object { strip_nulls: false } => {
                "application/vnd.pgrst.object+json; charset=utf-8"
            }
            Format::Object { strip_nulls: true } => {
                "application/vnd.pgrst.object+json; nulls=stripped; charset=utf-8"
            }
            Format::Csv => "text/csv; charset=utf-8",
            Format::GeoJson => "application/geo+json; charset=utf-8",
        }
    }
}

struct MediaRange<'a> {
    essence: String,
    params: Vec<(String, &'a str)>,
    q: f32,
}

fn parse_range(item: &str) -> Option<MediaRange<'_>> {
    let mut parts = item.split(';');
    let essence = parts.next()?.trim().to_ascii_lowercase();
    if essence.is_empty() {
        return None;
    }
    let mut q = 1.0;
    let mut params = Vec::new();
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let k = k.trim().to_ascii_lowercase();
        let v = v.trim().trim_matches('"');
        if k == "q" {
            q = v.parse().unwrap_or(1.0);
        } else {
            params.push((k, v));
        }
    }
    Some(MediaRange { essence, params, q })
}

fn format_for(range: &MediaRange<'_>) -> Option<Format> {
    let strip_nulls = range
        .params
        .iter()
        .any(|(k, v)| k == "nulls" && *v == "stripped");
    match range.essence.as_str() {
        "*/*" | "application/*" | "application/json" => Some(Format::Json { strip_nulls: false }),
        "application/vnd.pgrst.array+json" | "application/vnd.pgrst.array" => {
            Some(Format::Json { strip_nulls })
        }
        "application/vnd.pgrst.object+json" | "application/vnd.pgrst.object" => {
            Some(Format::Object { strip_nulls })
        }
        "text/csv" => Some(Format::Csv),
        "application/geo+json" => Some(Format::GeoJson),
        _ => None,
    }
}

/// Picks the format for `Accept` values (all `Accept` headers, in order): the acceptable media
/// range with the highest q-value wins, earlier ones on ties; no header means JSON.
pub fn negotiate<'a>(accept: impl IntoIterator<Item = &'a str>) -> Result<Format, ApiError> {
    let ranges: Vec<MediaRange<'_>> = accept
        .into_iter()
        .flat_map(|v| v.split(','))
        .filter_map(parse_range)
        .collect();
    if ranges.is_empty() {
        return Ok(Format::Json { strip_nulls: false });
    }
    let mut best: Option<(f32, Format)> = None;
    for range in ranges.iter().filter(|r| r.q > 0.0) {
        if let Some(f) = format_for(range) {
            if best.is_none_or(|(q, _)| range.q > q) {
                best = Some((range.q, f));
            }
        }
    }
    best.map(|(_, f)| f).ok_or_else(|| {
        ApiError::MediaTypeUnavailable(
            ranges
                .iter()
                .map(|r| r.essence.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        let f = |a: &str| negotiate([a]).map_err(|e| e.to_response().body);
        assert_eq!(negotiate([]), Ok(Format::Json { strip_nulls: false }));
        assert_eq!(
            f("text/html,application/xhtml+xml,*/*;q=0.8"),
            Ok(Format::Json { strip_nulls: false })
        );
        assert_eq!(
            f("application/vnd.pgrst.object+json"),
            Ok(Format::Object { strip_nulls: false })
        );
        assert_eq!(
            f("application/vnd.pgrst.object+json;nulls=stripped"),
            Ok(Format::Object { strip_nulls: true })
        );
        assert_eq!(
            f("application/vnd.pgrst.array+json; nulls=stripped"),
            Ok(Format::Json { strip_nulls: true })
        );
        assert_eq!(f("application/json;q=0.5, text/csv"), Ok(Format::Csv));
        assert_eq!(
            f("text/csv;q=0, application/json"),
            Ok(Format::Json { strip_nulls: false })
        );
        insta::assert_snapshot!(f("text/xml, image/png").err().unwrap_or_default(), @r#"{"code":"PGRST107","details":null,"hint":null,"message":"None of these media types are available: text/xml, image/png"}"#);
    }
}
