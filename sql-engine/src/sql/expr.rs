//! Expressions: column references, JSON paths, casts, filters, logic trees and order terms.

use crate::api_request::{
    Conjunction, Direction, Field, Filter, JsonKey, LogicTree, Nulls, Operation, Operator,
    OrderTerm, Quantifier,
};
use crate::plan::ReadPlan;

use super::fragment::{array_literal, Sql};

/// `"schema"."table"`, the prefix of every column reference.
pub(super) fn qualified(plan: &ReadPlan<'_>) -> Sql {
    let mut s = Sql::new();
    match &plan.alias {
        Some(alias) => s.ident(alias),
        None => s.ident(&plan.schema).push(".").ident(&plan.table),
    };
    s
}

/// A column, or a computed column: `"schema"."fn"("row")`.
pub(super) fn column(plan: &ReadPlan<'_>, name: &str) -> Sql {
    if let Some(f) = computed(plan, name) {
        let mut s = Sql::new();
        s.ident(&f.schema).push(".").ident(&f.name).push("(");
        s.ident(plan.alias.as_deref().unwrap_or(&plan.table))
            .push(")");
        return s;
    }
    let mut s = qualified(plan);
    s.push(".").ident(name);
    s
}

/// The computed column `name`, when the relation has no column of that name.
pub(super) fn computed<'p>(
    plan: &'p ReadPlan<'_>,
    name: &str,
) -> Option<&'p crate::schema_cache::Function> {
    if plan.relation.columns.iter().any(|c| c.name == name) {
        return None;
    }
    plan.computed.iter().find(|f| f.name == name).copied()
}

/// Whether a column holds JSON (unknown columns are left to PostgreSQL to report).
pub(super) fn is_json(plan: &ReadPlan<'_>, name: &str) -> bool {
    plan.relation
        .column_type(name)
        .is_none_or(|t| t == "json" || t == "jsonb")
}

/// A column, with its JSON path: keys are text parameters, indexes `$n::int`; a column that is
/// not JSON is turned into JSON first, as PostgREST does.
/// A field, cast when the select item asks for it: `CAST(field AS type)`.
pub(super) fn cast_field(plan: &ReadPlan<'_>, f: &Field, cast: Option<&str>) -> Sql {
    match cast {
        // The type name is restricted to letters, digits and `_` by the grammar.
        Some(ty) => {
            let mut s = Sql::new();
            s.push("CAST(")
                .append(field(plan, f))
                .push(" AS ")
                .push(ty)
                .push(")");
            s
        }
        None => field(plan, f),
    }
}

pub(super) fn field(plan: &ReadPlan<'_>, f: &Field) -> Sql {
    let mut s = Sql::new();
    if f.json_path.is_empty() {
        return column(plan, &f.name);
    }
    if is_json(plan, &f.name) {
        s.append(column(plan, &f.name));
    } else {
        s.push("to_jsonb(").append(column(plan, &f.name)).push(")");
    }
    for step in &f.json_path {
        s.push(if step.as_text { "->>" } else { "->" });
        match &step.key {
            JsonKey::Key(k) => {
                s.param(k.clone());
            }
            JsonKey::Index(i) => {
                s.param(i.to_string()).push("::int");
            }
        }
    }
    s
}

/// ` WHERE <filters AND logic trees>`, or nothing.
pub(super) fn where_clause(plan: &ReadPlan<'_>) -> Sql {
    let mut q = Sql::new();
    let conditions = plan
        .filters
        .iter()
        .map(|f| filter(plan, f))
        .chain(plan.logic.iter().map(|t| logic_tree(plan, t)));
    for (i, condition) in conditions.enumerate() {
        q.push(if i == 0 { " WHERE " } else { " AND " });
        q.append(condition);
    }
    q
}

pub(super) fn filter(plan: &ReadPlan<'_>, f: &Filter) -> Sql {
    let mut s = Sql::new();
    if f.negated {
        s.push("NOT ");
    }
    let target = field(plan, &f.field);
    let like_value = |op: Operator, v: &str| match op {
        Operator::Like | Operator::Ilike => v.replace('*', "%"),
        _ => v.to_string(),
    };
    match &f.operation {
        Operation::Compare(op, value) => {
            s.append(target)
                .push(" ")
                .push(op.sql())
                .push(" ")
                .param(like_value(*op, value));
        }
        Operation::Quantified(op, q, value) => {
            s.append(target).push(" ").push(op.sql());
            s.push(match q {
                Quantifier::Any => " ANY (",
                Quantifier::All => " ALL (",
            });
            s.param(like_value(*op, value)).push(")");
        }
        Operation::Is(v) => {
            s.append(target).push(" IS ").push(v.sql());
        }
        Operation::In(items) => {
            s.append(target)
                .push(" = ANY (")
                .param(array_literal(items))
                .push(")");
        }
        Operation::Fts(op, lang, query) => {
            let is_tsvector = f.field.json_path.is_empty()
                && plan.relation.column_type(&f.field.name) == Some("tsvector");
            if is_tsvector {
                s.append(target);
            } else {
                s.push("to_tsvector(");
                if let Some(l) = lang {
                    s.param(l.clone()).push(", ");
                }
                s.append(target).push(")");
            }
            s.push(" @@ ").push(op.sql_function()).push("(");
            if let Some(l) = lang {
                s.param(l.clone()).push(", ");
            }
            s.param(query.clone()).push(")");
        }
    }
    s
}

pub(super) fn logic_tree(plan: &ReadPlan<'_>, tree: &LogicTree) -> Sql {
    match tree {
        LogicTree::Filter(f) => filter(plan, f),
        LogicTree::Node {
            negated,
            conjunction,
            children,
        } => {
            let mut s = Sql::new();
            if *negated {
                s.push("NOT ");
            }
            s.push("(");
            let joiner = match conjunction {
                Conjunction::And => " AND ",
                Conjunction::Or => " OR ",
            };
            for (i, child) in children.iter().enumerate() {
                if i > 0 {
                    s.push(joiner);
                }
                s.append(logic_tree(plan, child));
            }
            s.push(")");
            s
        }
    }
}

pub(super) fn order_term(plan: &ReadPlan<'_>, term: &OrderTerm) -> Sql {
    let mut s = match term
        .embed
        .as_ref()
        .and_then(|name| plan.embeds.iter().find(|e| &e.name == name))
    {
        // `rel(col)`: the column of the to-one embed's lateral row.
        Some(e) => {
            let mut s = Sql::new();
            s.ident(&e.lateral).push(".").ident(&term.field.name);
            s
        }
        None => field(plan, &term.field),
    };
    match term.direction {
        Some(Direction::Asc) => s.push(" ASC"),
        Some(Direction::Desc) => s.push(" DESC"),
        None => &mut s,
    };
    match term.nulls {
        Some(Nulls::First) => s.push(" NULLS FIRST"),
        Some(Nulls::Last) => s.push(" NULLS LAST"),
        None => &mut s,
    };
    s
}
