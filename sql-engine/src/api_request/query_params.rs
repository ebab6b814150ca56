//! nom parsers for PostgREST's query-string grammar: `select=`, filters, `order=`, `limit=`,
//! `offset=`. Every failure becomes an [`ApiError`] with PostgREST's parsec-style message
//! (`"failed to parse filter (noop.1)" (line 1, column 1)`) and details
//! (`unexpected "o" expecting "not" or operator (eq, gt, ...)`).

use nom::branch::alt;
use nom::bytes::complete::take_while1;
use nom::combinator::recognize;
use nom::multi::many1;
use nom::{IResult, Parser};

use crate::api_request::types::{
    AggregateFunction, Conjunction, Direction, Embed, Field, Filter, FtsOperator, IsValue,
    JoinType, JsonKey, JsonStep, LogicTree, Nulls, Operation, Operator, OrderTerm, Quantifier,
    SelectItem,
};
use crate::error::ApiError;

/// Logic trees nest at most this deep; deeper input is a 400, never a stack overflow.
pub const MAX_LOGIC_DEPTH: usize = 32;

/// Where and why a parser stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrammarError<'a> {
    /// The input from where the failing token starts (gives the column).
    at: &'a str,
    /// How many characters into `at` the unexpected character sits.
    skip: usize,
    /// Parsec-style list of what was expected.
    expecting: &'static str,
    /// Whether the unexpected character is shown with single quotes (a char parser in parsec).
    single_quote: bool,
    /// Set when the input is valid PostgREST syntax for a feature pgmesh has not built yet.
    unsupported: Option<&'static str>,
}

impl<'a> nom::error::ParseError<&'a str> for GrammarError<'a> {
    fn from_error_kind(input: &'a str, _kind: nom::error::ErrorKind) -> Self {
        GrammarError {
            at: input,
            skip: 0,
            expecting: "",
            single_quote: false,
            unsupported: None,
        }
    }

    fn append(_input: &'a str, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

type PResult<'a, T> = IResult<&'a str, T, GrammarError<'a>>;

fn fail<'a, T>(at: &'a str, skip: usize, expecting: &'static str) -> PResult<'a, T> {
    Err(nom::Err::Error(GrammarError {
        at,
        skip,
        expecting,
        single_quote: false,
        unsupported: None,
    }))
}

/// Matches one of `words` (each followed by `then`, if given); on failure reports the character
/// after the longest partial match, as parsec does.
fn keyword<'a, T: Copy>(
    input: &'a str,
    words: &[(T, &'static str)],
    then: Option<char>,
    expecting: &'static str,
) -> PResult<'a, T> {
    let mut best = 0;
    for (value, word) in words {
        let full_len = word.len() + then.map_or(0, char::len_utf8);
        let matches = input.strip_prefix(word).is_some_and(|rest| match then {
            Some(c) => rest.starts_with(c),
            None => true,
        });
        if matches {
            return Ok((&input[full_len..], *value));
        }
        let common = input
            .chars()
            .zip(word.chars().chain(then))
            .take_while(|(a, b)| a == b)
            .count();
        best = best.max(common);
    }
    fail(input, best, expecting)
}

/// A column or alias: `"quoted"` (with `\"` and `\\` escapes) or letters, digits, `_`, `$`,
/// spaces and `-` not followed by `>`.
fn field_name<'a>(input: &'a str) -> PResult<'a, String> {
    if let Some(rest) = input.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Ok((&rest[i + 1..], out)),
                '\\' => match chars.next() {
                    Some((_, e)) => out.push(e),
                    None => break,
                },
                c => out.push(c),
            }
        }
        return fail(&input[input.len()..], 0, "\"\\\"\"");
    }
    let (rest, raw) = recognize(many1(alt((
        take_while1(|c: char| c.is_alphanumeric() || c == '_' || c == '$' || c == ' '),
        |i: &'a str| -> PResult<'a, &'a str> {
            if i.starts_with('-') && !i.starts_with("->") {
                Ok((&i[1..], &i[..1]))
            } else {
                fail(i, 0, "field name")
            }
        },
    ))))
    .parse(input)
    .or_else(|_: nom::Err<GrammarError>| fail(input, 0, "field name (* or [a..z0..9_$])"))?;
    let name = raw.trim_matches(|c| c == ' ' || c == '\t');
    if name.is_empty() {
        return fail(input, raw.len(), "field name (* or [a..z0..9_$])");
    }
    Ok((rest, name.to_string()))
}

/// A JSON path key: an integer index (possibly negative) or a name.
fn json_key(input: &str) -> PResult<'_, JsonKey> {
    let digits_start = usize::from(input.starts_with('-'));
    let digits = input[digits_start..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    if digits > 0 {
        let end = digits_start + digits;
        let rest = &input[end..];
        let ends_here = rest.is_empty()
            || rest.starts_with("->")
            || !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$');
        if ends_here {
            if let Ok(i) = input[..end].parse::<i64>() {
                return Ok((rest, JsonKey::Index(i)));
            }
        }
    }
    let (rest, name) = field_name(input)?;
    Ok((rest, JsonKey::Key(name)))
}

/// A column with an optional JSON path: `data->a->>b`, `arr->0`, `arr->-1`.
fn field(input: &str) -> PResult<'_, Field> {
    let (mut rest, name) = field_name(input)?;
    let mut json_path = Vec::new();
    loop {
        let (after, as_text) = if let Some(r) = rest.strip_prefix("->>") {
            (r, true)
        } else if let Some(r) = rest.strip_prefix("->") {
            (r, false)
        } else {
            break;
        };
        let (after, key) = json_key(after)?;
        json_path.push(JsonStep { as_text, key });
        rest = after;
    }
    Ok((rest, Field { name, json_path }))
}

fn skip_spaces(input: &str) -> &str {
    input.trim_start_matches([' ', '\t'])
}

/// `::type` — a cast's type name: letters, digits and `_`.
fn cast(input: &str) -> PResult<'_, Option<String>> {
    let Some(rest) = input.strip_prefix("::") else {
        return Ok((input, None));
    };
    let (rest, ty) = take_while1(|c: char| c.is_alphanumeric() || c == '_')
        .parse(rest)
        .or_else(|_: nom::Err<GrammarError>| fail(rest, 0, "type name (letters, digits or _)"))?;
    Ok((rest, Some(ty.to_string())))
}

/// Select items separated by commas, up to the end or a closing `)` (left in the rest).
fn select_items(input: &str, depth: usize) -> PResult<'_, Vec<SelectItem>> {
    let mut items = Vec::new();
    let mut rest = input;
    loop {
        let (after, item) = select_item(rest, depth)?;
        items.push(item);
        match after.strip_prefix(',') {
            Some(next) => rest = next,
            None if after.is_empty() || (depth > 0 && after.starts_with(')')) => {
                return Ok((after, items))
            }
            None => return fail(after, 0, "\",\" or end of input"),
        }
    }
}

/// The rest of an embed after its name: `!hint!inner(items)`.
fn embed(
    input: &str,
    alias: Option<String>,
    relation: String,
    depth: usize,
) -> PResult<'_, SelectItem> {
    if depth >= MAX_LOGIC_DEPTH {
        return Err(nom::Err::Failure(GrammarError {
            at: input,
            skip: 0,
            expecting: "embeds nested at most 32 levels deep",
            single_quote: false,
            unsupported: None,
        }));
    }
    let mut rest = input;
    let (mut hint, mut join) = (None, None);
    while let Some(after) = rest.strip_prefix('!') {
        let (after, word) = field_name(after)?;
        match word.as_str() {
            "inner" => join = Some(JoinType::Inner),
            "left" => join = Some(JoinType::Left),
            _ => hint = Some(word),
        }
        rest = after;
    }
    let Some(inside) = rest.strip_prefix('(') else {
        return fail(rest, 0, "\"(\"");
    };
    let (after, select) = if inside.starts_with(')') {
        (inside, Vec::new())
    } else {
        select_items(inside, depth + 1)?
    };
    let Some(after) = after.strip_prefix(')') else {
        return fail(after, 0, "\",\" or \")\"");
    };
    Ok((
        skip_spaces(after),
        SelectItem::Embed(Embed {
            alias,
            relation,
            hint,
            join,
            select,
            spread: false,
        }),
    ))
}

/// One `select=` item.
fn select_item(input: &str, depth: usize) -> PResult<'_, SelectItem> {
    let input = skip_spaces(input);
    if let Some(after) = input.strip_prefix("...") {
        let (rest, relation) = field_name(after)?;
        return match embed(rest, None, relation, depth)? {
            (rest, SelectItem::Embed(mut e)) => {
                e.spread = true;
                Ok((rest, SelectItem::Embed(e)))
            }
            _ => fail(after, 0, "an embedded resource"),
        };
    }
    if let Some(rest) = input.strip_prefix('*') {
        return Ok((skip_spaces(rest), SelectItem::Star));
    }
    let (rest, first) = field(input)?;
    // `alias:field` — a single colon; `::` is a cast.
    let (rest, alias, field) = match rest.strip_prefix(':') {
        Some(after) if !after.starts_with(':') && first.json_path.is_empty() => {
            let (after, field) = field(skip_spaces(after))?;
            (after, Some(first.name), field)
        }
        _ => (rest, None, first),
    };
    // `count()` alone is an aggregate, not an embed of a `count` relation.
    if field.name == "count" && field.json_path.is_empty() {
        if let Some(after) = rest.strip_prefix("()") {
            let (after, result_cast) = cast(after)?;
            return Ok((
                skip_spaces(after),
                SelectItem::Aggregate {
                    function: AggregateFunction::Count,
                    field: None,
                    input_cast: None,
                    result_cast,
                    alias,
                },
            ));
        }
    }
    if (rest.starts_with('(') || rest.starts_with('!')) && field.json_path.is_empty() {
        return embed(rest, alias, field.name, depth);
    }
    let (rest, cast) = cast(rest)?;
    // `col.sum()`, `col::numeric.avg()::int`
    if let Some(after) = rest.strip_prefix('.') {
        let (after, function) = keyword(
            after,
            &AggregateFunction::ALL,
            Some('('),
            "aggregate function (sum, avg, min, max, count)",
        )?;
        let Some(after) = after.strip_prefix(')') else {
            return fail(after, 0, "\")\"");
        };
        let (after, result_cast) = self::cast(after)?;
        return Ok((
            skip_spaces(after),
            SelectItem::Aggregate {
                function,
                field: Some(field),
                input_cast: cast,
                result_cast,
                alias,
            },
        ));
    }
    Ok((skip_spaces(rest), SelectItem::Column { field, alias, cast }))
}

fn comma_separated<'a, T>(
    input: &'a str,
    item: impl Fn(&'a str) -> PResult<'a, T>,
    after_item: &'static str,
) -> PResult<'a, Vec<T>> {
    let mut items = Vec::new();
    let mut rest = input;
    loop {
        let (after, value) = item(rest)?;
        items.push(value);
        if after.is_empty() {
            return Ok((after, items));
        }
        match after.strip_prefix(',') {
            Some(next) => rest = next,
            None => return fail(after, 0, after_item),
        }
    }
}

fn into_api_error(what: &str, input: &str, e: nom::Err<GrammarError<'_>>) -> ApiError {
    let e = match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => e,
        nom::Err::Incomplete(_) => GrammarError {
            at: "",
            skip: 0,
            expecting: "",
            single_quote: false,
            unsupported: None,
        },
    };
    if let Some(what) = e.unsupported {
        return ApiError::NotImplemented(what.to_string());
    }
    let column = input.chars().count() - e.at.chars().count() + 1;
    let unexpected = match e.at.chars().nth(e.skip) {
        Some(c) if e.single_quote => format!("unexpected '{c}'"),
        Some(c) => format!("unexpected \"{c}\""),
        None => String::from("unexpected end of input"),
    };
    ApiError::QueryParam {
        message: format!("\"failed to parse {what} ({input})\" (line 1, column {column})"),
        details: format!("{unexpected} expecting {}", e.expecting),
    }
}

/// `select=a,alias:b,c::text,*`; an empty value means `*`.
pub fn select(input: &str) -> Result<Vec<SelectItem>, ApiError> {
    if input.trim().is_empty() {
        return Ok(vec![SelectItem::Star]);
    }
    select_items(input, 0)
        .map(|(_, items)| items)
        .map_err(|e| into_api_error("select parameter", input, e))
}

const OPERATOR_EXPECTING: &str = "\"not\" or operator (eq, gt, ...)";

/// Where a filter value ends: at the end of input (a query parameter), or at `,`/`)` inside a
/// logic tree, where it may also be quoted (`"a,b"`) or an array/range literal (`{a,b}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueEnd {
    EndOfInput,
    InTree,
}

fn value(input: &str, end: ValueEnd) -> PResult<'_, String> {
    match end {
        ValueEnd::EndOfInput => Ok(("", input.to_string())),
        ValueEnd::InTree => {
            if input.starts_with('"') {
                return field_name(input);
            }
            if input.starts_with('{') {
                if let Some(close) = input.find('}') {
                    return Ok((&input[close + 1..], input[..=close].to_string()));
                }
            }
            let stop = input.find([',', ')']).unwrap_or(input.len());
            Ok((&input[stop..], input[..stop].to_string()))
        }
    }
}

/// A filter's value side: `[not.]op.value`, `op(any).{…}`, `fts(lang).query`, `is.null`,
/// `in.(…)`.
fn operation(input: &str, end: ValueEnd) -> PResult<'_, (bool, Operation)> {
    let (input, negated) = match input.strip_prefix("not.") {
        Some(rest) => (rest, true),
        None => (input, false),
    };
    if let Some(rest) = input.strip_prefix("is.") {
        let (left, raw) = value(rest, end)?;
        let lower = raw.to_ascii_lowercase();
        let (unparsed, v) = keyword(
            &lower,
            &IsValue::ALL,
            None,
            "null or trilean value (unknown, true, false)",
        )
        .map_err(|e| {
            e.map(|g| GrammarError {
                at: &rest[lower.len() - g.at.len()..],
                ..g
            })
        })?;
        if !unparsed.is_empty() {
            return fail(&rest[lower.len() - unparsed.len()..], 0, "end of input");
        }
        return Ok((left, (negated, Operation::Is(v))));
    }
    if let Some(rest) = input.strip_prefix("in.") {
        let (rest, items) = in_list(rest)?;
        if end == ValueEnd::EndOfInput {
            end_of_input(rest)?;
        }
        return Ok((rest, (negated, Operation::In(items))));
    }
    for (op, name) in FtsOperator::ALL {
        let Some(after) = input.strip_prefix(name) else {
            continue;
        };
        if let Some(after) = after.strip_prefix('(') {
            let close = after.find(')').unwrap_or(after.len());
            let lang = &after[..close];
            let Some(query) = after[close..].strip_prefix(").") else {
                return fail(&after[close..], 0, "\")\" and \".\" after the language");
            };
            if lang.is_empty() || !lang.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return fail(after, 0, "a language name (letters, digits or _)");
            }
            let (rest, q) = value(query, end)?;
            return Ok((
                rest,
                (negated, Operation::Fts(op, Some(lang.to_string()), q)),
            ));
        }
        if let Some(query) = after.strip_prefix('.') {
            let (rest, q) = value(query, end)?;
            return Ok((rest, (negated, Operation::Fts(op, None, q))));
        }
    }
    for (op, name) in Operator::ALL {
        let Some(after) = input.strip_prefix(name).and_then(|a| a.strip_prefix('(')) else {
            continue;
        };
        let quantifier = if let Some(a) = after.strip_prefix("any).") {
            Some((Quantifier::Any, a))
        } else {
            after.strip_prefix("all).").map(|a| (Quantifier::All, a))
        };
        if let (Some((q, v)), true) = (quantifier, op.quantifiable()) {
            let (rest, v) = value(v, end)?;
            return Ok((rest, (negated, Operation::Quantified(op, q, v))));
        }
    }
    let by_length = {
        let mut ops = Operator::ALL;
        ops.sort_by_key(|(_, name)| std::cmp::Reverse(name.len()));
        ops
    };
    let mut with_not: Vec<(Option<Operator>, &'static str)> = vec![(None, "not")];
    with_not.extend(by_length.iter().map(|(op, n)| (Some(*op), *n)));
    let (rest, op) = keyword(input, &with_not, Some('.'), OPERATOR_EXPECTING)?;
    match op {
        Some(op) => {
            let (rest, v) = value(rest, end)?;
            Ok((rest, (negated, Operation::Compare(op, v))))
        }
        // `not.not.` is not PostgREST syntax: report it where the second `not` starts.
        None => fail(input, 0, OPERATOR_EXPECTING),
    }
}

/// `(a,"b,c",d)` — quoted items may hold `,` `)` and escaped `\"`.
fn in_list(input: &str) -> PResult<'_, Vec<String>> {
    let Some(mut rest) = input.strip_prefix('(') else {
        return fail(input, 0, "\"(\"");
    };
    let mut items = Vec::new();
    if let Some(after) = rest.strip_prefix(')') {
        return Ok((after, items));
    }
    loop {
        let (after, item) = if rest.starts_with('"') {
            field_name(rest)?
        } else {
            let end = rest.find([',', ')']).unwrap_or(rest.len());
            (&rest[end..], rest[..end].to_string())
        };
        items.push(item);
        if let Some(next) = after.strip_prefix(',') {
            rest = next;
        } else if let Some(after) = after.strip_prefix(')') {
            return Ok((after, items));
        } else {
            return fail(after, 0, "\",\" or \")\"");
        }
    }
}

fn end_of_input(input: &str) -> PResult<'_, ()> {
    if input.is_empty() {
        Ok((input, ()))
    } else {
        fail(input, 0, "end of input")
    }
}

/// `field=[not.]op.value`
pub fn filter(key: &str, value: &str) -> Result<Filter, ApiError> {
    let (_, field) = field(key)
        .and_then(|(rest, f)| end_of_input(rest).map(|(r, ())| (r, f)))
        .map_err(|e| into_api_error("filter", key, e))?;
    let (_, (negated, operation)) =
        operation(value, ValueEnd::EndOfInput).map_err(|e| into_api_error("filter", value, e))?;
    Ok(Filter {
        field,
        negated,
        operation,
    })
}

/// One element of a logic tree: a nested `[not.]and(…)`/`[not.]or(…)` or `field.[not.]op.value`.
fn tree_element(input: &str, depth: usize) -> PResult<'_, LogicTree> {
    let input = skip_spaces(input);
    let (after_not, negated) = match input.strip_prefix("not.") {
        Some(r) if r.starts_with("and(") || r.starts_with("or(") => (r, true),
        _ => (input, false),
    };
    for (conjunction, name) in [(Conjunction::And, "and("), (Conjunction::Or, "or(")] {
        if after_not.starts_with(name) {
            let (rest, children) = tree_children(&after_not[name.len() - 1..], depth + 1)?;
            return Ok((
                rest,
                LogicTree::Node {
                    negated,
                    conjunction,
                    children,
                },
            ));
        }
    }
    let (rest, field) = field(input)?;
    let Some(rest) = rest.strip_prefix('.') else {
        return fail(rest, 0, "\".\" after the field name");
    };
    let (rest, (negated, operation)) = operation(rest, ValueEnd::InTree)?;
    Ok((
        skip_spaces(rest),
        LogicTree::Filter(Filter {
            field,
            negated,
            operation,
        }),
    ))
}

/// `(child,child,…)`
fn tree_children(input: &str, depth: usize) -> PResult<'_, Vec<LogicTree>> {
    if depth > MAX_LOGIC_DEPTH {
        return Err(nom::Err::Failure(GrammarError {
            at: input,
            skip: 0,
            expecting: "logic trees nested at most 32 levels deep",
            single_quote: false,
            unsupported: None,
        }));
    }
    let Some(mut rest) = input.strip_prefix('(') else {
        return fail(input, 0, "\"(\"");
    };
    let mut children = Vec::new();
    loop {
        let (after, child) = tree_element(rest, depth)?;
        children.push(child);
        if let Some(next) = after.strip_prefix(',') {
            rest = next;
        } else if let Some(after) = after.strip_prefix(')') {
            return Ok((after, children));
        } else {
            return fail(after, 0, "\",\" or \")\"");
        }
    }
}

/// `or=(…)`, `and=(…)`, `not.or=(…)`, `not.and=(…)`
pub fn logic_tree(key: &str, value: &str) -> Result<LogicTree, ApiError> {
    let (negated, conjunction) = match key {
        "and" => (false, Conjunction::And),
        "or" => (false, Conjunction::Or),
        "not.and" => (true, Conjunction::And),
        _ => (true, Conjunction::Or),
    };
    let (_, children) = tree_children(value, 1)
        .and_then(|(rest, c)| end_of_input(rest).map(|(r, ())| (r, c)))
        .map_err(|e| into_api_error("logic tree", value, e))?;
    Ok(LogicTree::Node {
        negated,
        conjunction,
        children,
    })
}

const DIRECTIONS: [(Option<Direction>, Option<Nulls>, &str); 4] = [
    (Some(Direction::Asc), None, "asc"),
    (Some(Direction::Desc), None, "desc"),
    (None, Some(Nulls::First), "nullsfirst"),
    (None, Some(Nulls::Last), "nullslast"),
];

/// One `order=` term: `column[.asc|.desc][.nullsfirst|.nullslast]`.
fn order_term(input: &str) -> PResult<'_, OrderTerm> {
    let input = skip_spaces(input);
    let (mut rest, mut field) = field(input)?;
    let mut embed = None;
    // `rel(col)`: a column of a to-one embed.
    if let Some(inside) = rest.strip_prefix('(') {
        if !field.json_path.is_empty() {
            return fail(rest, 0, "\".\", \",\" or end of input");
        }
        let (after, column) = self::field(inside)?;
        let Some(after) = after.strip_prefix(')') else {
            return fail(after, 0, "\")\"");
        };
        embed = Some(std::mem::replace(&mut field, column).name);
        rest = after;
    }
    let mut term = OrderTerm {
        embed,
        field,
        direction: None,
        nulls: None,
    };
    let mut parts = 0;
    while let Some(after_dot) = rest.strip_prefix('.') {
        let words: Vec<(usize, &'static str)> = DIRECTIONS
            .iter()
            .enumerate()
            .map(|(i, (_, _, w))| (i, *w))
            .collect();
        let (after, idx) = keyword(
            after_dot,
            &words,
            None,
            "\"asc\", \"desc\", \"nullsfirst\" or \"nullslast\"",
        )?;
        let (dir, nulls, _) = DIRECTIONS[idx];
        // A direction may come only before a nulls option, each at most once.
        let misplaced = (dir.is_some() && (term.direction.is_some() || term.nulls.is_some()))
            || (nulls.is_some() && term.nulls.is_some());
        if misplaced || parts >= 2 {
            return fail(after_dot, 0, "\",\" or end of input");
        }
        term.direction = term.direction.or(dir);
        term.nulls = term.nulls.or(nulls);
        parts += 1;
        rest = after;
        if !rest.is_empty() && !rest.starts_with('.') && !rest.starts_with(',') {
            let mut e = GrammarError {
                at: rest,
                skip: 0,
                expecting: "delimiter (.), \",\" or end of input",
                single_quote: true,
                unsupported: None,
            };
            e.at = rest;
            return Err(nom::Err::Error(e));
        }
    }
    Ok((skip_spaces(rest), term))
}

/// `order=a.desc,b.asc.nullslast`
pub fn order(input: &str) -> Result<Vec<OrderTerm>, ApiError> {
    comma_separated(input, order_term, "\",\" or end of input")
        .map(|(_, terms)| terms)
        .map_err(|e| into_api_error("order", input, e))
}

/// `limit=`/`offset=` values: an integer, or `None` (PostgREST ignores values that are not).
pub fn integer(input: &str) -> Option<i64> {
    input.trim().parse::<i64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_request::types::comma_list;

    fn err(r: Result<impl std::fmt::Debug, ApiError>) -> String {
        match r {
            Ok(v) => format!("unexpectedly parsed: {v:?}"),
            Err(e) => e.to_response().body,
        }
    }

    #[test]
    fn select_columns_aliases_casts() {
        let items = select("id, fullName:full_name,salary::text,*").map(|s| comma_list(&s));
        insta::assert_snapshot!(items.unwrap_or_default(), @"id,fullName:full_name,salary::text,*");
    }

    #[test]
    fn select_empty_means_star() {
        assert_eq!(select(""), Ok(vec![SelectItem::Star]));
    }

    #[test]
    fn select_quoted_names_keep_reserved_characters() {
        let items = select(r#""a,b":"x.y""#).map(|s| comma_list(&s));
        insta::assert_snapshot!(items.unwrap_or_default(), @r#""a,b":"x.y""#);
    }

    #[test]
    fn select_error_shows_position() {
        insta::assert_snapshot!(err(select("id,,name")), @r#"{"code":"PGRST100","details":"unexpected \",\" expecting field name (* or [a..z0..9_$])","hint":null,"message":"\"failed to parse select parameter (id,,name)\" (line 1, column 4)"}"#);
    }

    #[test]
    fn select_embeds_nest_with_aliases_hints_and_joins() {
        let items = select("title,director:directors!films_director_id_fkey(id,name),roles!inner(character,actors(*)),reviews()")
            .map(|s| comma_list(&s));
        insta::assert_snapshot!(items.unwrap_or_else(|e| e.to_response().body), @"title,director:directors!films_director_id_fkey(id,name),roles!inner(character,actors(*)),reviews()");
        insta::assert_snapshot!(err(select("id,directors(id")), @r#"{"code":"PGRST100","details":"unexpected end of input expecting \",\" or \")\"","hint":null,"message":"\"failed to parse select parameter (id,directors(id)\" (line 1, column 16)"}"#);
        let deep = format!("{}id{}", "a(".repeat(40), ")".repeat(40));
        assert_eq!(
            select(&deep).map_err(|e| e.code()).err().as_deref(),
            Some("PGRST100")
        );
    }

    #[test]
    fn filter_operators() {
        let f = |v: &str| {
            filter("a", v)
                .map(|f| f.to_string())
                .unwrap_or_else(|e| e.code())
        };
        assert_eq!(f("eq.5"), "eq.5");
        assert_eq!(f("gte.2020-01-01"), "gte.2020-01-01");
        assert_eq!(f("gt.1"), "gt.1");
        assert_eq!(f("not.like.*smith*"), "not.like.*smith*");
        assert_eq!(f("isdistinct.x"), "isdistinct.x");
        assert_eq!(f("is.NULL"), "is.null");
        assert_eq!(f("is.not_null"), "is.not_null");
        assert_eq!(f("eq.a.b.c"), "eq.a.b.c");
        assert_eq!(f("fts.cat"), "fts.cat");
        assert_eq!(f("wfts(english).fat cats"), "wfts(english).fat cats");
        assert_eq!(f("eq(any).{1,2}"), "eq(any).{1,2}");
        assert_eq!(f("like(all).{a*,*b}"), "like(all).{a*,*b}");
        assert_eq!(f("cs.{a,b}"), "cs.{a,b}");
        assert_eq!(f("adj.(1,10)"), "adj.(1,10)");
        assert_eq!(
            f("not.ov.[2017-01-01,2017-06-30]"),
            "not.ov.[2017-01-01,2017-06-30]"
        );
        assert_eq!(f("cs(any).{1}"), "PGRST100");
    }

    #[test]
    fn filter_in_lists() {
        let f = filter("a", r#"in.(1,"hi,there",3)"#);
        assert_eq!(
            f.map(|f| f.operation),
            Ok(Operation::In(vec![
                "1".into(),
                "hi,there".into(),
                "3".into()
            ]))
        );
        assert_eq!(
            filter("a", "in.()").map(|f| f.operation),
            Ok(Operation::In(vec![]))
        );
    }

    #[test]
    fn filter_unknown_operator_error_matches_postgrest() {
        insta::assert_snapshot!(err(filter("id", "noop.1")), @r#"{"code":"PGRST100","details":"unexpected \"o\" expecting \"not\" or operator (eq, gt, ...)","hint":null,"message":"\"failed to parse filter (noop.1)\" (line 1, column 1)"}"#);
        insta::assert_snapshot!(err(filter("id", "0")), @r#"{"code":"PGRST100","details":"unexpected \"0\" expecting \"not\" or operator (eq, gt, ...)","hint":null,"message":"\"failed to parse filter (0)\" (line 1, column 1)"}"#);
    }

    #[test]
    fn filter_bad_is_value() {
        insta::assert_snapshot!(err(filter("a", "is.maybe")), @r#"{"code":"PGRST100","details":"unexpected \"m\" expecting null or trilean value (unknown, true, false)","hint":null,"message":"\"failed to parse filter (is.maybe)\" (line 1, column 4)"}"#);
    }

    #[test]
    fn order_terms() {
        let o = order("age.desc.nullslast, height,name.nullsfirst").map(|o| comma_list(&o));
        insta::assert_snapshot!(o.unwrap_or_default(), @"age.desc.nullslast,height,name.nullsfirst");
    }

    #[test]
    fn order_errors_match_postgrest() {
        insta::assert_snapshot!(err(order("id.ac")), @r#"{"code":"PGRST100","details":"unexpected \"c\" expecting \"asc\", \"desc\", \"nullsfirst\" or \"nullslast\"","hint":null,"message":"\"failed to parse order (id.ac)\" (line 1, column 4)"}"#);
        insta::assert_snapshot!(err(order("id.descc")), @r#"{"code":"PGRST100","details":"unexpected 'c' expecting delimiter (.), \",\" or end of input","hint":null,"message":"\"failed to parse order (id.descc)\" (line 1, column 8)"}"#);
    }

    #[test]
    fn integers() {
        assert_eq!(integer("10"), Some(10));
        assert_eq!(integer("abc"), None);
        assert_eq!(integer("-1"), Some(-1));
    }
}

#[cfg(test)]
mod tree_and_path_tests {
    use super::*;

    fn tree(key: &str, v: &str) -> String {
        match logic_tree(key, v) {
            Ok(t) => t.to_string(),
            Err(e) => e.to_response().body,
        }
    }

    #[test]
    fn logic_trees_nest_and_negate() {
        insta::assert_snapshot!(tree("or", "(age.lt.18,not.and(age.gte.11,age.lte.17))"), @"or(age.lt.18,not.and(age.gte.11,age.lte.17))");
        insta::assert_snapshot!(tree("not.or", "(a.is.null,b.in.(1,2),c.not.eq.x)"), @r#"not.or(a.is.null,b.in.("1","2"),c.not.eq.x)"#);
        insta::assert_snapshot!(tree("and", r#"(r.adj."[18,21)",r.cs.{1,2},name.eq."a,b")"#), @r#"and(r.adj."[18,21)",r.cs."{1,2}",name.eq."a,b")"#);
        insta::assert_snapshot!(tree("or", "(tsv.fts(english).cat,tags.ov.{a})"), @r#"or(tsv.fts(english).cat,tags.ov."{a}")"#);
        // `ov` takes no quantifier.
        insta::assert_snapshot!(tree("or", "(tags.ov(any).{a})"), @r#"{"code":"PGRST100","details":"unexpected \"(\" expecting \"not\" or operator (eq, gt, ...)","hint":null,"message":"\"failed to parse logic tree ((tags.ov(any).{a}))\" (line 1, column 7)"}"#);
    }

    #[test]
    fn logic_tree_errors() {
        insta::assert_snapshot!(tree("or", "(a.eq.1"), @r#"{"code":"PGRST100","details":"unexpected end of input expecting \",\" or \")\"","hint":null,"message":"\"failed to parse logic tree ((a.eq.1)\" (line 1, column 8)"}"#);
        insta::assert_snapshot!(tree("or", "a.eq.1"), @r#"{"code":"PGRST100","details":"unexpected \"a\" expecting \"(\"","hint":null,"message":"\"failed to parse logic tree (a.eq.1)\" (line 1, column 1)"}"#);
    }

    #[test]
    fn deep_nesting_is_a_400_not_an_overflow() {
        let deep = format!(
            "{}a.eq.1{}",
            "(or".repeat(10_000).replacen("(or", "(", 1),
            ")".repeat(10_000)
        );
        let r = logic_tree("or", &deep.replace("(or", "or(")).map_err(|e| e.code());
        assert_eq!(r.err().as_deref(), Some("PGRST100"));
        let ok = format!("({}a.eq.1{})", "or(".repeat(30), ")".repeat(30));
        assert!(logic_tree("or", &ok).is_ok());
    }

    #[test]
    fn json_paths_in_fields() {
        let s = select("id,json_data->phones->0->>number,n:data->-1,data->x->>y::int")
            .map(|s| crate::api_request::types::comma_list(&s));
        insta::assert_snapshot!(s.unwrap_or_else(|e| e.to_response().body), @"id,json_data->phones->0->>number,n:data->-1,data->x->>y::int");
        let f = filter("data->>blood type", "eq.A-")
            .map(|f| (f.field.to_string(), f.field.output_name().to_string()));
        assert_eq!(
            f,
            Ok(("data->>blood type".to_string(), "blood type".to_string()))
        );
        let o = order("data->>age.desc,arr->0").map(|o| crate::api_request::types::comma_list(&o));
        assert_eq!(o.as_deref(), Ok("data->>age.desc,arr->0"));
    }
}
