//! Function calls: the function's rows in the CTE `pgrst_rows`, then read like a relation.

use crate::plan::{CallArgs, CallPlan};

use super::fragment::{array_literal, Sql};
use super::read::{outer_statement, source_query, NO_INSERTED};

/// A function call, as PostgREST shapes it: the function's rows in the CTE `pgrst_rows`
/// (arguments as typed parameters, or read from the JSON body in `pgrst_args`), then read like
/// a relation. A scalar result is the column `pgrst_scalar`.
pub(super) fn call_statement(c: &CallPlan<'_>) -> Sql {
    let f = c.function;
    let mut ctes = Sql::new();
    let mut call = Sql::new();
    call.ident(&f.schema).push(".").ident(&f.name).push("(");
    let mut from_args = false;
    match &c.args {
        CallArgs::Query(args) => {
            for (i, (arg, values)) in args.iter().enumerate() {
                let a = arg.argument;
                if i > 0 {
                    call.push(", ");
                }
                if arg.variadic {
                    call.push("VARIADIC ");
                }
                let value = if arg.variadic {
                    array_literal(values)
                } else {
                    values.first().cloned().unwrap_or_default()
                };
                // The type comes from the catalog (format_type), never from the client.
                call.ident(&a.name)
                    .push(" := ")
                    .param(value)
                    .push("::")
                    .push(&a.data_type);
            }
        }
        CallArgs::Body(args) if args.is_empty() => {}
        CallArgs::Body(args) => {
            from_args = true;
            // An array body gives its first object, as in PostgREST.
            ctes.push("pgrst_args AS (SELECT pgrst_a.* FROM (SELECT ")
                .body()
                .push(
                    "::json AS v) pgrst_p, LATERAL pg_catalog.json_to_recordset(CASE \
                     pg_catalog.json_typeof(pgrst_p.v) WHEN 'array' THEN pgrst_p.v \
                     ELSE pg_catalog.json_build_array(pgrst_p.v) END) AS pgrst_a(",
                );
            for (i, arg) in args.iter().enumerate() {
                let a = arg.argument;
                if i > 0 {
                    ctes.push(", ");
                    call.push(", ");
                }
                ctes.ident(&a.name).push(" ").push(&a.data_type);
                if arg.variadic {
                    call.push("VARIADIC ");
                }
                call.ident(&a.name).push(" := pgrst_args.").ident(&a.name);
            }
            ctes.push(") LIMIT 1), ");
        }
        CallArgs::Whole(a) => {
            call.body().push("::").push(&a.data_type);
        }
    }
    call.push(")");
    if f.returns_void() {
        ctes.push("pgrst_rows AS (SELECT NULL::text AS pgrst_scalar FROM ");
    } else {
        ctes.push("pgrst_rows AS (SELECT pgrst_call.* FROM ");
    }
    if from_args {
        ctes.push("pgrst_args, LATERAL ");
    }
    ctes.append(call).push(" AS pgrst_call");
    if c.read.scalar && !f.returns_void() {
        ctes.push("(pgrst_scalar)");
    }
    ctes.push("), pgrst_source AS (")
        .append(source_query(&c.read))
        .push(")");
    outer_statement(&c.read, ctes, NO_INSERTED)
}
