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

/// Preferences a client stated, typed once; each from its first occurrence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    pub count: Option<Count>,
    pub handling: Option<Handling>,
    pub timezone: Option<String>,
    pub ret: Option<Return>,
    pub resolution: Option<Resolution>,
    /// `missing=default` (`Some(true)`) or `missing=null` (`Some(false)`).
    pub missing_default: Option<bool>,
    /// `tx=rollback` (`Some(true)`) or `tx=commit` (`Some(false)`).
    pub tx_rollback: Option<bool>,
    /// The first `max-affected=N` whose N is a number.
    pub max_affected: Option<u64>,
    /// Tokens PostgREST does not know, in the order given.
    pub invalid: Vec<String>,
}

impl Preferences {
    /// Reads every `Prefer` header value, in order.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        fn first<T>(slot: &mut Option<T>, value: T) {
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        let mut p = Preferences::default();
        for token in values.into_iter().flat_map(|v| v.split(',')).map(str::trim) {
            match token {
                "count=exact" => first(&mut p.count, Count::Exact),
                "count=planned" => first(&mut p.count, Count::Planned),
                "count=estimated" => first(&mut p.count, Count::Estimated),
                "handling=strict" => first(&mut p.handling, Handling::Strict),
                "handling=lenient" => first(&mut p.handling, Handling::Lenient),
                "return=minimal" => first(&mut p.ret, Return::Minimal),
                "return=headers-only" => first(&mut p.ret, Return::HeadersOnly),
                "return=representation" => first(&mut p.ret, Return::Representation),
                "resolution=merge-duplicates" => {
                    first(&mut p.resolution, Resolution::MergeDuplicates)
                }
                "resolution=ignore-duplicates" => {
                    first(&mut p.resolution, Resolution::IgnoreDuplicates)
                }
                "missing=default" => first(&mut p.missing_default, true),
                "missing=null" => first(&mut p.missing_default, false),
                "tx=rollback" => first(&mut p.tx_rollback, true),
                "tx=commit" => first(&mut p.tx_rollback, false),
                // Known to PostgREST, and the only way pgmesh reads a body anyway.
                "params=single-object" => {}
                t if t.starts_with("timezone=") => {
                    first(&mut p.timezone, t["timezone=".len()..].to_string())
                }
                t if t.starts_with("max-affected=") => {
                    if let Ok(n) = t["max-affected=".len()..].parse() {
                        first(&mut p.max_affected, n);
                    }
                }
                t => p.invalid.push(t.to_string()),
            }
        }
        p
    }

    /// With `handling=strict`, any preference PostgREST does not know is a 400.
    pub fn check_strict(&self) -> Result<(), ApiError> {
        if self.strict() && !self.invalid.is_empty() {
            return Err(ApiError::InvalidPreferences(self.invalid.join(", ")));
        }
        Ok(())
    }

    /// `Prefer: handling=strict`
    pub fn strict(&self) -> bool {
        self.handling == Some(Handling::Strict)
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
        let mut owned: Vec<String> = Vec::new();
        // PostgREST's order: resolution, missing, return, count, tx, handling, timezone,
        // max-affected.
        if which.resolution {
            match self.resolution {
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
            match self.missing_default {
                Some(true) => owned.push(String::from("missing=default")),
                Some(false) => owned.push(String::from("missing=null")),
                None => {}
            }
        }
        if which.ret {
            match self.ret {
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
            match self.tx_rollback {
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
        if which.max_affected && self.strict() {
            if let Some(n) = self.max_affected {
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
        insta::assert_snapshot!(e.unwrap_err(), @r#"{"code":"PGRST122","details":"Invalid preferences: foo, bar=baz, count=none","hint":null,"message":"Invalid preferences given with handling=strict"}"#);
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
        assert_eq!(p.ret, Some(Return::Minimal));
        assert_eq!(p.max_affected, Some(5));
        assert!(p.invalid.is_empty(), "write preferences are known ones");
        let p = Preferences::parse(["max-affected=x, max-affected=7, max-affected=9"]);
        assert_eq!(p.max_affected, Some(7), "the first numeric one wins");
    }
}
