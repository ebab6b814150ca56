//! Properties of the grammar and the SQL builder: no input panics, and no value ever reaches the
//! SQL text (every value is a bind parameter).

use proptest::prelude::*;
use sql_engine::api_request::{comma_list, parse_request, ApiRequest, RequestHead};
use sql_engine::schema_cache::{SchemaCache, Table};
use sql_engine::settings::ApiSettings;

/// The films relation (typed columns, so JSON and full-text paths are exercised too); embeds
/// in the generated selects name relations it lacks and must fail cleanly.
fn cache() -> SchemaCache {
    sql_engine::fixtures::films()
}

fn settings() -> ApiSettings {
    ApiSettings::for_tests(&["api"])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_query_string_never_panics(q in ".{0,80}", path in "/[a-z%]{0,8}(/[a-z]{0,3})?") {
        let _ = sql_engine::build_statement("GET", &path, &q, &cache(), &settings());
    }

    #[test]
    fn grammar_like_input_never_panics(q in "(select|order|id|limit|offset)=[a-z.,:()*!\"\\\\ %0-9-]{0,40}") {
        let _ = sql_engine::build_statement("GET", "/films", &q, &cache(), &settings());
    }

    /// A marker value placed in every value position never shows up in the SQL text.
    #[test]
    fn values_never_in_sql_text(op in "(eq|neq|gt|gte|lt|lte|like|ilike|match|imatch|isdistinct)", v in "[A-Za-z0-9 ',;)(-]{1,20}", lim in 1u64..1000, off in 1u64..1000) {
        let value = format!("ZQX{v}");
        let enc = value.replace('%', "%25").replace('&', "%26").replace(' ', "%20").replace('(', "%28").replace(')', "%29").replace(',', "%2C").replace('\'', "%27").replace(';', "%3B");
        let q = format!("id={op}.{enc}&id=in.(%22{enc}%22,x)&limit={lim}&offset={off}");
        let cache = cache();
        let built = sql_engine::build_statement("GET", "/films", &q, &cache, &settings());
        prop_assert!(built.is_ok(), "{q} -> {built:?}");
        if let Ok((_, st)) = built {
            prop_assert!(!st.sql.contains("ZQX"), "value in SQL: {}", st.sql);
            prop_assert!(st.params.contains(&Some(lim.to_string())) && st.params.contains(&Some(off.to_string())));
            prop_assert!(st.params.iter().any(|p| p.as_deref().is_some_and(|p| p.contains("ZQX"))));
        }
    }

    /// The same for values inside logic trees, quantifiers, full-text search and JSON paths.
    #[test]
    fn tree_and_path_values_never_in_sql_text(v in "[A-Za-z0-9 ']{1,12}", key in "[a-z]{1,6}") {
        let value = format!("ZQX{v}").replace(' ', "%20").replace('\'', "%27");
        let q = format!(
            "or=(id.eq.{value},and(id.like(any).{{{value}}},id.fts(english).{value}))&id->{key}ZQX->>0=eq.{value}&select=id->ZQX{key}->0"
        );
        let cache = cache();
        let built = sql_engine::build_statement("GET", "/films", &q, &cache, &settings());
        prop_assert!(built.is_ok(), "{q} -> {built:?}");
        if let Ok((_, st)) = built {
            prop_assert!(!st.sql.contains("ZQX"), "value in SQL: {}", st.sql);
        }
    }

    /// Any nesting of logic trees parses or fails with a 400; it never overflows the stack.
    #[test]
    fn nested_trees_never_panic(depth in 0usize..200, ops in prop::collection::vec("(and|or|not.and|not.or)", 1..4)) {
        let open: String = (0..depth).map(|i| format!("{}(", ops[i % ops.len()])).collect();
        let q = format!("or=({open}id.eq.1{})", ")".repeat(depth));
        let cache = cache();
        let r = sql_engine::build_statement("GET", "/films", &q, &cache, &settings());
        prop_assert!(r.is_ok() || r.as_ref().err().map(|e| e.status()) == Some(400));
    }

    /// Printing the parsed request and parsing it again gives the same request.
    #[test]
    fn select_and_order_round_trip(cols in prop::collection::vec("[a-z_][a-z0-9_]{0,6}", 1..5), desc in any::<bool>()) {
        let q = format!("select={}&order={}{}", cols.join(","), cols[0], if desc { ".desc.nullslast" } else { "" });
        if let Ok(ApiRequest::Read(r)) = parse_request(&RequestHead { method: "GET", path: "/films", query: &q, headers: &[] }) {
            let printed = format!("select={}&order={}", comma_list(&r.select), comma_list(&r.order));
            let again = parse_request(&RequestHead { method: "GET", path: "/films", query: &printed, headers: &[] });
            prop_assert_eq!(again, Ok(ApiRequest::Read(r)));
        } else {
            prop_assert!(false, "did not parse: {}", q);
        }
    }
}

/// Embeds are bounded in number as well as depth: planning cost is not the client's to choose.
#[test]
fn many_embeds_are_refused_not_planned() {
    let mut cache = cache();
    cache.tables.push(Table {
        primary_key: vec!["id".into()],
        ..Table::new("api", "directors", vec![])
    });
    cache
        .foreign_keys
        .push(sql_engine::schema_cache::ForeignKey {
            name: "films_director_id_fkey".into(),
            schema: "api".into(),
            table: "films".into(),
            columns: vec!["id".into()],
            ref_schema: "api".into(),
            ref_table: "directors".into(),
            ref_columns: vec!["id".into()],
        });
    cache.reindex();
    let select = |n: usize| {
        format!(
            "select={}",
            (0..n)
                .map(|i| format!("d{i}:directors()"))
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    let ok = sql_engine::build_statement("GET", "/films", &select(64), &cache, &settings());
    assert!(ok.is_ok(), "{ok:?}");
    let refused = sql_engine::build_statement("GET", "/films", &select(65), &cache, &settings());
    assert_eq!(
        refused.map_err(|e| (e.status(), e.code())).err(),
        Some((400, "PGRST100".to_string()))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..200), complete in any::<bool>()) {
        use sql_engine::api_request::payload::{self, BodyFormat};
        for format in [BodyFormat::Json, BodyFormat::Csv, BodyFormat::Form] {
            let _ = payload::summarize(format, &body, complete);
        }
        let _ = payload::check_keys(&body, &["a".to_string()]);
        let _ = payload::csv_to_json(&body);
        let _ = payload::form_to_json(&body);
    }

    #[test]
    fn json_like_bodies_never_panic(body in "[\\[\\]{}\",:a-z0-9 \\\\]{0,60}") {
        let _ = sql_engine::api_request::payload::summarize(sql_engine::api_request::payload::BodyFormat::Json, body.as_bytes(), true);
        let _ = sql_engine::api_request::payload::check_keys(body.as_bytes(), &[]);
    }
}

/// Round trips of the grammar's own nodes: `parse(print(ast)) == ast` (sqlparser's
/// `verified_stmt`), for filters, logic trees and JSON paths.
mod round_trip {
    use proptest::prelude::*;
    use sql_engine::api_request::query_params::{filter, logic_tree, order, select};
    use sql_engine::api_request::{
        comma_list, Conjunction, Direction, Field, Filter, FtsOperator, IsValue, JsonKey, JsonStep,
        LogicTree, Nulls, Operation, Operator, OrderTerm, Quantifier, SelectItem,
    };

    /// Bare names, and names the printer must quote.
    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z_][a-z0-9_$]{0,6}",
            "[a-z][a-z ]{0,4}[a-z]",
            "[a-z ,.:()!\"\\\\>*-]{1,6}",
        ]
    }

    /// A JSON key that is not all digits (an all-digit key prints like an index).
    fn json_key() -> impl Strategy<Value = JsonKey> {
        prop_oneof![
            name()
                .prop_filter("not an index", |k| k.parse::<i64>().is_err())
                .prop_map(JsonKey::Key),
            any::<i64>().prop_map(JsonKey::Index),
        ]
    }

    fn field() -> impl Strategy<Value = Field> {
        let step = (any::<bool>(), json_key()).prop_map(|(as_text, key)| JsonStep { as_text, key });
        (name(), prop::collection::vec(step, 0..3))
            .prop_map(|(name, json_path)| Field { name, json_path })
    }

    const OPERATORS: [Operator; 19] = [
        Operator::Eq,
        Operator::Neq,
        Operator::Gt,
        Operator::Gte,
        Operator::Lt,
        Operator::Lte,
        Operator::Like,
        Operator::Ilike,
        Operator::Match,
        Operator::Imatch,
        Operator::IsDistinct,
        Operator::Cs,
        Operator::Cd,
        Operator::Ov,
        Operator::Sl,
        Operator::Sr,
        Operator::Nxr,
        Operator::Nxl,
        Operator::Adj,
    ];
    const FTS: [FtsOperator; 4] = [
        FtsOperator::Fts,
        FtsOperator::Plain,
        FtsOperator::Phrase,
        FtsOperator::Websearch,
    ];
    const IS: [IsValue; 5] = [
        IsValue::Null,
        IsValue::NotNull,
        IsValue::True,
        IsValue::False,
        IsValue::Unknown,
    ];

    /// Operations whose values may be anything (a query parameter's value ends with the input),
    /// or (`in_tree`) only what a logic tree prints unquoted for quantifiers and full-text search.
    fn operation(in_tree: bool) -> impl Strategy<Value = Operation> {
        let free = if in_tree {
            "[a-z0-9 *.]{0,8}"
        } else {
            ".{0,12}"
        };
        let array = if in_tree {
            "\\{[a-z0-9 ,]{0,8}\\}"
        } else {
            ".{0,12}"
        };
        prop_oneof![
            (prop::sample::select(&OPERATORS[..]), ".{0,12}")
                .prop_map(|(o, v)| Operation::Compare(o, v)),
            (
                prop::sample::select(
                    OPERATORS
                        .into_iter()
                        .filter(|o| o.quantifiable())
                        .collect::<Vec<_>>()
                ),
                any::<bool>(),
                array
            )
                .prop_map(|(o, all, v)| {
                    Operation::Quantified(
                        o,
                        if all {
                            Quantifier::All
                        } else {
                            Quantifier::Any
                        },
                        v,
                    )
                }),
            prop::sample::select(&IS[..]).prop_map(Operation::Is),
            prop::collection::vec(".{0,6}", 0..4).prop_map(Operation::In),
            (
                prop::sample::select(&FTS[..]),
                prop::option::of("[a-z_0-9]{1,8}"),
                free
            )
                .prop_map(|(o, lang, q)| Operation::Fts(o, lang, q)),
        ]
    }

    fn tree_filter() -> impl Strategy<Value = Filter> {
        (field(), any::<bool>(), operation(true)).prop_map(|(field, negated, operation)| Filter {
            field,
            negated,
            operation,
        })
    }

    fn tree() -> impl Strategy<Value = LogicTree> {
        tree_filter()
            .prop_map(LogicTree::Filter)
            .prop_recursive(4, 24, 3, |inner| {
                (
                    any::<bool>(),
                    any::<bool>(),
                    prop::collection::vec(inner, 1..4),
                )
                    .prop_map(|(negated, and, children)| LogicTree::Node {
                        negated,
                        conjunction: if and {
                            Conjunction::And
                        } else {
                            Conjunction::Or
                        },
                        children,
                    })
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn filters_round_trip(field in field(), negated in any::<bool>(), operation in operation(false)) {
            let f = Filter { field, negated, operation };
            prop_assert_eq!(filter(&f.field.to_string(), &f.to_string()), Ok(f));
        }

        #[test]
        fn logic_trees_round_trip(negated in any::<bool>(), and in any::<bool>(), children in prop::collection::vec(tree(), 1..4)) {
            let conjunction = if and { Conjunction::And } else { Conjunction::Or };
            let key = match (negated, and) {
                (false, true) => "and",
                (false, false) => "or",
                (true, true) => "not.and",
                (true, false) => "not.or",
            };
            let value = format!("({})", comma_list(&children));
            prop_assert_eq!(logic_tree(key, &value), Ok(LogicTree::Node { negated, conjunction, children }));
        }

        #[test]
        fn json_paths_round_trip_in_select_and_order(
            fields in prop::collection::vec((field(), prop::option::of(name()), prop::option::of("[a-z_][a-z0-9_]{0,5}")), 1..4),
            terms in prop::collection::vec((prop::option::of(name()), field(), prop::option::of(any::<bool>()), prop::option::of(any::<bool>())), 1..4),
        ) {
            let items: Vec<SelectItem> = fields
                .into_iter()
                .map(|(field, alias, cast)| SelectItem::Column { field, alias, cast })
                .collect();
            prop_assert_eq!(select(&comma_list(&items)), Ok(items));
            let terms: Vec<OrderTerm> = terms
                .into_iter()
                .map(|(embed, field, desc, last)| OrderTerm {
                    embed,
                    field,
                    direction: desc.map(|d| if d { Direction::Desc } else { Direction::Asc }),
                    nulls: last.map(|l| if l { Nulls::Last } else { Nulls::First }),
                })
                .collect();
            prop_assert_eq!(order(&comma_list(&terms)), Ok(terms));
        }
    }
}

/// Every grammar entry point answers any string with a value or an `ApiError`, never a panic.
mod never_panics {
    use proptest::prelude::*;
    use sql_engine::api_request::query_params::{filter, integer, logic_tree, order, select};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_string(s in ".{0,60}") {
            let _ = select(&s);
            let _ = order(&s);
            let _ = filter(&s, "eq.1");
            let _ = filter("a", &s);
            for key in ["and", "or", "not.and", "not.or"] {
                let _ = logic_tree(key, &s);
            }
            let _ = integer(&s);
        }

        #[test]
        fn grammar_like_string(s in "[a-z0-9.,:()!*\"\\\\{} >-]{0,60}") {
            let _ = select(&s);
            let _ = order(&s);
            let _ = filter(&s, &s);
            let _ = logic_tree("or", &s);
            let _ = logic_tree("or", &format!("({s})"));
        }
    }
}
