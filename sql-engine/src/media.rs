//! Media types: the formats a response body is built as, and the ranges an `Accept` header
//! lists. Choosing one ([`crate::plan::negotiate`]) is the plan's job.

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

/// One media range of an `Accept` header: `type/subtype;param=value;q=0.5`.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRange {
    /// `type/subtype`, in lower case.
    pub essence: String,
    /// Parameters other than `q`, names in lower case.
    pub params: Vec<(String, String)>,
    pub q: f32,
}

// A q-value parsed from text is never NaN (`"NaN".parse::<f32>()` is, so it is read as 1.0).
impl Eq for MediaRange {}

impl MediaRange {
    fn parse(item: &str) -> Option<MediaRange> {
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
                q = v.parse().ok().filter(|q: &f32| !q.is_nan()).unwrap_or(1.0);
            } else {
                params.push((k, v.to_string()));
            }
        }
        Some(MediaRange { essence, params, q })
    }

    /// The format this range names, if pgmesh builds it.
    pub fn format(&self) -> Option<Format> {
        let strip_nulls = self
            .params
            .iter()
            .any(|(k, v)| k == "nulls" && v == "stripped");
        match self.essence.as_str() {
            "*/*" | "application/*" | "application/json" => {
                Some(Format::Json { strip_nulls: false })
            }
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
}

/// Every media range of the `Accept` headers, in order.
pub fn parse_accept<'a>(accept: impl IntoIterator<Item = &'a str>) -> Vec<MediaRange> {
    accept
        .into_iter()
        .flat_map(|v| v.split(','))
        .filter_map(MediaRange::parse)
        .collect()
}
