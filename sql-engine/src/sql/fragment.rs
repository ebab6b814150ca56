//! SQL as text pieces and parameter references, rendered to `$1…$n` once, with the one
//! identifier-quoting function. No user value is ever written into SQL text.

use std::fmt::Write;

/// A piece of SQL under construction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sql {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Param(Option<String>),
    /// The request body: a parameter whose value the sidecar supplies.
    Body,
}

/// A statement ready for PostgreSQL: text with `$n` placeholders and the values, sent untyped
/// (text format) so that PostgreSQL infers their types as it does for PostgREST.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Option<String>>,
    /// The index in `params` of the request body, when the statement reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<usize>,
}

impl Sql {
    pub fn new() -> Self {
        Sql::default()
    }

    /// Appends trusted SQL text (keywords, operators, already quoted identifiers).
    pub fn push(&mut self, text: &str) -> &mut Self {
        match self.pieces.last_mut() {
            Some(Piece::Text(t)) => t.push_str(text),
            _ => self.pieces.push(Piece::Text(text.to_string())),
        }
        self
    }

    /// Appends a quoted identifier (written straight into the text, no string of its own).
    pub fn ident(&mut self, name: &str) -> &mut Self {
        match self.pieces.last_mut() {
            Some(Piece::Text(t)) => quote_ident_into(t, name),
            _ => self.pieces.push(Piece::Text(quote_ident(name))),
        }
        self
    }

    /// Appends a bind parameter holding `value`.
    pub fn param(&mut self, value: impl Into<String>) -> &mut Self {
        self.pieces.push(Piece::Param(Some(value.into())));
        self
    }

    /// Appends the parameter that will hold the request body.
    pub fn body(&mut self) -> &mut Self {
        self.pieces.push(Piece::Body);
        self
    }

    /// Appends another fragment (its parameters are renumbered when rendered).
    pub fn append(&mut self, other: Sql) -> &mut Self {
        for piece in other.pieces {
            match (self.pieces.last_mut(), piece) {
                (Some(Piece::Text(mine)), Piece::Text(t)) => mine.push_str(&t),
                // Moved, not copied.
                (_, p) => self.pieces.push(p),
            }
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Numbers the parameters `$1…$n` in order and returns the statement.
    pub fn render(self) -> Statement {
        let text: usize = self
            .pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.len(),
                _ => 4,
            })
            .sum();
        let mut sql = String::with_capacity(text);
        let mut params = Vec::new();
        let mut body = None;
        for piece in self.pieces {
            let value = match piece {
                Piece::Text(t) => {
                    sql.push_str(&t);
                    continue;
                }
                Piece::Param(v) => v,
                Piece::Body => {
                    body = Some(params.len());
                    None
                }
            };
            params.push(value);
            let _ = write!(sql, "${}", params.len());
        }
        Statement { sql, params, body }
    }
}

/// Quotes an identifier. Names holding control characters use PostgreSQL's `U&"…"` escapes,
/// so the SQL always stays on one line (it travels in an HTTP header).
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    quote_ident_into(&mut out, name);
    out
}

/// [`quote_ident`], appended to `out`.
fn quote_ident_into(out: &mut String, name: &str) {
    if name.chars().any(char::is_control) {
        out.push_str("U&\"");
        for c in name.chars() {
            match c {
                '"' => out.push_str("\"\""),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => {
                    let _ = write!(out, "\\+{:06X}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        out.push('"');
    } else {
        out.push('"');
        for c in name.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
        out.push('"');
    }
}

/// A PostgreSQL array literal `{"a","b"}` (a parameter's text, never SQL text): every element
/// quoted, `"` and `\` escaped.
pub fn array_literal(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|i| format!("\"{}\"", i.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", quoted.join(","))
}

/// The per-transaction settings statement: `select set_config($1, $2, true), …`.
/// Names and values are both parameters.
pub fn settings_statement<'a>(settings: impl IntoIterator<Item = (&'a str, &'a str)>) -> Statement {
    let mut sql = Sql::new();
    sql.push("select ");
    for (i, (name, value)) in settings.into_iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push("set_config(")
            .param(name)
            .push(", ")
            .param(value)
            .push(", true)");
    }
    sql.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("films"), "\"films\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote_ident("a\nb"), "U&\"a\\+00000Ab\"");
    }

    #[test]
    fn parameters_are_numbered_once_in_order() {
        let mut inner = Sql::new();
        inner.push("b = ").param("2");
        let mut outer = Sql::new();
        outer.push("a = ").param("1").push(" AND ").append(inner);
        let st = outer.render();
        assert_eq!(st.sql, "a = $1 AND b = $2");
        assert_eq!(st.params, vec![Some("1".into()), Some("2".into())]);
    }

    #[test]
    fn settings_are_parameters() {
        let st = settings_statement([("role", "web_anon"), ("request.method", "GET")]);
        insta::assert_snapshot!(st.sql, @"select set_config($1, $2, true), set_config($3, $4, true)");
        assert_eq!(st.params.len(), 4);
    }
}
