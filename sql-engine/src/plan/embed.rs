//! Embedding: `select=rel(...)` items resolved to relationships, with their own parameters.

use crate::api_request::preferences::Preferences;
use crate::api_request::{Embed, EmbedParam, JoinType, SelectItem};
use crate::error::{ApiError, Candidate};
use crate::media::Format;
use crate::schema_cache::relationships::{self, Relationship};
use crate::schema_cache::{SchemaCache, Table};
use crate::settings::ApiSettings;

use super::resolve::{self, Items};
use super::types::{EmbedPlan, ReadPlan, Source};

/// Embedded resources one request may have, at all depths.
pub const MAX_EMBEDS: usize = 64;

/// Resolves the embeds among `select` (of `parent`) and, recursively, theirs; takes the
/// parameters aimed at them out of `params`.
pub(super) fn plan_embeds<'a>(
    cache: &'a SchemaCache,
    settings: &ApiSettings,
    parent: &'a Table,
    select: &[SelectItem],
    params: &mut Vec<(Vec<String>, EmbedParam)>,
    path: &[String],
    counter: &mut usize,
) -> Result<Vec<EmbedPlan<'a>>, ApiError> {
    let mut embeds = Vec::new();
    for item in select {
        let SelectItem::Embed(embed) = item else {
            continue;
        };
        // Every embed gets its own numbered aliases (names could collide or be truncated), and
        // their number is bounded: planning cost must not be the client's to choose.
        *counter += 1;
        let number = *counter;
        if number > MAX_EMBEDS {
            return Err(ApiError::QueryParam {
                message: String::from("Too many embedded resources"),
                details: format!("A request may embed at most {MAX_EMBEDS} resources"),
            });
        }
        let relationship = resolve(cache, parent, embed)?;
        let target = relationship.target;
        let mut child_path = path.to_vec();
        child_path.push(embed.name().to_string());
        // Parameters for this embed, by its name or (legacy target names) its relation.
        let mut mine = Vec::new();
        params.retain(|(p, param)| {
            let matches = p.len() == child_path.len()
                && p[..path.len()] == child_path[..path.len()]
                && (p[path.len()] == embed.name() || p[path.len()] == embed.relation);
            if matches {
                mine.push(param.clone());
            }
            !matches
        });
        let mut items = Items {
            select: embed.select.clone(),
            filters: Vec::new(),
            logic: Vec::new(),
            order: Vec::new(),
        };
        let mut limit = settings.db_max_rows;
        let mut offset = 0;
        for param in mine {
            match param {
                EmbedParam::Filter(f) => items.filters.push(f),
                EmbedParam::Logic(t) => items.logic.push(t),
                EmbedParam::Order(o) => items.order = o,
                EmbedParam::Limit(n) => {
                    let n = u64::try_from(n.max(0)).unwrap_or(0);
                    limit = Some(settings.db_max_rows.map_or(n, |m| n.min(m)));
                }
                EmbedParam::Offset(n) => offset = u64::try_from(n.max(0)).unwrap_or(0),
            }
        }
        let child_embeds = plan_embeds(
            cache,
            settings,
            target,
            &embed.select,
            params,
            &child_path,
            counter,
        )?;
        let node = resolve::node(cache, target, &target.name, items, child_embeds)?;
        let spread = embed
            .spread
            .then(|| resolve::output_names(&node.select, &node.embeds, target));
        embeds.push(EmbedPlan {
            name: embed.name().to_string(),
            lateral: format!("pgrst_{number}_embed"),
            relationship,
            inner: embed.join == Some(JoinType::Inner),
            filters_parent: embed.join == Some(JoinType::Inner),
            spread,
            plan: ReadPlan {
                schema: target.schema.clone(),
                table: target.name.clone(),
                relation: target,
                select: node.select,
                filters: node.filters,
                order: node.order,
                limit,
                offset,
                paged: false,
                max_rows: settings.db_max_rows,
                content_profile: None,
                headers_only: false,
                format: Format::Json { strip_nulls: false },
                count: None,
                preferences: Preferences::default(),
                alias: Some(format!("pgrst_{number}")),
                embeds: node.embeds,
                source: Source::Relation,
                scalar: false,
            },
        });
    }
    Ok(embeds)
}

/// The one relationship an embed names, or PostgREST's PGRST200/PGRST201.
fn resolve<'a>(
    cache: &'a SchemaCache,
    parent: &Table,
    embed: &Embed,
) -> Result<Relationship<'a>, ApiError> {
    let mut found: Vec<Relationship<'a>> = relationships::relationships(cache, parent)
        .into_iter()
        .filter(|r| r.named_by(&embed.relation, parent))
        .filter(|r| {
            embed
                .hint
                .as_deref()
                .is_none_or(|h| r.matches_hint(h, parent))
        })
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(ApiError::NoRelationship {
            parent: parent.name.clone(),
            relation: embed.relation.clone(),
            schema: parent.schema.clone(),
            hint: embed.hint.clone(),
        }),
        _ => Err(ApiError::AmbiguousRelationship {
            parent: parent.name.clone(),
            relation: embed.relation.clone(),
            candidates: found
                .iter()
                .map(|r| Candidate {
                    cardinality: r.cardinality.name().to_string(),
                    relationship: r.describe(parent),
                    hint: r
                        .junction
                        .as_ref()
                        .map_or(r.constraint, |j| j.table.name.as_str())
                        .to_string(),
                    target: r.target.name.clone(),
                })
                .collect(),
        }),
    }
}
