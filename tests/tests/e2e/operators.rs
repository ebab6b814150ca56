//! The horizontal and vertical grammar through the real stack: every request's body is
//! compared with the JSON PostgreSQL itself builds for the equivalent hand-written SQL.

use pgmesh_e2e::{get, psql};

fn pg_json(query: &str) -> String {
    let out = psql(&format!(
        "select coalesce(json_agg(_t), '[]') from ({query}) _t"
    ));
    out.trim_end_matches('\n').to_string()
}

fn check(cases: &[(&str, &str)]) {
    for (url, sql) in cases {
        let r = get(url);
        assert_eq!(r.status, 200, "{url}: {r:?}");
        assert_eq!(r.body, pg_json(sql), "{url}");
    }
}

#[test]
fn array_range_and_containment_operators() {
    check(&[
        (
            "/items?select=id&tags=cs.{a}&order=id",
            "select id from api.items where tags @> '{a}' order by id",
        ),
        (
            "/items?select=id&tags=cd.{a,b,c}&order=id",
            "select id from api.items where tags <@ '{a,b,c}' order by id",
        ),
        (
            "/items?select=id&nums=ov.{3,4}&order=id",
            "select id from api.items where nums && '{3,4}' order by id",
        ),
        (
            "/items?select=id&span=sl.[11,12)&order=id",
            "select id from api.items where span << '[11,12)' order by id",
        ),
        (
            "/items?select=id&span=sr.[2,3)&order=id",
            "select id from api.items where span >> '[2,3)' order by id",
        ),
        (
            "/items?select=id&span=nxr.[0,9)&order=id",
            "select id from api.items where span &< '[0,9)' order by id",
        ),
        (
            "/items?select=id&span=nxl.[6,9)&order=id",
            "select id from api.items where span &> '[6,9)' order by id",
        ),
        (
            "/items?select=id&span=adj.[10,20)&order=id",
            "select id from api.items where span -|- '[10,20)' order by id",
        ),
        (
            "/items?select=id&during=ov.[2017-03-01,2017-04-01]",
            "select id from api.items where during && '[2017-03-01,2017-04-01]'",
        ),
        (
            "/items?select=id&data=cs.{\"blood_type\":\"A-\"}&order=id",
            "select id from api.items where data @> '{\"blood_type\":\"A-\"}' order by id",
        ),
        (
            "/items?select=id&tags=not.cs.{a}&order=id",
            "select id from api.items where not tags @> '{a}' order by id",
        ),
    ]);
}

#[test]
fn quantified_operators() {
    check(&[
        (
            "/items?select=id&name=like(any).{a*,*ta}&order=id",
            "select id from api.items where name like any('{a%,%ta}') order by id",
        ),
        (
            "/items?select=id&id=gt(all).{1,2}&order=id",
            "select id from api.items where id > all('{1,2}') order by id",
        ),
        (
            "/items?select=id&id=eq(any).{2,3}&order=id",
            "select id from api.items where id = any('{2,3}') order by id",
        ),
        (
            "/items?select=id&name=not.ilike(all).{*A*,*L*}&order=id",
            "select id from api.items where not name ilike all('{%A%,%L%}') order by id",
        ),
    ]);
}

#[test]
fn full_text_search() {
    check(&[
        ("/items?select=id&tsv=fts.fat%26cats&order=id", "select id from api.items where tsv @@ to_tsquery('fat&cats') order by id"),
        ("/items?select=id&tsv=fts(french).amusant", "select id from api.items where tsv @@ to_tsquery('french', 'amusant')"),
        ("/items?select=id&tsv=plfts.fat%20cats&order=id", "select id from api.items where tsv @@ plainto_tsquery('fat cats') order by id"),
        ("/items?select=id&tsv=phfts(english).fat%20cats", "select id from api.items where tsv @@ phraseto_tsquery('english', 'fat cats')"),
        ("/items?select=id&tsv=wfts(english).fat%20-dogs", "select id from api.items where tsv @@ websearch_to_tsquery('english', 'fat -dogs')"),
        ("/items?select=id&doc=fts(english).cats&order=id", "select id from api.items where to_tsvector('english', doc) @@ to_tsquery('english', 'cats') order by id"),
        ("/items?select=id&tsv=not.fts.cats&order=id", "select id from api.items where not tsv @@ to_tsquery('cats') order by id"),
    ]);
}

#[test]
fn json_paths_in_select_filters_and_order() {
    check(&[
        (
            "/items?select=id,data->>blood_type&order=id",
            "select id, data->>'blood_type' as blood_type from api.items order by id",
        ),
        (
            "/items?select=id,data->phones->0->>number&order=id",
            "select id, data->'phones'->0->>'number' as number from api.items order by id",
        ),
        (
            "/items?select=id,last:data->phones->-1&order=id",
            "select id, data->'phones'->-1 as last from api.items order by id",
        ),
        (
            "/items?select=id,data->age::int&order=id",
            "select id, cast(data->'age' as int) as age from api.items order by id",
        ),
        (
            "/items?select=id,meta->k->>j&order=id",
            "select id, meta->'k'->>'j' as j from api.items order by id",
        ),
        (
            "/items?select=id,tags->0&order=id",
            "select id, to_jsonb(tags)->0 as tags from api.items order by id",
        ),
        (
            "/items?select=id&data->>blood_type=eq.A-&order=id",
            "select id from api.items where data->>'blood_type' = 'A-' order by id",
        ),
        (
            "/items?select=id&meta->>lat=eq.10&order=id",
            "select id from api.items where meta->>'lat' = '10' order by id",
        ),
        (
            "/items?select=id&data->age=gt.30&order=data->age.desc",
            "select id from api.items where data->'age' > '30' order by data->'age' desc",
        ),
        (
            "/items?select=id&order=data->>blood_type.desc.nullslast,id",
            "select id from api.items order by data->>'blood_type' desc nulls last, id",
        ),
    ]);
}

#[test]
fn logic_trees() {
    check(&[
        ("/films?select=id&or=(year.lt.1990,rating.gte.8.5)&order=id", "select id from api.films where year < 1990 or rating >= 8.5 order by id"),
        ("/films?select=id&or=(year.lt.2000,not.and(year.gte.2017,year.lte.2020))&order=id", "select id from api.films where year < 2000 or not (year >= 2017 and year <= 2020) order by id"),
        ("/films?select=id&not.or=(year.is.null,id.in.(1,2))&order=id", "select id from api.films where not (year is null or id in (1,2)) order by id"),
        ("/films?select=id&and=(title.like.*a*,rating.not.lt.7.9)&director_id=eq.1&order=id", "select id from api.films where title like '%a%' and not rating < 7.9 and director_id = 1 order by id"),
        ("/items?select=id&or=(name.eq.%22delta,%20%5C%22quoted%5C%22%22,tags.cs.{c})&order=id", "select id from api.items where name = 'delta, \"quoted\"' or tags @> '{c}' order by id"),
        ("/items?select=id&or=(span.adj.%22[10,20)%22,data->>blood_type.eq.O%2B)&order=id", "select id from api.items where span -|- '[10,20)' or data->>'blood_type' = 'O+' order by id"),
        ("/items?select=id&or=(tsv.fts(english).rats,id.eq(any).{3})&order=id", "select id from api.items where tsv @@ to_tsquery('english', 'rats') or id = any('{3}') order by id"),
    ]);
}

#[test]
fn quoted_values_and_reserved_characters() {
    check(&[
        (
            "/items?select=id&name=in.(%22delta,%20%5C%22quoted%5C%22%22,alpha)&order=id",
            "select id from api.items where name in ('delta, \"quoted\"', 'alpha') order by id",
        ),
        (
            "/items?select=id&name=eq.delta,%20%22quoted%22",
            "select id from api.items where name = 'delta, \"quoted\"'",
        ),
        (
            "/items?select=id&id=in.()",
            "select id from api.items where false",
        ),
    ]);
}
