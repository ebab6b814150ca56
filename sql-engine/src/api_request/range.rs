//! The page a read asks for: `limit`/`offset` and the `Range` header, as PostgREST combines them.

use crate::error::ApiError;

/// `Range: a-b` or `a-` (anything else is ignored, as in PostgREST): lower and upper bound.
pub(crate) fn range_header(value: &str) -> Option<(i64, Option<i64>)> {
    let (lower, upper) = value.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(lower) || !(upper.is_empty() || digits(upper)) {
        return None;
    }
    let lower = lower.parse().ok()?;
    let upper = if upper.is_empty() {
        None
    } else {
        Some(upper.parse().ok()?)
    };
    Some((lower, upper))
}

/// The page as PostgREST computes it: the `limit`/`offset` range intersected with the `Range`
/// header; `limit=0` alone is an empty page; an empty intersection is a 416.
pub(crate) fn page(
    limit: Option<i64>,
    offset: Option<i64>,
    header: Option<(i64, Option<i64>)>,
) -> Result<(u64, Option<u64>), ApiError> {
    let offset = offset.unwrap_or(0).max(0);
    if let Some((lower, Some(upper))) = header {
        if lower > upper {
            return Err(ApiError::InvalidRange {
                details: String::from(
                    "The lower boundary must be lower than or equal to the upper boundary in the Range header.",
                ),
            });
        }
    }
    if limit == Some(0) && offset == 0 {
        return Ok((0, Some(0)));
    }
    let query_upper = limit.map(|l| offset.saturating_add(l).saturating_sub(1));
    let (header_lower, header_upper) = header.unwrap_or((0, None));
    let lower = offset.max(header_lower);
    let upper = match (query_upper, header_upper) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    match upper {
        Some(u) if u < lower => Err(ApiError::InvalidRange {
            details: String::from("Limit should be greater than or equal to zero."),
        }),
        Some(u) => Ok((
            lower.unsigned_abs(),
            Some(u.saturating_sub(lower).saturating_add(1).unsigned_abs()),
        )),
        None => Ok((lower.unsigned_abs(), None)),
    }
}
