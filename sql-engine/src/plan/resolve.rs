//! Resolving one node's request items (select, filters, logic trees, order) against its
//! relation: which column or computed column a name means, whether a JSON path needs
//! `to_jsonb`, whether a full-text filter has a `tsvector` already, what each output is called.

use crate::api_request::{
    Field, Filter, IsValue, LogicTree, Operation, Operator, OrderTerm, SelectItem,
};
use crate::error::ApiError;
use crate::schema_cache::{SchemaCache, Table};

use super::types::{
    EmbedPlan, FieldSource, FullText, OrderTarget, PlannedField, PlannedFilter, PlannedOperation,
    PlannedOrder, PlannedSelect, TypeName,
};

/// One node's items, resolved.
pub(super) struct Node<'a> {
    pub select: Vec<PlannedSelect<'a>>,
    pub filters: Vec<PlannedFilter<'a>>,
    pub order: Vec<PlannedOrder<'a>>,
    pub embeds: Vec<EmbedPlan<'a>>,
}

/// The request items of one node.
pub(super) struct Items {
    pub select: Vec<SelectItem>,
    pub filters: Vec<Filter>,
    pub logic: Vec<LogicTree>,
    pub order: Vec<OrderTerm>,
}

/// Resolves a node's items against `relation` (`table_name` in errors); its embeds are planned
/// already (`rel=is.null` filters and `rel(col)` orders refer to them).
pub(super) fn node<'a>(
    cache: &'a SchemaCache,
    relation: &'a Table,
    table_name: &str,
    items: Items,
    mut embeds: Vec<EmbedPlan<'a>>,
) -> Result<Node<'a>, ApiError> {
    let r = Resolver { cache, relation };
    let select = r.select(items.select, &embeds)?;
    let mut filters = Vec::with_capacity(items.filters.len() + items.logic.len());
    let mut null_embeds = Vec::new();
    for f in items.filters {
        match null_embed(&f, &embeds) {
            Some(test) => null_embeds.push(test),
            None => filters.push(r.filter(f)),
        }
    }
    filters.extend(items.logic.into_iter().map(|t| r.logic_tree(t)));
    for test in null_embeds {
        if let PlannedFilter::NullEmbed { embed, .. } = test {
            if let Some(e) = embeds.get_mut(embed) {
                e.filters_parent = true;
            }
        }
        filters.push(test);
    }
    let order = items
        .order
        .into_iter()
        .map(|term| order_term(&r, term, &embeds, table_name))
        .collect::<Result<_, _>>()?;
    Ok(Node {
        select,
        filters,
        order,
        embeds,
    })
}

/// `rel=is.null` / `rel=not.is.null` on an embed's name: a test of the embed, not of a column.
fn null_embed<'a>(f: &Filter, embeds: &[EmbedPlan<'_>]) -> Option<PlannedFilter<'a>> {
    let wants_null = match f.operation {
        Operation::Is(IsValue::Null) => !f.negated,
        Operation::Is(IsValue::NotNull) => f.negated,
        _ => return None,
    };
    if !f.field.json_path.is_empty() {
        return None;
    }
    let embed = embeds.iter().position(|e| e.name == f.field.name)?;
    Some(PlannedFilter::NullEmbed { embed, wants_null })
}

fn order_term<'a>(
    r: &Resolver<'a>,
    term: OrderTerm,
    embeds: &[EmbedPlan<'_>],
    table_name: &str,
) -> Result<PlannedOrder<'a>, ApiError> {
    let target = match term.embed {
        Some(name) => {
            let embed = embeds
                .iter()
                .position(|e| e.name == name)
                .ok_or_else(|| ApiError::NotEmbedded(name.clone()))?;
            if !embeds
                .get(embed)
                .is_some_and(|e| e.relationship.cardinality.to_one())
            {
                return Err(ApiError::RelatedOrderNotToOne {
                    origin: table_name.to_string(),
                    target: name,
                });
            }
            // The embed's lateral row has the column under its output name: no resolution.
            OrderTarget::Embed {
                embed,
                column: term.field.name,
            }
        }
        None => OrderTarget::Field(r.field(term.field)),
    };
    Ok(PlannedOrder {
        target,
        direction: term.direction,
        nulls: term.nulls,
    })
}

/// A cast's type name; the grammar accepts nothing else, so this refusal is a second lock.
fn type_name(name: Option<String>) -> Result<Option<TypeName>, ApiError> {
    name.map(|n| {
        TypeName::new(&n).map_err(|e| ApiError::QueryParam {
            message: e.to_string(),
            details: String::from("A cast's type name has letters, digits or _ only"),
        })
    })
    .transpose()
}

struct Resolver<'a> {
    cache: &'a SchemaCache,
    relation: &'a Table,
}

impl<'a> Resolver<'a> {
    /// A column of the relation, else a computed column of that name, else the name for
    /// PostgreSQL to report.
    fn field(&self, f: Field) -> PlannedField<'a> {
        let source = match self.relation.columns.iter().find(|c| c.name == f.name) {
            Some(c) => FieldSource::Column(c),
            None => match self.cache.computed_column(self.relation, &f.name) {
                Some(function) => FieldSource::Computed(function),
                None => FieldSource::Unresolved(f.name),
            },
        };
        // Only a known column that is not JSON is converted; computed and unknown fields are
        // taken to be JSON already.
        let to_json = !f.json_path.is_empty()
            && matches!(&source, FieldSource::Column(c) if c.data_type != "json" && c.data_type != "jsonb");
        PlannedField {
            source,
            json_path: f.json_path,
            to_json,
        }
    }

    fn select(
        &self,
        items: Vec<SelectItem>,
        embeds: &[EmbedPlan<'_>],
    ) -> Result<Vec<PlannedSelect<'a>>, ApiError> {
        let mut planned = Vec::with_capacity(items.len());
        let mut embed = 0;
        for item in items {
            planned.push(match item {
                SelectItem::Star => PlannedSelect::Star,
                SelectItem::Column { field, alias, cast } => {
                    let rename = alias.is_some();
                    let output = alias.unwrap_or_else(|| field.output_name().to_string());
                    let field = self.field(field);
                    let cast = type_name(cast)?;
                    let rename = rename
                        || cast.is_some()
                        || !field.json_path.is_empty()
                        || matches!(field.source, FieldSource::Computed(_));
                    PlannedSelect::Field {
                        field,
                        cast,
                        output,
                        rename,
                    }
                }
                SelectItem::Aggregate {
                    function,
                    field,
                    input_cast,
                    result_cast,
                    alias,
                } => PlannedSelect::Aggregate {
                    function,
                    field: field.map(|f| self.field(f)),
                    input_cast: type_name(input_cast)?,
                    result_cast: type_name(result_cast)?,
                    output: alias.unwrap_or_else(|| function.name().to_string()),
                },
                SelectItem::Embed(e) => {
                    let index = embed;
                    embed += 1;
                    // `rel()`: joined (for `!inner` or filters), with no output.
                    if e.select.is_empty() || embeds.get(index).is_none() {
                        continue;
                    }
                    PlannedSelect::Embed(index)
                }
            });
        }
        Ok(planned)
    }

    fn filter(&self, f: Filter) -> PlannedFilter<'a> {
        let field = self.field(f.field);
        // PostgREST's `*` wildcard is SQL's `%`.
        let like = |op: Operator, v: String| match op {
            Operator::Like | Operator::Ilike => v.replace('*', "%"),
            _ => v,
        };
        let operation = match f.operation {
            Operation::Compare(op, v) => PlannedOperation::Compare(op, like(op, v)),
            Operation::Quantified(op, q, v) => PlannedOperation::Quantified(op, q, like(op, v)),
            Operation::Is(v) => PlannedOperation::Is(v),
            Operation::In(items) => PlannedOperation::In(items),
            Operation::Fts(operator, language, query) => PlannedOperation::FullText(FullText {
                operator,
                language,
                query,
                tsvector: field.json_path.is_empty()
                    && matches!(&field.source, FieldSource::Column(c) if c.data_type == "tsvector"),
            }),
        };
        PlannedFilter::Op {
            field,
            negated: f.negated,
            operation,
        }
    }

    fn logic_tree(&self, tree: LogicTree) -> PlannedFilter<'a> {
        match tree {
            LogicTree::Filter(f) => self.filter(f),
            LogicTree::Node {
                negated,
                conjunction,
                children,
            } => PlannedFilter::Logic {
                negated,
                conjunction,
                children: children.into_iter().map(|c| self.logic_tree(c)).collect(),
            },
        }
    }
}

/// The names of the columns a node outputs, in order: what a spread brings into its parent.
pub(super) fn output_names(
    select: &[PlannedSelect<'_>],
    embeds: &[EmbedPlan<'_>],
    relation: &Table,
) -> Vec<String> {
    let mut names = Vec::new();
    for item in select {
        match item {
            PlannedSelect::Star => names.extend(relation.columns.iter().map(|c| c.name.clone())),
            PlannedSelect::Field { output, .. } | PlannedSelect::Aggregate { output, .. } => {
                names.push(output.clone())
            }
            PlannedSelect::Embed(i) => match embeds.get(*i) {
                Some(EmbedPlan {
                    spread: Some(columns),
                    ..
                }) => names.extend(columns.iter().cloned()),
                Some(e) => names.push(e.name.clone()),
                None => {}
            },
        }
    }
    names
}
