//! nom parsers for PostgREST's query-string grammar: `select=`, filters, logic trees, `order=`,
//! `limit=`, `offset=`. Every rule is a nom combinator over [`GrammarError`]; every failure becomes
//! an [`ApiError`] with PostgREST's parsec-style message
//! (`"failed to parse filter (noop.1)" (line 1, column 1)`) and details
//! (`unexpected "o" expecting "not" or operator (eq, gt, ...)`).
//!
//! Like parsec, a rule commits once it has seen its leading token (`cut`): an error after that
//! point is reported where it happened instead of backtracking into another alternative.

use nom::branch::alt;
use nom::bytes::complete::{
    escaped_transform, is_not, tag, take, take_till, take_while, take_while1,
};
use nom::character::complete::{char, digit1, satisfy};
use nom::combinator::{cut, eof, map, map_opt, not, opt, peek, recognize, rest, value};
use nom::multi::{many0, many1, separated_list1};
use nom::sequence::{delimited, pair, preceded, terminated};
use nom::{IResult, Parser};

use crate::api_request::types::{
    AggregateFunction, Conjunction, Direction, Embed, Field, Filter, FtsOperator, IsValue,
    JoinType, JsonKey, JsonStep, LogicTree, Nulls, Operation, Operator, OrderTerm, Quantifier,
    SelectItem,
};
use crate::error::ApiError;

/// Logic trees (and embeds) nest at most this deep; deeper input is a 400, never a stack
/// overflow.
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

impl<'a> GrammarError<'a> {
    fn new(at: &'a str, skip: usize, expecting: &'static str) -> Self {
        GrammarError {
            at,
            skip,
            expecting,
            single_quote: false,
            unsupported: None,
        }
    }
}

impl<'a> nom::error::ParseError<&'a str> for GrammarError<'a> {
    /// nom's own errors carry no expectation; every rule labels them with [`expect`].
    fn from_error_kind(input: &'a str, _kind: nom::error::ErrorKind) -> Self {
        GrammarError::new(input, 0, "")
    }

    fn append(_input: &'a str, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

type PResult<'a, T> = IResult<&'a str, T, GrammarError<'a>>;

fn fail<'a, T>(at: &'a str, skip: usize, expecting: &'static str) -> PResult<'a, T> {
    Err(nom::Err::Error(GrammarError::new(at, skip, expecting)))
}

/// Parsec's `<?>`: when `parser` fails without committing, the error names what was expected
/// and sits where `parser` started.
fn expect<'a, O>(
    expecting: &'static str,
    mut parser: impl Parser<&'a str, Output = O, Error = GrammarError<'a>>,
) -> impl FnMut(&'a str) -> PResult<'a, O> {
    move |input| match parser.parse(input) {
        Err(nom::Err::Error(_)) => fail(input, 0, expecting),
        other => other,
    }
}

/// Matches one of `words` (each followed by `then`, if given); on failure reports the character
/// after the longest partial match, as parsec does.
fn keyword<'a, T: Copy>(
    words: &'static [(T, &'static str)],
    then: Option<char>,
    expecting: &'static str,
) -> impl FnMut(&'a str) -> PResult<'a, T> {
    move |input| {
        let mut best = 0;
        for (word_value, word) in words {
            let matched: PResult<'a, &str> = match then {
                Some(c) => terminated(tag(*word), char(c)).parse(input),
                None => tag(*word).parse(input),
            };
            if let Ok((rest, _)) = matched {
                return Ok((rest, *word_value));
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
}

/// Spaces and tabs, which PostgREST allows around select and order items.
fn spaces(input: &str) -> PResult<'_, &str> {
    take_while(|c| c == ' ' || c == '\t').parse(input)
}

/// `"…"` with `\"` and `\\` (any `\x` means `x`). Commits at the opening quote: an unterminated
/// quote is reported at the end of the input.
fn quoted(input: &str) -> PResult<'_, String> {
    let body = map(
        opt(escaped_transform(
            is_not::<_, _, GrammarError>("\"\\"),
            '\\',
            take(1usize),
        )),
        Option::unwrap_or_default,
    );
    preceded(char('"'), cut(terminated(body, char('"'))))
        .parse(input)
        .map_err(|e| e.map(|_| GrammarError::new(&input[input.len()..], 0, "\"\\\"\"")))
}

/// A column or alias: [`quoted`], or letters, digits, `_`, `$`, spaces and `-` not followed by
/// `>`, trimmed of spaces.
fn field_name(input: &str) -> PResult<'_, String> {
    const EXPECTING: &str = "field name (* or [a..z0..9_$])";
    let bare_char = take_while1(|c: char| c.is_alphanumeric() || c == '_' || c == '$' || c == ' ');
    let dash = terminated(tag("-"), not(char('>')));
    if input.starts_with('"') {
        return quoted(input);
    }
    let (rest, raw) = expect(EXPECTING, recognize(many1(alt((bare_char, dash))))).parse(input)?;
    let name = raw.trim_matches(|c| c == ' ' || c == '\t');
    if name.is_empty() {
        return fail(input, raw.chars().count(), EXPECTING);
    }
    Ok((rest, name.to_string()))
}

/// A JSON path key: an integer index (possibly negative) that ends the key, or a name.
fn json_key(input: &str) -> PResult<'_, JsonKey> {
    let ends_key = not(satisfy(|c: char| {
        c.is_alphanumeric() || c == '_' || c == '$'
    }));
    let index = map_opt(
        terminated(recognize(pair(opt(char('-')), digit1)), ends_key),
        |digits: &str| digits.parse::<i64>().ok().map(JsonKey::Index),
    );
    alt((index, map(field_name, JsonKey::Key))).parse(input)
}

/// A column with an optional JSON path: `data->a->>b`, `arr->0`, `arr->-1`.
fn field(input: &str) -> PResult<'_, Field> {
    let arrow = alt((value(true, tag("->>")), value(false, tag("->"))));
    let step = map(pair(arrow, cut(json_key)), |(as_text, key)| JsonStep {
        as_text,
        key,
    });
    map(pair(field_name, many0(step)), |(name, json_path)| Field {
        name,
        json_path,
    })
    .parse(input)
}

/// `::type` — a cast's type name: letters, digits and `_` (the SQL builder relies on that).
fn cast(input: &str) -> PResult<'_, Option<String>> {
    let type_name = take_while1(|c: char| c.is_alphanumeric() || c == '_');
    opt(preceded(
        tag("::"),
        cut(expect(
            "type name (letters, digits or _)",
            map(type_name, str::to_string),
        )),
    ))
    .parse(input)
}

/// Select items separated by commas, up to the end, or (nested) a closing `)` left in the rest.
fn select_items(input: &str, depth: usize) -> PResult<'_, Vec<SelectItem>> {
    let (rest, items) = separated_list1(char(','), cut(|i| select_item(i, depth))).parse(input)?;
    if rest.is_empty() || (depth > 0 && rest.starts_with(')')) {
        Ok((rest, items))
    } else {
        fail(rest, 0, "\",\" or end of input")
    }
}

/// The rest of an embed after its name: `!hint!inner(items)`.
fn embed(input: &str, alias: Option<String>, relation: String, depth: usize) -> PResult<'_, Embed> {
    if depth >= MAX_LOGIC_DEPTH {
        return Err(nom::Err::Failure(GrammarError::new(
            input,
            0,
            "embeds nested at most 32 levels deep",
        )));
    }
    let (rest, marks) = many0(preceded(char('!'), cut(field_name))).parse(input)?;
    let (mut hint, mut join) = (None, None);
    for mark in marks {
        match mark.as_str() {
            "inner" => join = Some(JoinType::Inner),
            "left" => join = Some(JoinType::Left),
            _ => hint = Some(mark),
        }
    }
    let children = alt((map(peek(char(')')), |_| Vec::new()), |i| {
        select_items(i, depth + 1)
    }));
    let (rest, select) = delimited(
        expect("\"(\"", char('(')),
        children,
        expect("\",\" or \")\"", char(')')),
    )
    .parse(rest)?;
    let (rest, _) = spaces(rest)?;
    Ok((
        rest,
        Embed {
            alias,
            relation,
            hint,
            join,
            select,
            spread: false,
        },
    ))
}

/// The aggregate functions, as `select=` names them.
const AGGREGATES: [(AggregateFunction, &str); 5] = [
    (AggregateFunction::Sum, "sum"),
    (AggregateFunction::Avg, "avg"),
    (AggregateFunction::Min, "min"),
    (AggregateFunction::Max, "max"),
    (AggregateFunction::Count, "count"),
];

/// `.sum()::type` after a column (and its cast): the function and the result's cast.
fn aggregate_call(input: &str) -> PResult<'_, (AggregateFunction, Option<String>)> {
    let function = keyword(
        &AGGREGATES,
        Some('('),
        "aggregate function (sum, avg, min, max, count)",
    );
    preceded(
        char('.'),
        cut(pair(terminated(function, expect("\")\"", char(')'))), cast)),
    )
    .parse(input)
}

/// One `select=` item: `*`, `...embed(…)`, `alias:embed(…)`, `alias:field::cast`,
/// `alias:field::cast.fn()::cast` or `count()`.
fn select_item(input: &str, depth: usize) -> PResult<'_, SelectItem> {
    let (input, _) = spaces(input)?;
    if let Ok((rest, _)) = tag::<_, _, GrammarError>("...").parse(input) {
        let (rest, relation) = field_name(rest)?;
        let (rest, mut e) = embed(rest, None, relation, depth)?;
        e.spread = true;
        return Ok((rest, SelectItem::Embed(e)));
    }
    if let Ok((rest, _)) = char::<_, GrammarError>('*').parse(input) {
        let (rest, _) = spaces(rest)?;
        return Ok((rest, SelectItem::Star));
    }
    let (rest, first) = field(input)?;
    // `alias:field` — a single colon; `::` is a cast. A JSON path is no alias.
    let alias_colon = terminated(char(':'), not(char(':')));
    let (rest, alias, field) = match first.json_path.is_empty() {
        true => match opt(preceded(alias_colon, cut(preceded(spaces, field)))).parse(rest)? {
            (rest, Some(field)) => (rest, Some(first.name), field),
            (rest, None) => (rest, None, first),
        },
        false => (rest, None, first),
    };
    if field.json_path.is_empty() {
        // `count()` alone is an aggregate, not an embed of a `count` relation.
        if field.name == "count" {
            if let Ok((after, _)) = tag::<_, _, GrammarError>("()").parse(rest) {
                let (after, result_cast) = cast(after)?;
                let (after, _) = spaces(after)?;
                return Ok((
                    after,
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
        if rest.starts_with(['(', '!']) {
            let (rest, e) = embed(rest, alias, field.name, depth)?;
            return Ok((rest, SelectItem::Embed(e)));
        }
    }
    let (rest, cast) = cast(rest)?;
    let (rest, aggregate) = opt(aggregate_call).parse(rest)?;
    let (rest, _) = spaces(rest)?;
    let item = match aggregate {
        Some((function, result_cast)) => SelectItem::Aggregate {
            function,
            field: Some(field),
            input_cast: cast,
            result_cast,
            alias,
        },
        None => SelectItem::Column { field, alias, cast },
    };
    Ok((rest, item))
}

fn into_api_error(what: &str, input: &str, e: nom::Err<GrammarError<'_>>) -> ApiError {
    let e = match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => e,
        nom::Err::Incomplete(_) => GrammarError::new("", 0, ""),
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

/// The binary operators, longest name first, so that a prefix match finds `gte` before `gt`.
const OPERATORS: [(Operator, &str); 19] = [
    (Operator::IsDistinct, "isdistinct"),
    (Operator::Imatch, "imatch"),
    (Operator::Ilike, "ilike"),
    (Operator::Match, "match"),
    (Operator::Like, "like"),
    (Operator::Neq, "neq"),
    (Operator::Gte, "gte"),
    (Operator::Lte, "lte"),
    (Operator::Nxr, "nxr"),
    (Operator::Nxl, "nxl"),
    (Operator::Adj, "adj"),
    (Operator::Eq, "eq"),
    (Operator::Gt, "gt"),
    (Operator::Lt, "lt"),
    (Operator::Cs, "cs"),
    (Operator::Cd, "cd"),
    (Operator::Ov, "ov"),
    (Operator::Sl, "sl"),
    (Operator::Sr, "sr"),
];

/// What may follow `[not.]` before `.value`: `None` is a second `not`, which is refused.
const COMPARE_WORDS: [(Option<Operator>, &str); 20] = {
    let mut words = [(None, "not"); 20];
    let mut i = 0;
    while i < OPERATORS.len() {
        words[i + 1] = (Some(OPERATORS[i].0), OPERATORS[i].1);
        i += 1;
    }
    words
};

/// The full-text search operators (no name is a prefix of another).
/// Whether `word` names a binary filter operator (`eq`, `gte`, …).
pub(crate) fn is_operator_name(word: &str) -> bool {
    OPERATORS.iter().any(|(_, n)| *n == word)
}

/// Whether `word` names a full-text operator (`fts`, `plfts`, `phfts`, `wfts`).
pub(crate) fn is_fts_name(word: &str) -> bool {
    FTS_OPERATORS.iter().any(|(_, n)| *n == word)
}

const FTS_OPERATORS: [(FtsOperator, &str); 4] = [
    (FtsOperator::Plain, "plfts"),
    (FtsOperator::Phrase, "phfts"),
    (FtsOperator::Websearch, "wfts"),
    (FtsOperator::Fts, "fts"),
];

/// `is.` values, matched after lowercasing.
const IS_VALUES: [(IsValue, &str); 5] = [
    (IsValue::NotNull, "not_null"),
    (IsValue::Null, "null"),
    (IsValue::True, "true"),
    (IsValue::False, "false"),
    (IsValue::Unknown, "unknown"),
];

/// The first entry of `table` whose name starts `input`.
fn word<'a, T: Copy>(table: &'static [(T, &'static str)]) -> impl FnMut(&'a str) -> PResult<'a, T> {
    move |input| {
        table
            .iter()
            .find_map(|(v, name)| input.strip_prefix(name).map(|rest| (rest, *v)))
            .map_or_else(|| fail(input, 0, ""), Ok)
    }
}

/// Where a filter value ends: at the end of input (a query parameter), or at `,`/`)` inside a
/// logic tree, where it may also be quoted (`"a,b"`) or an array/range literal (`{a,b}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueEnd {
    EndOfInput,
    InTree,
}

fn value_in_tree(input: &str) -> PResult<'_, String> {
    let array = recognize((char('{'), take_till(|c| c == '}'), char('}')));
    let plain = take_till(|c| c == ',' || c == ')');
    alt((quoted, map(alt((array, plain)), str::to_string))).parse(input)
}

fn filter_value(input: &str, end: ValueEnd) -> PResult<'_, String> {
    match end {
        ValueEnd::EndOfInput => map(rest, str::to_string).parse(input),
        ValueEnd::InTree => value_in_tree(input),
    }
}

/// Where byte `k` of a quoted value's unescaped text sits in `body`, its source after the opening
/// quote (an escaped character sits after its backslash).
fn quoted_source_offset(body: &str, k: usize) -> usize {
    let mut unescaped = 0;
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        let (at, c) = match c {
            '\\' => chars.next().unwrap_or((i, c)),
            _ => (i, c),
        };
        if unescaped >= k {
            return at;
        }
        unescaped += c.len_utf8();
    }
    body.len()
}

/// `is.null`, `is.not_null`, `is.true`, `is.false`, `is.unknown`, in any case. Errors point into
/// the value as written, also when it is quoted.
fn is_value(input: &str, end: ValueEnd) -> PResult<'_, IsValue> {
    let (left, raw) = filter_value(input, end)?;
    let lower = raw.to_ascii_lowercase();
    // The error's position (`at`, `skip`) as offsets into `lower`.
    let (at, skip, expecting) = match keyword(
        &IS_VALUES,
        None,
        "null or trilean value (unknown, true, false)",
    )(&lower)
    {
        Ok(("", v)) => return Ok((left, v)),
        Ok((unparsed, _)) => (lower.len() - unparsed.len(), 0, "end of input"),
        Err(nom::Err::Error(g) | nom::Err::Failure(g)) => {
            (lower.len() - g.at.len(), g.skip, g.expecting)
        }
        Err(nom::Err::Incomplete(_)) => (0, 0, ""),
    };
    let quoted = end == ValueEnd::InTree && input.starts_with('"');
    if !quoted {
        return fail(&input[at..], skip, expecting);
    }
    let body = &input[1..];
    let unexpected: usize = lower[at..].chars().take(skip).map(char::len_utf8).sum();
    let (src_at, src_unexpected) = (
        quoted_source_offset(body, at),
        quoted_source_offset(body, at + unexpected),
    );
    let skip = body[src_at..src_unexpected].chars().count();
    fail(&body[src_at..], skip, expecting)
}

/// `(a,"b,c",d)` — quoted items may hold `,` `)` and escaped `\"`.
fn in_list(input: &str) -> PResult<'_, Vec<String>> {
    let item = alt((
        quoted,
        map(take_till(|c| c == ',' || c == ')'), str::to_string),
    ));
    let items = terminated(
        separated_list1(char(','), item),
        expect("\",\" or \")\"", char(')')),
    );
    preceded(
        expect("\"(\"", char('(')),
        cut(alt((map(char(')'), |_| Vec::new()), items))),
    )
    .parse(input)
}

/// `fts.query`, `plfts(english).query`, …
fn fts(input: &str, end: ValueEnd) -> PResult<'_, Operation> {
    let (after, op) = word(&FTS_OPERATORS)(input)?;
    let language = preceded(char('('), cut(fts_language));
    let (rest, lang) = alt((map(language, Some), value(None, char('.')))).parse(after)?;
    let (rest, query) = cut(|i| filter_value(i, end)).parse(rest)?;
    Ok((rest, Operation::Fts(op, lang, query)))
}

/// `english).` after `fts(`: a word of letters, digits and `_`, then `).`.
fn fts_language(input: &str) -> PResult<'_, String> {
    let (close, lang) = take_till(|c| c == ')').parse(input)?;
    let (rest, _) = expect("\")\" and \".\" after the language", tag(").")).parse(close)?;
    if lang.is_empty() || !lang.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return fail(input, 0, "a language name (letters, digits or _)");
    }
    Ok((rest, lang.to_string()))
}

/// `eq(any).{…}`, `like(all).{…}`: only operators that take a quantifier.
fn quantified(input: &str, end: ValueEnd) -> PResult<'_, Operation> {
    let quantifier = alt((
        value(Quantifier::Any, tag("any).")),
        value(Quantifier::All, tag("all).")),
    ));
    let (rest, (op, q)) = map_opt(
        pair(terminated(word(&OPERATORS), char('(')), quantifier),
        |(op, q)| op.quantifiable().then_some((op, q)),
    )
    .parse(input)?;
    let (rest, v) = cut(|i| filter_value(i, end)).parse(rest)?;
    Ok((rest, Operation::Quantified(op, q, v)))
}

/// `op.value` for a binary operator.
fn compare(input: &str, end: ValueEnd) -> PResult<'_, Operation> {
    let (rest, op) = keyword(&COMPARE_WORDS, Some('.'), OPERATOR_EXPECTING)(input)?;
    // `not.not.` is not PostgREST syntax: report it where the second `not` starts.
    let Some(op) = op else {
        return fail(input, 0, OPERATOR_EXPECTING);
    };
    let (rest, v) = filter_value(rest, end)?;
    Ok((rest, Operation::Compare(op, v)))
}

/// A filter's value side: `[not.]op.value`, `op(any).{…}`, `fts(lang).query`, `is.null`,
/// `in.(…)`.
fn operation(input: &str, end: ValueEnd) -> PResult<'_, (bool, Operation)> {
    let is = map(
        preceded(tag("is."), cut(|i| is_value(i, end))),
        Operation::Is,
    );
    let list = map(preceded(tag("in."), cut(in_list)), Operation::In);
    let (rest, negated) = map(opt(tag("not.")), |n| n.is_some()).parse(input)?;
    let (rest, op) = alt((
        is,
        list,
        |i| fts(i, end),
        |i| quantified(i, end),
        |i| compare(i, end),
    ))
    .parse(rest)?;
    if end == ValueEnd::EndOfInput && matches!(op, Operation::In(_)) {
        end_of_input(rest)?;
    }
    Ok((rest, (negated, op)))
}

fn end_of_input(input: &str) -> PResult<'_, &str> {
    expect("end of input", eof).parse(input)
}

/// `field=[not.]op.value`
pub fn filter(key: &str, value: &str) -> Result<Filter, ApiError> {
    let (_, field) = terminated(field, end_of_input)
        .parse(key)
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
    let (input, _) = spaces(input)?;
    let conjunction = alt((
        value(Conjunction::And, terminated(tag("and"), peek(char('(')))),
        value(Conjunction::Or, terminated(tag("or"), peek(char('(')))),
    ));
    let negation = map(
        opt(terminated(
            tag("not."),
            peek(alt((tag("and("), tag("or(")))),
        )),
        |n| n.is_some(),
    );
    let node = map(
        pair(
            pair(negation, conjunction),
            cut(|i| tree_children(i, depth + 1)),
        ),
        |((negated, conjunction), children)| LogicTree::Node {
            negated,
            conjunction,
            children,
        },
    );
    let leaf = map(
        terminated(
            pair(
                terminated(field, expect("\".\" after the field name", char('.'))),
                |i| operation(i, ValueEnd::InTree),
            ),
            spaces,
        ),
        |(field, (negated, operation))| {
            LogicTree::Filter(Filter {
                field,
                negated,
                operation,
            })
        },
    );
    alt((node, leaf)).parse(input)
}

/// `(child,child,…)`
fn tree_children(input: &str, depth: usize) -> PResult<'_, Vec<LogicTree>> {
    if depth > MAX_LOGIC_DEPTH {
        return Err(nom::Err::Failure(GrammarError::new(
            input,
            0,
            "logic trees nested at most 32 levels deep",
        )));
    }
    delimited(
        expect("\"(\"", char('(')),
        separated_list1(char(','), cut(|i| tree_element(i, depth))),
        expect("\",\" or \")\"", char(')')),
    )
    .parse(input)
}

/// The query-parameter keys that hold a logic tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogicKey {
    And,
    Or,
    NotAnd,
    NotOr,
}

impl LogicKey {
    /// Callers route only `and`, `or`, `not.and` and `not.or` here; anything else reads as `not.or`.
    fn from_key(key: &str) -> Self {
        match key {
            "and" => LogicKey::And,
            "or" => LogicKey::Or,
            "not.and" => LogicKey::NotAnd,
            _ => LogicKey::NotOr,
        }
    }

    fn negated_conjunction(self) -> (bool, Conjunction) {
        match self {
            LogicKey::And => (false, Conjunction::And),
            LogicKey::Or => (false, Conjunction::Or),
            LogicKey::NotAnd => (true, Conjunction::And),
            LogicKey::NotOr => (true, Conjunction::Or),
        }
    }
}

/// `or=(…)`, `and=(…)`, `not.or=(…)`, `not.and=(…)`
pub fn logic_tree(key: &str, value: &str) -> Result<LogicTree, ApiError> {
    let (negated, conjunction) = LogicKey::from_key(key).negated_conjunction();
    let (_, children) = terminated(|i| tree_children(i, 1), end_of_input)
        .parse(value)
        .map_err(|e| into_api_error("logic tree", value, e))?;
    Ok(LogicTree::Node {
        negated,
        conjunction,
        children,
    })
}

/// An `order=` option: a direction or a nulls position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OrderOption {
    Direction(Direction),
    Nulls(Nulls),
}

const ORDER_OPTIONS: [(OrderOption, &str); 4] = [
    (OrderOption::Direction(Direction::Asc), "asc"),
    (OrderOption::Direction(Direction::Desc), "desc"),
    (OrderOption::Nulls(Nulls::First), "nullsfirst"),
    (OrderOption::Nulls(Nulls::Last), "nullslast"),
];

/// `.desc`, `.nullslast`, …: one option after an `order=` term's field.
fn order_option(input: &str) -> PResult<'_, OrderOption> {
    let option = keyword(
        &ORDER_OPTIONS,
        None,
        "\"asc\", \"desc\", \"nullsfirst\" or \"nullslast\"",
    );
    preceded(char('.'), cut(option)).parse(input)
}

/// `rel(col)` after a field in `order=`: a column of a to-one embed.
fn order_embed_column(input: &str) -> PResult<'_, Field> {
    preceded(
        char('('),
        cut(terminated(field, expect("\")\"", char(')')))),
    )
    .parse(input)
}

/// One `order=` term: `column[.asc|.desc][.nullsfirst|.nullslast]`.
fn order_term(input: &str) -> PResult<'_, OrderTerm> {
    let (input, _) = spaces(input)?;
    let (rest, first) = field(input)?;
    if rest.starts_with('(') && !first.json_path.is_empty() {
        return fail(rest, 0, "\".\", \",\" or end of input");
    }
    let (mut rest, column) = opt(order_embed_column).parse(rest)?;
    let (embed, field) = match column {
        Some(column) => (Some(first.name), column),
        None => (None, first),
    };
    let mut term = OrderTerm {
        embed,
        field,
        direction: None,
        nulls: None,
    };
    let mut parts = 0;
    while let (after, Some(found)) = opt(order_option).parse(rest)? {
        // A direction may come only before a nulls option, each at most once.
        let misplaced = match found {
            OrderOption::Direction(d) => {
                let placed = term.direction.is_some() || term.nulls.is_some();
                term.direction = term.direction.or(Some(d));
                placed
            }
            OrderOption::Nulls(n) => {
                let placed = term.nulls.is_some();
                term.nulls = term.nulls.or(Some(n));
                placed
            }
        };
        if misplaced || parts >= 2 {
            return fail(&rest[1..], 0, "\",\" or end of input");
        }
        parts += 1;
        rest = after;
        if !rest.is_empty() && !rest.starts_with(['.', ',']) {
            return Err(nom::Err::Error(GrammarError {
                single_quote: true,
                ..GrammarError::new(rest, 0, "delimiter (.), \",\" or end of input")
            }));
        }
    }
    let (rest, _) = spaces(rest)?;
    Ok((rest, term))
}

/// `order=a.desc,b.asc.nullslast`
pub fn order(input: &str) -> Result<Vec<OrderTerm>, ApiError> {
    terminated(
        separated_list1(char(','), cut(order_term)),
        expect("\",\" or end of input", eof),
    )
    .parse(input)
    .map(|(_, terms)| terms)
    .map_err(|e| into_api_error("order", input, e))
}

/// `limit=`/`offset=` values: an integer, or `None` (PostgREST ignores values that are not).
pub fn integer(input: &str) -> Option<i64> {
    input.trim().parse::<i64>().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_keyword_tables_agree_with_the_ast_names() {
        for (f, name) in AGGREGATES {
            assert_eq!(f.name(), name);
        }
        for (op, name) in OPERATORS {
            assert_eq!(op.url_name(), name);
        }
        for (op, name) in FTS_OPERATORS {
            assert_eq!(op.url_name(), name);
        }
        for (v, name) in IS_VALUES {
            assert_eq!(v.url_name(), name);
        }
    }

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
        insta::assert_snapshot!(items.unwrap(), @"id,fullName:full_name,salary::text,*");
    }

    #[test]
    fn select_empty_means_star() {
        assert_eq!(select(""), Ok(vec![SelectItem::Star]));
    }

    #[test]
    fn select_quoted_names_keep_reserved_characters() {
        let items = select(r#""a,b":"x.y""#).map(|s| comma_list(&s));
        insta::assert_snapshot!(items.unwrap(), @r#""a,b":"x.y""#);
    }

    #[test]
    fn select_error_shows_position() {
        insta::assert_snapshot!(err(select("id,,name")), @r#"{"code":"PGRST100","details":"unexpected \",\" expecting field name (* or [a..z0..9_$])","hint":null,"message":"\"failed to parse select parameter (id,,name)\" (line 1, column 4)"}"#);
    }

    #[test]
    fn select_embeds_nest_with_aliases_hints_and_joins() {
        let items = select("title,director:directors!films_director_id_fkey(id,name),roles!inner(character,actors(*)),reviews()")
            .map(|s| comma_list(&s));
        insta::assert_snapshot!(items.unwrap(), @"title,director:directors!films_director_id_fkey(id,name),roles!inner(character,actors(*)),reviews()");
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
        insta::assert_snapshot!(o.unwrap(), @"age.desc.nullslast,height,name.nullsfirst");
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
        insta::assert_snapshot!(s.unwrap(), @"id,json_data->phones->0->>number,n:data->-1,data->x->>y::int");
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

/// One example per rule, success and failure, as PostgREST's doctests in
/// `ApiRequest/QueryParams.hs` show them: the value and what is left, or where and why it stopped.
#[cfg(test)]
mod rule_tests {
    use super::*;

    fn rule<T: std::fmt::Debug>(
        mut parser: impl FnMut(&str) -> PResult<'_, T>,
        input: &str,
    ) -> String {
        match parser(input) {
            Ok((rest, v)) => format!("{v:?} rest {rest:?}"),
            Err(e) => match into_api_error("rule", input, e) {
                ApiError::QueryParam { message, details } => {
                    let column = message.rsplit("column ").next().unwrap();
                    format!("column {} {details}", column.trim_end_matches(')'))
                }
                other => format!("{other:?}"),
            },
        }
    }

    /// Display instead of Debug, for the larger nodes.
    fn shown<T: std::fmt::Display>(r: PResult<'_, T>) -> PResult<'_, String> {
        r.map(|(rest, v)| (rest, v.to_string()))
    }

    #[test]
    fn field_name_rule() {
        insta::assert_snapshot!(rule(field_name, " full name ->x"), @r#""full name" rest "->x""#);
        insta::assert_snapshot!(rule(field_name, r#""a\"b,c".d"#), @r#""a\"b,c" rest ".d""#);
        insta::assert_snapshot!(rule(field_name, "->x"), @r#"column 1 unexpected "-" expecting field name (* or [a..z0..9_$])"#);
        insta::assert_snapshot!(rule(field_name, r#""open"#), @r#"column 6 unexpected end of input expecting "\"""#);
    }

    #[test]
    fn json_key_rule() {
        insta::assert_snapshot!(rule(json_key, "-1->>x"), @r#"Index(-1) rest "->>x""#);
        insta::assert_snapshot!(rule(json_key, "1a"), @r#"Key("1a") rest """#);
        insta::assert_snapshot!(rule(json_key, ""), @"column 1 unexpected end of input expecting field name (* or [a..z0..9_$])");
    }

    #[test]
    fn field_rule() {
        insta::assert_snapshot!(rule(|i| shown(field(i)), "data->a->>0::int"), @r#""data->a->>0" rest "::int""#);
        insta::assert_snapshot!(rule(field, "data->"), @"column 7 unexpected end of input expecting field name (* or [a..z0..9_$])");
    }

    #[test]
    fn cast_rule() {
        insta::assert_snapshot!(rule(cast, "::text.sum()"), @r#"Some("text") rest ".sum()""#);
        insta::assert_snapshot!(rule(cast, ":x"), @r#"None rest ":x""#);
        insta::assert_snapshot!(rule(cast, ":: text"), @r#"column 3 unexpected " " expecting type name (letters, digits or _)"#);
    }

    #[test]
    fn select_item_rule() {
        insta::assert_snapshot!(rule(|i| shown(select_item(i, 0)), " n:full_name::text ,b"), @r#""n:full_name::text" rest ",b""#);
        insta::assert_snapshot!(rule(|i| shown(select_item(i, 0)), "count()::int"), @r#""count()::int" rest """#);
        insta::assert_snapshot!(rule(|i| shown(select_item(i, 0)), "a.b"), @r#"column 3 unexpected "b" expecting aggregate function (sum, avg, min, max, count)"#);
    }

    #[test]
    fn embed_rule() {
        insta::assert_snapshot!(rule(|i| shown(select_item(i, 0)), "d:directors!fk!inner(id,...roles(*))"), @r#""d:directors!fk!inner(id,...roles(*))" rest """#);
        insta::assert_snapshot!(rule(|i| shown(select_item(i, 0)), "directors!inner"), @r#"column 16 unexpected end of input expecting "(""#);
        insta::assert_snapshot!(rule(|i| shown(select_item(i, 0)), "directors(id"), @r#"column 13 unexpected end of input expecting "," or ")""#);
        insta::assert_snapshot!(rule(|i| shown(select_item(i, MAX_LOGIC_DEPTH)), "a(b)"), @r#"column 2 unexpected "(" expecting embeds nested at most 32 levels deep"#);
    }

    #[test]
    fn aggregate_rule() {
        insta::assert_snapshot!(rule(|i| shown(select_item(i, 0)), "total:amount::numeric.sum()::int"), @r#""total:amount::numeric.sum()::int" rest """#);
        insta::assert_snapshot!(rule(|i| shown(select_item(i, 0)), "amount.summ()"), @r#"column 8 unexpected "m" expecting aggregate function (sum, avg, min, max, count)"#);
        insta::assert_snapshot!(rule(|i| shown(select_item(i, 0)), "amount.sum(x)"), @r#"column 12 unexpected "x" expecting ")""#);
    }

    #[test]
    fn operation_rule() {
        insta::assert_snapshot!(rule(|i| operation(i, ValueEnd::EndOfInput), "not.like(any).{a*,*b}"), @r#"(true, Quantified(Like, Any, "{a*,*b}")) rest """#);
        insta::assert_snapshot!(rule(|i| operation(i, ValueEnd::EndOfInput), "not.not.eq.1"), @r#"column 5 unexpected "n" expecting "not" or operator (eq, gt, ...)"#);
        insta::assert_snapshot!(rule(|i| operation(i, ValueEnd::EndOfInput), "gtx.1"), @r#"column 1 unexpected "x" expecting "not" or operator (eq, gt, ...)"#);
        insta::assert_snapshot!(rule(|i| operation(i, ValueEnd::EndOfInput), "is.nullx"), @r#"column 8 unexpected "x" expecting end of input"#);
    }

    #[test]
    fn value_rule() {
        insta::assert_snapshot!(rule(value_in_tree, r#""a,b\")",c"#), @r#""a,b\")" rest ",c""#);
        insta::assert_snapshot!(rule(value_in_tree, "{1,2}),x"), @r#""{1,2}" rest "),x""#);
        insta::assert_snapshot!(rule(value_in_tree, "plain)"), @r#""plain" rest ")""#);
        insta::assert_snapshot!(rule(value_in_tree, r#""open,x)"#), @r#"column 9 unexpected end of input expecting "\"""#);
    }

    #[test]
    fn in_list_rule() {
        insta::assert_snapshot!(rule(in_list, r#"(1,"a,b",)x"#), @r#"["1", "a,b", ""] rest "x""#);
        insta::assert_snapshot!(rule(in_list, "1,2"), @r#"column 1 unexpected "1" expecting "(""#);
        insta::assert_snapshot!(rule(in_list, "(1,2"), @r#"column 5 unexpected end of input expecting "," or ")""#);
    }

    #[test]
    fn fts_rule() {
        insta::assert_snapshot!(rule(|i| fts(i, ValueEnd::EndOfInput), "wfts(english).fat cats"), @r#"Fts(Websearch, Some("english"), "fat cats") rest """#);
        insta::assert_snapshot!(rule(|i| fts(i, ValueEnd::EndOfInput), "fts(eng lish).cat"), @r#"column 5 unexpected "e" expecting a language name (letters, digits or _)"#);
        insta::assert_snapshot!(rule(|i| fts(i, ValueEnd::EndOfInput), "plfts(english"), @r#"column 14 unexpected end of input expecting ")" and "." after the language"#);
    }

    #[test]
    fn tree_element_rule() {
        insta::assert_snapshot!(rule(|i| shown(tree_element(i, 1)), " not.or(a.eq.1,b.is.true) ,x"), @r#""not.or(a.eq.1,b.is.true)" rest " ,x""#);
        insta::assert_snapshot!(rule(|i| shown(tree_element(i, 1)), "not.eq.1)"), @r#""not.eq.1" rest ")""#);
        insta::assert_snapshot!(rule(|i| shown(tree_element(i, 1)), "a eq 1"), @r#"column 7 unexpected end of input expecting "." after the field name"#);
    }

    #[test]
    fn tree_children_rule() {
        insta::assert_snapshot!(rule(|i| tree_children(i, 1).map(|(r, c)| (r, crate::api_request::types::comma_list(&c))), "(a.eq.1,and(b.gt.2))x"), @r#""a.eq.1,and(b.gt.2)" rest "x""#);
        insta::assert_snapshot!(rule(|i| tree_children(i, 1).map(|(r, c)| (r, crate::api_request::types::comma_list(&c))), "(a.eq.1"), @r#"column 8 unexpected end of input expecting "," or ")""#);
        insta::assert_snapshot!(rule(|i| tree_children(i, MAX_LOGIC_DEPTH + 1), "(a.eq.1)"), @r#"column 1 unexpected "(" expecting logic trees nested at most 32 levels deep"#);
    }

    /// §7.1.4: the character after a valid `is.` value is the one reported, quoted or not.
    #[test]
    fn is_value_errors_point_into_the_value_as_written() {
        let tree = |v: &str| match logic_tree("or", v) {
            Ok(t) => t.to_string(),
            Err(e) => e.to_response().body,
        };
        insta::assert_snapshot!(tree("(a.is.nullx)"), @r#"{"code":"PGRST100","details":"unexpected \"x\" expecting end of input","hint":null,"message":"\"failed to parse logic tree ((a.is.nullx))\" (line 1, column 11)"}"#);
        insta::assert_snapshot!(tree(r#"(a.is."nullx")"#), @r#"{"code":"PGRST100","details":"unexpected \"x\" expecting end of input","hint":null,"message":"\"failed to parse logic tree ((a.is.\"nullx\"))\" (line 1, column 12)"}"#);
        insta::assert_snapshot!(tree(r#"(a.is."nul\lx")"#), @r#"{"code":"PGRST100","details":"unexpected \"x\" expecting end of input","hint":null,"message":"\"failed to parse logic tree ((a.is.\"nul\\lx\"))\" (line 1, column 13)"}"#);
        insta::assert_snapshot!(tree(r#"(a.is."maybe")"#), @r#"{"code":"PGRST100","details":"unexpected \"m\" expecting null or trilean value (unknown, true, false)","hint":null,"message":"\"failed to parse logic tree ((a.is.\"maybe\"))\" (line 1, column 8)"}"#);
        insta::assert_snapshot!(tree(r#"(a.is."NULL")"#), @"or(a.is.null)");
    }

    #[test]
    fn order_term_rule() {
        insta::assert_snapshot!(rule(|i| shown(order_term(i)), " rel(data->>k).desc.nullslast,b"), @r#""rel(data->>k).desc.nullslast" rest ",b""#);
        // No space may follow an option.
        insta::assert_snapshot!(rule(|i| shown(order_term(i)), " rel(data->>k).desc.nullslast ,b"), @r#"column 30 unexpected ' ' expecting delimiter (.), "," or end of input"#);
        insta::assert_snapshot!(rule(|i| shown(order_term(i)), "a.nullsfirst.desc"), @r#"column 14 unexpected "d" expecting "," or end of input"#);
        insta::assert_snapshot!(rule(|i| shown(order_term(i)), "a->b(c)"), @r#"column 5 unexpected "(" expecting ".", "," or end of input"#);
        insta::assert_snapshot!(rule(|i| shown(order_term(i)), "a.asc.desc"), @r#"column 7 unexpected "d" expecting "," or end of input"#);
    }

    #[test]
    fn operator_table_is_longest_first_and_complete() {
        assert!(OPERATORS.windows(2).all(|w| w[0].1.len() >= w[1].1.len()));
        for (op, name) in OPERATORS {
            assert_eq!(op.url_name(), name);
        }
        let mut names: Vec<&str> = OPERATORS.iter().map(|(_, n)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 19);
        assert_eq!(COMPARE_WORDS[0], (None, "not"));
        assert!(COMPARE_WORDS[1..]
            .iter()
            .zip(OPERATORS)
            .all(|(w, o)| *w == (Some(o.0), o.1)));
    }
}
