//! Expressions: column references, JSON paths, casts, filters, logic trees and order terms.

use crate::api_request::{Conjunction, Direction, JsonKey, Nulls, Quantifier};
use crate::plan::{
    FieldSource, FullText, OrderTarget, PlannedField, PlannedFilter, PlannedOperation,
    PlannedOrder, ReadPlan, TypeName,
};

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

/// A column of the node's rows: `"schema"."table"."name"`.
pub(super) fn column(plan: &ReadPlan<'_>, name: &str) -> Sql {
    let mut s = qualified(plan);
    s.push(".").ident(name);
    s
}

/// A field without its path: a column, or a computed column `"schema"."fn"("row")`.
fn source(plan: &ReadPlan<'_>, f: &PlannedField<'_>) -> Sql {
    match &f.source {
        FieldSource::Column(c) => column(plan, &c.name),
        FieldSource::Unresolved(name) => column(plan, name),
        FieldSource::Computed(function) => {
            let mut s = Sql::new();
            s.ident(&function.schema)
                .push(".")
                .ident(&function.name)
                .push("(");
            s.ident(plan.alias.as_deref().unwrap_or(&plan.table))
                .push(")");
            s
        }
    }
}

/// A field, cast when the select item asks for it: `CAST(field AS type)`.
pub(super) fn cast_field(
    plan: &ReadPlan<'_>,
    f: &PlannedField<'_>,
    cast: Option<&TypeName>,
) -> Sql {
    match cast {
        Some(ty) => {
            let mut s = Sql::new();
            s.push("CAST(")
                .append(field(plan, f))
                .push(" AS ")
                .push(ty.as_str())
                .push(")");
            s
        }
        None => field(plan, f),
    }
}

/// A field with its JSON path: keys are text parameters, indexes `$n::int`.
pub(super) fn field(plan: &ReadPlan<'_>, f: &PlannedField<'_>) -> Sql {
    if f.json_path.is_empty() {
        return source(plan, f);
    }
    let mut s = Sql::new();
    if f.to_json {
        s.push("to_jsonb(").append(source(plan, f)).push(")");
    } else {
        s.append(source(plan, f));
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

/// ` WHERE <conditions>`, or nothing.
pub(super) fn where_clause(plan: &ReadPlan<'_>) -> Sql {
    let mut q = Sql::new();
    for (i, condition) in plan.filters.iter().enumerate() {
        q.push(if i == 0 { " WHERE " } else { " AND " });
        q.append(filter(plan, condition));
    }
    q
}

pub(super) fn filter(plan: &ReadPlan<'_>, f: &PlannedFilter<'_>) -> Sql {
    match f {
        PlannedFilter::Op {
            field: target,
            negated,
            operation,
        } => {
            let mut s = Sql::new();
            if *negated {
                s.push("NOT ");
            }
            s.append(op(plan, target, operation));
            s
        }
        PlannedFilter::Logic {
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
                s.append(filter(plan, child));
            }
            s.push(")");
            s
        }
        PlannedFilter::NullEmbed { embed, wants_null } => null_embed(plan, *embed, *wants_null),
    }
}

fn op(plan: &ReadPlan<'_>, f: &PlannedField<'_>, operation: &PlannedOperation) -> Sql {
    let mut s = Sql::new();
    let target = field(plan, f);
    match operation {
        PlannedOperation::Compare(op, value) => {
            s.append(target)
                .push(" ")
                .push(op.sql())
                .push(" ")
                .param(value.clone());
        }
        PlannedOperation::Quantified(op, q, value) => {
            s.append(target).push(" ").push(op.sql());
            s.push(match q {
                Quantifier::Any => " ANY (",
                Quantifier::All => " ALL (",
            });
            s.param(value.clone()).push(")");
        }
        PlannedOperation::Is(v) => {
            s.append(target).push(" IS ").push(v.sql());
        }
        PlannedOperation::In(items) => {
            s.append(target)
                .push(" = ANY (")
                .param(array_literal(items))
                .push(")");
        }
        PlannedOperation::FullText(FullText {
            operator,
            language,
            query,
            tsvector,
        }) => {
            if *tsvector {
                s.append(target);
            } else {
                s.push("to_tsvector(");
                if let Some(l) = language {
                    s.param(l.clone()).push(", ");
                }
                s.append(target).push(")");
            }
            s.push(" @@ ").push(operator.sql_function()).push("(");
            if let Some(l) = language {
                s.param(l.clone()).push(", ");
            }
            s.param(query.clone()).push(")");
        }
    }
    s
}

/// `rel=is.null` → the embed's lateral row (to-one) or array (to-many) is null; a to-many
/// spread gathered no rows.
fn null_embed(plan: &ReadPlan<'_>, embed: usize, wants_null: bool) -> Sql {
    let mut s = Sql::new();
    let Some(e) = plan.embeds.get(embed) else {
        return s;
    };
    s.ident(&e.lateral);
    let to_one = e.relationship.cardinality.to_one();
    if e.spread.is_some() && !to_one {
        s.push(if wants_null {
            ".\"pgrst_n\" = 0"
        } else {
            ".\"pgrst_n\" > 0"
        });
        return s;
    }
    if !to_one {
        s.push(".").ident(&e.lateral);
    }
    s.push(if wants_null {
        " IS NOT DISTINCT FROM NULL"
    } else {
        " IS DISTINCT FROM NULL"
    });
    s
}

pub(super) fn order_term(plan: &ReadPlan<'_>, term: &PlannedOrder<'_>) -> Sql {
    let mut s = match &term.target {
        // `rel(col)`: the column of the to-one embed's lateral row.
        OrderTarget::Embed { embed, column } => {
            let mut s = Sql::new();
            if let Some(e) = plan.embeds.get(*embed) {
                s.ident(&e.lateral).push(".").ident(column);
            }
            s
        }
        OrderTarget::Field(f) => field(plan, f),
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
