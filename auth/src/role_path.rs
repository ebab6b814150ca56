//! `jwt-role-claim-key`: where in the claims the role is, read as PostgREST v16 reads it.
//!
//! The value is an RFC 9535 JSONPath (`$.app.roles[?search(@, '^au')]`), evaluated by
//! `serde_json_path`, the crate PostgREST's docs point to for trying paths out. A value that is
//! not one is read as the JSPath DSL of PostgREST v14 and before (`.app.roles[0]`,
//! `."https://x.io/role"`, one final `[?(@ == "x")]` filter), which PostgREST still accepts
//! with a deprecation warning at startup. Neither: the configuration is refused.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::Value;
use serde_json_path::functions::{LogicalType, ValueType};
use serde_json_path::JsonPath;

/// A parsed `jwt-role-claim-key`.
#[derive(Debug, Clone)]
pub struct RoleClaimPath {
    form: Form,
    /// The value as configured (trimmed), for `--dump-config`.
    text: String,
}

#[derive(Debug, Clone)]
enum Form {
    Rfc9535(JsonPath),
    Legacy(Vec<LegacyStep>),
}

/// One step of the deprecated JSPath DSL.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LegacyStep {
    /// `.key` or `."any key"`.
    Key(String),
    /// `[0]`.
    Index(usize),
    /// `[?(@ op "text")]`: the first string of an array that matches; last step only.
    Filter(LegacyOp, String),
}

/// The deprecated DSL's filter operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegacyOp {
    /// `==`
    Equals,
    /// `!=`
    NotEquals,
    /// `^==`: starts with.
    StartsWith,
    /// `==^`: ends with.
    EndsWith,
    /// `*==`: contains.
    Contains,
}

impl LegacyOp {
    fn token(self) -> &'static str {
        match self {
            LegacyOp::Equals => "==",
            LegacyOp::NotEquals => "!=",
            LegacyOp::StartsWith => "^==",
            LegacyOp::EndsWith => "==^",
            LegacyOp::Contains => "*==",
        }
    }

    fn matches(self, pattern: &str, s: &str) -> bool {
        match self {
            LegacyOp::Equals => s == pattern,
            LegacyOp::NotEquals => s != pattern,
            LegacyOp::StartsWith => s.starts_with(pattern),
            LegacyOp::EndsWith => s.ends_with(pattern),
            LegacyOp::Contains => s.contains(pattern),
        }
    }
}

impl PartialEq for RoleClaimPath {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for RoleClaimPath {}

impl RoleClaimPath {
    /// Parses the value as PostgREST does: RFC 9535 first, then the deprecated DSL.
    pub fn parse(s: &str) -> Result<Self, String> {
        let rfc = match parse_rfc9535(s) {
            Ok(path) => {
                return Ok(RoleClaimPath {
                    form: Form::Rfc9535(path),
                    text: s.trim().to_string(),
                })
            }
            Err(e) => e,
        };
        match parse_legacy(s) {
            Ok(steps) => Ok(RoleClaimPath {
                form: Form::Legacy(steps),
                text: s.to_string(),
            }),
            Err(legacy) => Err(format!(
                "{s:?} is neither an RFC 9535 JSONPath ({rfc}) nor PostgREST's older JSPath ({legacy})"
            )),
        }
    }

    /// Whether the value uses the deprecated JSPath DSL (PostgREST warns at startup).
    pub fn is_deprecated(&self) -> bool {
        matches!(self.form, Form::Legacy(_))
    }

    /// PostgREST's startup warning for the deprecated DSL, if the value uses it.
    pub fn deprecation_warning(&self) -> Option<String> {
        self.is_deprecated().then(|| {
            let v = self.dump();
            format!(
                "WARNING: The config `jwt-role-claim-key={v}` is using the deprecated JSPath syntax. \
                 Update `jwt-role-claim-key={v}` to the new JSONPath syntax as support for JSPath \
                 will be removed in a future release. See the migration guide on how to update: \
                 https://github.com/PostgREST/postgrest/blob/main/CHANGELOG.md#migration-to-v16"
            )
        })
    }

    /// The value as `--dump-config` prints it (before the file syntax's `$$` escaping): an RFC
    /// 9535 path as configured, the deprecated DSL in PostgREST's dump form (`."key"`).
    pub fn dump(&self) -> String {
        match &self.form {
            Form::Rfc9535(_) => self.text.clone(),
            Form::Legacy(steps) => steps
                .iter()
                .map(|step| match step {
                    LegacyStep::Key(k) => format!(".\"{k}\""),
                    LegacyStep::Index(i) => format!("[{i}]"),
                    LegacyStep::Filter(op, text) => format!("[?(@ {} \"{text}\")]", op.token()),
                })
                .collect(),
        }
    }

    /// The role: the first value the path selects; a string as it is, any other JSON value
    /// JSON-encoded (PostgREST's `unquoted`). `None`: nothing selected (the anonymous role then).
    pub fn find<'a>(&self, claims: &'a Value) -> Option<Cow<'a, str>> {
        let found = match &self.form {
            Form::Rfc9535(path) => path.query(claims).first(),
            Form::Legacy(steps) => find_legacy(steps, claims),
        }?;
        Some(match found {
            Value::String(s) => Cow::Borrowed(s.as_str()),
            other => Cow::Owned(other.to_string()),
        })
    }
}

fn parse_rfc9535(s: &str) -> Result<JsonPath, String> {
    // PostgREST's parser allows whitespace around the query and a query from `@` (the root
    // here); the RFC does neither.
    let trimmed = s.trim_matches([' ', '\t', '\n', '\r']);
    let query: Cow<'_, str> = match trimmed.strip_prefix('@') {
        Some(rest) => Cow::Owned(format!("${rest}")),
        None => Cow::Borrowed(trimmed),
    };
    if let Some(name) = function_names(&query).find(|n| *n != "search") {
        return Err(format!(
            "{name}() is not available: PostgREST provides only the search() function"
        ));
    }
    JsonPath::parse(&query).map_err(|e| e.to_string())
}

/// The names of the functions a JSONPath calls: a lowercase name directly before `(`, outside
/// string literals (RFC 9535 allows no space between a function's name and its parenthesis).
fn function_names(query: &str) -> impl Iterator<Item = &str> {
    let bytes = query.as_bytes();
    let mut names = Vec::new();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None if b == b'(' => {
                let start = query[..i]
                    .rfind(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                    .map_or(0, |p| p + 1);
                if start < i {
                    names.push(&query[start..i]);
                }
            }
            None => {}
        }
        i += 1;
    }
    names.into_iter()
}

/// The deprecated DSL: one or more `.key`, `."key"`, `[n]`, and at most one filter, last.
fn parse_legacy(s: &str) -> Result<Vec<LegacyStep>, String> {
    let mut steps = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            if let Some(q) = r.strip_prefix('"') {
                let end = q.find('"').ok_or("an unterminated quoted key")?;
                steps.push(LegacyStep::Key(q[..end].to_string()));
                rest = &q[end + 1..];
            } else {
                let end = r
                    .find(|c: char| !(c.is_alphanumeric() || "_$@".contains(c)))
                    .unwrap_or(r.len());
                if end == 0 {
                    return Err(String::from("an empty key"));
                }
                steps.push(LegacyStep::Key(r[..end].to_string()));
                rest = &r[end..];
            }
        } else if let Some(r) = rest.strip_prefix("[?(") {
            let (op, text, after) = parse_legacy_filter(r)?;
            if !after.is_empty() {
                return Err(String::from("a filter must be the last step"));
            }
            steps.push(LegacyStep::Filter(op, text));
            rest = after;
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r
                .find(|c: char| !c.is_ascii_digit())
                .ok_or("an unterminated index")?;
            if end == 0 || !r[end..].starts_with(']') {
                return Err(String::from("an index must be digits in brackets"));
            }
            let index = r[..end].parse().map_err(|_| "an index too large")?;
            steps.push(LegacyStep::Index(index));
            rest = &r[end + 1..];
        } else {
            return Err(format!("unexpected {rest:?}"));
        }
    }
    if steps.is_empty() {
        return Err(String::from("no step"));
    }
    Ok(steps)
}

/// `@ op "text")]` after `[?(`; returns the rest of the input.
fn parse_legacy_filter(r: &str) -> Result<(LegacyOp, String, &str), String> {
    let bad = || String::from("a filter must read [?(@ op \"text\")]");
    let r = r.strip_prefix('@').ok_or_else(bad)?.trim_start();
    // `==^` before `==`, as PostgREST tries them.
    let ops = [
        LegacyOp::EndsWith,
        LegacyOp::Equals,
        LegacyOp::NotEquals,
        LegacyOp::StartsWith,
        LegacyOp::Contains,
    ];
    let (op, r) = ops
        .iter()
        .find_map(|op| r.strip_prefix(op.token()).map(|r| (*op, r)))
        .ok_or_else(bad)?;
    let r = r.trim_start().strip_prefix('"').ok_or_else(bad)?;
    let end = r.find('"').ok_or_else(bad)?;
    let after = r[end + 1..].strip_prefix(")]").ok_or_else(bad)?;
    Ok((op, r[..end].to_string(), after))
}

fn find_legacy<'a>(steps: &[LegacyStep], claims: &'a Value) -> Option<&'a Value> {
    let mut v = claims;
    for step in steps {
        v = match (step, v) {
            (LegacyStep::Key(k), Value::Object(o)) => o.get(k)?,
            (LegacyStep::Index(i), Value::Array(a)) => a.get(*i)?,
            (LegacyStep::Filter(op, pattern), Value::Array(a)) => a
                .iter()
                .find(|item| item.as_str().is_some_and(|s| op.matches(pattern, s)))?,
            _ => return None,
        };
    }
    Some(v)
}

/// RFC 9535's `search()`: whether the regular expression matches part of the string; false
/// when either argument is not a string or the expression does not compile. `serde_json_path`
/// has it over the `regex` crate, left out for its size (see the workspace manifest);
/// regex-lite reads the same syntax, without Unicode classes (`\p{..}`), in linear time.
#[serde_json_path::function]
fn search(value: ValueType, regex: ValueType) -> LogicalType {
    match (value.as_value(), regex.as_value()) {
        (Some(Value::String(s)), Some(Value::String(r))) => {
            with_regex(r, |re| re.is_match(s)).into()
        }
        _ => LogicalType::False,
    }
}

/// Regular expressions compiled once, not per request: a pattern is nearly always the
/// configuration's literal. It can also come from the claims (`search(@, $.p)`), so the cache is
/// bounded and starts again empty when full.
const REGEX_CACHE: usize = 32;

thread_local! {
    static REGEXES: RefCell<HashMap<String, Option<regex_lite::Regex>>> =
        RefCell::new(HashMap::new());
}

fn with_regex(pattern: &str, f: impl Fn(&regex_lite::Regex) -> bool) -> bool {
    // `(?R)`: `^` and `$` also treat CRLF as a line end, as serde_json_path's own search() does.
    let compile = || regex_lite::Regex::new(&format!("(?R)({pattern})")).ok();
    REGEXES.with(|cache| {
        let Ok(mut cache) = cache.try_borrow_mut() else {
            return compile().as_ref().is_some_and(&f);
        };
        if !cache.contains_key(pattern) {
            if cache.len() >= REGEX_CACHE {
                cache.clear();
            }
            cache.insert(pattern.to_string(), compile());
        }
        cache.get(pattern).and_then(Option::as_ref).is_some_and(&f)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn find(path: &str, claims: &Value) -> Option<String> {
        RoleClaimPath::parse(path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .find(claims)
            .map(Cow::into_owned)
    }

    #[test]
    fn the_postgrest_docs_examples() {
        let roles = json!({"postgrest": {"roles": ["other", "author"]}});
        assert_eq!(
            find("$.postgrest.roles[1]", &roles).as_deref(),
            Some("author")
        );
        let url = json!({"https://www.example.com/role": {"key": "author"}});
        assert_eq!(
            find("$['https://www.example.com/role'].key", &url).as_deref(),
            Some("author")
        );
        assert_eq!(
            find("$.postgrest.roles[?(@ == 'author')]", &roles).as_deref(),
            Some("author")
        );
        assert_eq!(
            find("$.postgrest.roles[?search(@, '^au')]", &roles).as_deref(),
            Some("author")
        );
        for p in [
            "$.postgrest.roles[1]",
            "$['https://www.example.com/role'].key",
        ] {
            assert!(!RoleClaimPath::parse(p).unwrap().is_deprecated());
        }
    }

    #[test]
    fn rfc9535_forms() {
        let c = json!({
            "role": "a",
            "app": {"roles": ["b", "c"], "meta": {"x y": "d"}},
            "groups": [{"name": "g1", "admin": false}, {"name": "g2", "admin": true}],
        });
        assert_eq!(find("$.role", &c).as_deref(), Some("a"));
        assert_eq!(find("$[\"role\"]", &c).as_deref(), Some("a"));
        assert_eq!(find("$.app.roles[-1]", &c).as_deref(), Some("c"));
        assert_eq!(find("$.app.meta['x y']", &c).as_deref(), Some("d"));
        // Whitespace around the query and a query from `@`, as PostgREST's parser takes them.
        assert_eq!(find("  $.role ", &c).as_deref(), Some("a"));
        assert_eq!(find("@.role", &c).as_deref(), Some("a"));
        // A filter on objects, then a member of the one selected.
        assert_eq!(
            find("$.groups[?@.admin == true].name", &c).as_deref(),
            Some("g2")
        );
        assert_eq!(
            find("$.groups[?(@.admin == false && @.name != 'x')].name", &c).as_deref(),
            Some("g1")
        );
        assert_eq!(
            find("$.groups[?search(@.name, '2$')].name", &c).as_deref(),
            Some("g2")
        );
        // The first of several values: a wildcard, a slice, a descendant segment.
        assert_eq!(find("$.app.roles[*]", &c).as_deref(), Some("b"));
        assert_eq!(find("$.app.roles[1:]", &c).as_deref(), Some("c"));
        assert_eq!(find("$..name", &c).as_deref(), Some("g1"));
        // An object's members in key order, as aeson's (ordered) KeyMap gives them PostgREST.
        let members = json!({"m": {"b": "x", "a": "y"}});
        assert_eq!(find("$.m.*", &members).as_deref(), Some("y"));
        assert_eq!(find("$.m[?search(@, '.')]", &members).as_deref(), Some("y"));
        assert_eq!(
            find("$.app.roles[?search(@, '.')]", &c).as_deref(),
            Some("b")
        );
        // Nothing selected: the anonymous role then.
        assert_eq!(find("$.missing", &c), None);
        assert_eq!(find("$.app.roles[5]", &c), None);
        assert_eq!(find("$.app.roles[?@ == 'z']", &c), None);
        assert_eq!(find("$.app.roles[?search(@, '^z')]", &c), None);
    }

    #[test]
    fn a_role_that_is_not_a_string_is_json_encoded() {
        let c = json!({"n": 42, "b": true, "o": {"k": [1, "x"]}, "a": ["r"], "z": null});
        assert_eq!(find("$.n", &c).as_deref(), Some("42"));
        assert_eq!(find("$.b", &c).as_deref(), Some("true"));
        assert_eq!(find("$.o", &c).as_deref(), Some(r#"{"k":[1,"x"]}"#));
        assert_eq!(find("$.a", &c).as_deref(), Some(r#"["r"]"#));
        assert_eq!(find("$.z", &c).as_deref(), Some("null"));
        assert_eq!(find(".n", &c).as_deref(), Some("42"));
        // A string is used as it is, borrowed from the claims.
        let s = json!({"role": "web\"user"});
        let path = RoleClaimPath::parse("$.role").unwrap();
        assert!(matches!(path.find(&s), Some(Cow::Borrowed("web\"user"))));
    }

    #[test]
    fn search_takes_its_pattern_from_the_path_or_the_claims() {
        let c = json!({"p": "^re", "r": ["author", "reader"], "bad": "("});
        // The pattern may be a singular query into the claims.
        assert_eq!(find("$.r[?search(@, $.p)]", &c).as_deref(), Some("reader"));
        // A pattern that does not compile matches nothing (RFC 9535), whatever its source.
        assert_eq!(find("$.r[?search(@, '(')]", &c), None);
        assert_eq!(find("$.r[?search(@, $.bad)]", &c), None);
        // Not a string on either side: false.
        assert_eq!(find("$.r[?search(@, 1)]", &c), None);
        assert_eq!(find("$[?search(@, 'x')]", &json!([1, {"a": "x"}])), None);
        // More patterns than the compiled-pattern cache holds: each still right.
        let path = RoleClaimPath::parse("$.r[?search(@, $.p)]").unwrap();
        for i in 0..(REGEX_CACHE * 2) {
            let claims = json!({"p": format!("^r{i}$"), "r": ["x", format!("r{i}")]});
            assert_eq!(
                path.find(&claims).as_deref(),
                Some(format!("r{i}").as_str())
            );
        }
    }

    #[test]
    fn only_search_among_the_function_extensions() {
        for p in [
            "$.r[?match(@, 'a.*')]",
            "$.r[?length(@) > 1]",
            "$.r[?count(@.*) > 1]",
            "$.r[?value(@.a) == 'x']",
            "$.r[?search(@, 'a') && length(@) == 2]",
        ] {
            let e = RoleClaimPath::parse(p).expect_err(p);
            assert!(e.contains("only the search() function"), "{p}: {e}");
        }
        // A name that only looks like a call, inside a string literal, is no call.
        let c = json!({"r": ["length(x)"]});
        assert_eq!(
            find("$.r[?@ == 'length(x)']", &c).as_deref(),
            Some("length(x)")
        );
        assert_eq!(
            find("$.r[?search(@, 'h\\\\(x')]", &c).as_deref(),
            Some("length(x)")
        );
    }

    #[test]
    fn the_deprecated_jspath_forms() {
        let c = json!({
            "role": "a",
            "app": {"roles": ["other", "author", "reader"]},
            "https://x.io/r": "d",
            "a$b": "e",
        });
        assert_eq!(find(".role", &c).as_deref(), Some("a"));
        assert_eq!(find(".app.roles[1]", &c).as_deref(), Some("author"));
        assert_eq!(find(".\"https://x.io/r\"", &c).as_deref(), Some("d"));
        assert_eq!(find(".a$b", &c).as_deref(), Some("e"));
        let filter = |op: &str, text: &str| find(&format!(".app.roles[?(@ {op} \"{text}\")]"), &c);
        assert_eq!(filter("==", "author").as_deref(), Some("author"));
        assert_eq!(filter("!=", "other").as_deref(), Some("author"));
        assert_eq!(filter("^==", "rea").as_deref(), Some("reader"));
        assert_eq!(filter("==^", "hor").as_deref(), Some("author"));
        assert_eq!(filter("*==", "ead").as_deref(), Some("reader"));
        assert_eq!(filter("==", "nobody"), None);
        // No space is needed around the operator.
        assert_eq!(
            find(".app.roles[?(@==\"author\")]", &c).as_deref(),
            Some("author")
        );
        // Only strings are matched, and a filter needs an array.
        let mixed = json!({"r": [1, "x1"], "s": "x1"});
        assert_eq!(find(".r[?(@ ^== \"x\")]", &mixed).as_deref(), Some("x1"));
        assert_eq!(find(".s[?(@ == \"x1\")]", &mixed), None);
        assert_eq!(find(".missing[0]", &c), None);
        let path = RoleClaimPath::parse(".app.roles[?(@ ==^ \"hor\")]").unwrap();
        assert!(path.is_deprecated());
        assert_eq!(path.dump(), r#"."app"."roles"[?(@ ==^ "hor")]"#);
        let warning = path.deprecation_warning().unwrap();
        assert!(
            warning.starts_with(
                r#"WARNING: The config `jwt-role-claim-key=."app"."roles"[?(@ ==^ "hor")]` is using the deprecated JSPath syntax."#
            ),
            "{warning}"
        );
        // The dump reads back to the same path.
        assert_eq!(
            RoleClaimPath::parse(&path.dump()).unwrap().dump(),
            path.dump()
        );
        assert_eq!(
            RoleClaimPath::parse("$.role")
                .unwrap()
                .deprecation_warning(),
            None
        );
    }

    #[test]
    fn values_that_are_neither_form_are_refused() {
        for p in [
            "",
            "role",
            "$.",
            "$.a[",
            "$[?(@ == 'x')",
            ".a[?(@ == \"x\")].b",
            ".a[?(@ =~ \"x\")]",
            ".a[x]",
            ".\"unterminated",
            "..a",
            " .role",
            "$.a[?foo(@)]",
        ] {
            let e = RoleClaimPath::parse(p).expect_err(p);
            assert!(e.contains("is neither an RFC 9535 JSONPath"), "{p}: {e}");
        }
    }
}
