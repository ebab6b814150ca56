//! The `Prefer` header (RFC 7240) as PostgREST reads it: every `Prefer` header, split on commas,
//! each token matched exactly; the first occurrence of a preference wins.

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Count {
    Exact,
    Planned,
    Estimated,
}

impl Count {
    pub fn name(self) -> &'static str {
        match self {
            Count::Exact => "exact",
            Count::Planned => "planned",
            Count::Estimated => "estimated",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    Strict,
    Lenient,
}

/// Preferences a client stated. Those that only writes use are kept for them, as tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    pub count: Option<Count>,
    pub handling: Option<Handling>,
    pub timezone: Option<String>,
    /// Known preferences that apply to writes (`return=`, `resolution=`, `missing=`, `tx=`,
    /// `max-affected=`), in the order given.
    pub write_tokens: Vec<String>,
    /// Tokens PostgREST does not know, in the order given.
    pub invalid: Vec<String>,
}

const WRITE_TOKENS: [&str; 10] = [
    "params=single-object",
    "resolution=merge-duplicates",
    "resolution=ignore-duplicates",
    "return=representation",
    "return=minimal",
    "return=headers-only",
    "missing=default",
    "missing=null",
    "tx=commit",
    "tx=rollback",
];

impl Preferences {
    /// Reads every `Prefer` header value, in order.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut p = Preferences::default();
        for token in values.into_iter().flat_map(|v| v.split(',')).map(str::trim) {
            match token {
                "count=exact" => p.count = p.count.or(Some(Count::Exact)),
                "count=planned" => p.count = p.count.or(Some(Count::Planned)),
                "count=estimated" => p.count = p.count.or(Some(Count::Estimated)),
                "handling=strict" => p.handling = p.handling.or(Some(Handling::Strict)),
                "handling=lenient" => p.handling = p.handling.or(Some(Handling::Lenient)),
                t if t.starts_with("timezone=") => {
                    if p.timezone.is_none() {
                        p.timezone = Some(t["timezone=".len()..].to_string());
                    }
                }
                t if WRITE_TOKENS.contains(&t) || t.starts_with("max-affected=") => {
                    p.write_tokens.push(t.to_string())
                }
                t => p.invalid.push(t.to_string()),
            }
        }
        p
    }

    /// With `handling=strict`, any preference PostgREST does not know is a 400.
    pub fn check_strict(&self) -> Result<(), ApiError> {
        if self.handling == Some(Handling::Strict) && !self.invalid.is_empty() {
            return Err(ApiError::InvalidPreferences(self.invalid.join(", ")));
        }
        Ok(())
    }
}

/// `Prefer: return=…`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Return {
    Minimal,
    HeadersOnly,
    Representation,
}

/// `Prefer: resolution=…`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    MergeDuplicates,
    IgnoreDuplicates,
}

/// The preferences that shape a write, each from its first occurrence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WritePreferences {
    pub ret: Option<Return>,
    pub resolution: Option<Resolution>,
    /// `missing=default` (`Some(true)`) or `missing=null` (`Some(false)`).
    pub missing_default: Option<bool>,
    /// `tx=rollback` (`Some(true)`) or `tx=commit` (`Some(false)`).
    pub tx_rollback: Option<bool>,
    pub max_affected: Option<u64>,
}

impl Preferences {
    pub fn write(&self) -> WritePreferences {
        let mut w = WritePreferences::default();
        for t in &self.write_tokens {
            match t.as_str() {
                "return=minimal" => w.ret = w.ret.or(Some(Return::Minimal)),
                "return=headers-only" => w.ret = w.ret.or(Some(Return::HeadersOnly)),
                "return=representation" => w.ret = w.ret.or(Some(Return::Representation)),
                "resolution=merge-duplicates" => {
                    w.resolution = w.resolution.or(Some(Resolution::MergeDuplicates))
                }
                "resolution=ignore-duplicates" => {
                    w.resolution = w.resolution.or(Some(Resolution::IgnoreDuplicates))
                }
                "missing=default" => w.missing_default = w.missing_default.or(Some(true)),
                "missing=null" => w.missing_default = w.missing_default.or(Some(false)),
                "tx=rollback" => w.tx_rollback = w.tx_rollback.or(Some(true)),
                "tx=commit" => w.tx_rollback = w.tx_rollback.or(Some(false)),
                t => {
                    if let Some(n) = t.strip_prefix("max-affected=") {
                        w.max_affected = w.max_affected.or(n.parse().ok());
                    }
                }
            }
        }
        w
    }
}

/// Which preferences a response reports as applied (PostgREST's `prefAppliedHeader`, in its
/// order): each flag says the action honours it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Applicable {
    pub resolution: bool,
    pub ret: bool,
    pub missing: bool,
    pub max_affected: bool,
    /// Whether `tx=` is honoured (`db-tx-end` allows the override).
    pub tx: bool,
}

impl Preferences {
    /// `Preference-Applied` for a write or a call.
    pub fn applied(&self, which: Applicable) -> Option<String> {
        let w = self.write();
        let mut owned: Vec<String> = Vec::new();
        // PostgREST's order: resolution, missing, return, count, tx, handling, timezone,
        // max-affected.
        if which.resolution {
            match w.resolution {
                Some(Resolution::MergeDuplicates) => {
                    owned.push("resolution=merge-duplicates".into())
                }
                Some(Resolution::IgnoreDuplicates) => {
                    owned.push("resolution=ignore-duplicates".into())
                }
                None => {}
            }
        }
        if which.missing {
            match w.missing_default {
                Some(true) => owned.push(String::from("missing=default")),
                Some(false) => owned.push(String::from("missing=null")),
                None => {}
            }
        }
        if which.ret {
            match w.ret {
                Some(Return::Minimal) => owned.push("return=minimal".into()),
                Some(Return::HeadersOnly) => owned.push("return=headers-only".into()),
                Some(Return::Representation) => owned.push("return=representation".into()),
                None => {}
            }
        }
        if let Some(c) = self.count {
            owned.push(format!("count={}", c.name()));
        }
        if which.tx {
            match w.tx_rollback {
                Some(true) => owned.push(String::from("tx=rollback")),
                Some(false) => owned.push(String::from("tx=commit")),
                None => {}
            }
        }
        match self.handling {
            Some(Handling::Strict) => owned.push(String::from("handling=strict")),
            Some(Handling::Lenient) => owned.push(String::from("handling=lenient")),
            None => {}
        }
        if let Some(tz) = &self.timezone {
            owned.push(format!("timezone={tz}"));
        }
        if which.max_affected && self.handling == Some(Handling::Strict) {
            if let Some(n) = w.max_affected {
                owned.push(format!("max-affected={n}"));
            }
        }
        (!owned.is_empty()).then(|| owned.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_occurrence_wins_across_headers() {
        let p = Preferences::parse([
            "count=planned, count=exact",
            "handling=strict,count=estimated",
        ]);
        assert_eq!(p.count, Some(Count::Planned));
        assert_eq!(p.handling, Some(Handling::Strict));
        assert!(p.invalid.is_empty());
        assert_eq!(
            p.applied(Applicable::default()).as_deref(),
            Some("count=planned, handling=strict")
        );
    }

    #[test]
    fn strict_handling_refuses_unknown_preferences() {
        let p = Preferences::parse(["handling=strict, foo, bar=baz, count=none"]);
        let e = p.check_strict().map_err(|e| e.to_response().body);
        insta::assert_snapshot!(e.err().unwrap_or_default(), @r#"{"code":"PGRST122","details":"Invalid preferences: foo, bar=baz, count=none","hint":null,"message":"Invalid preferences given with handling=strict"}"#);
        assert!(
            Preferences::parse(["foo"]).check_strict().is_ok(),
            "lenient by default"
        );
    }

    #[test]
    fn timezone_and_write_tokens() {
        let p =
            Preferences::parse(["timezone=America/Los_Angeles, return=minimal, max-affected=5"]);
        assert_eq!(p.timezone.as_deref(), Some("America/Los_Angeles"));
        assert_eq!(p.write_tokens, vec!["return=minimal", "max-affected=5"]);
    }
}
