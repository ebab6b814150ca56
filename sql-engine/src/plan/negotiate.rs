//! Content negotiation: the `Accept` ranges → the format the body is built as.

use crate::error::ApiError;
use crate::media::{Format, MediaRange};

/// The acceptable media range with the highest q-value wins, earlier ones on ties; no range
/// means JSON.
pub fn negotiate(ranges: &[MediaRange]) -> Result<Format, ApiError> {
    if ranges.is_empty() {
        return Ok(Format::Json { strip_nulls: false });
    }
    let mut best: Option<(f32, Format)> = None;
    for range in ranges.iter().filter(|r| r.q > 0.0) {
        if let Some(f) = range.format() {
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
        let negotiate =
            |a: &[&str]| super::negotiate(&crate::media::parse_accept(a.iter().copied()));
        let f = |a: &str| negotiate(&[a]).map_err(|e| e.to_response().body);
        assert_eq!(negotiate(&[]), Ok(Format::Json { strip_nulls: false }));
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
        insta::assert_snapshot!(f("text/xml, image/png").unwrap_err(), @r#"{"code":"PGRST107","details":null,"hint":null,"message":"None of these media types are available: text/xml, image/png"}"#);
    }
}
