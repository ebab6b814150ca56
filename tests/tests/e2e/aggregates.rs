//! Aggregates behind `db-aggregates-enabled`, with an implicit GROUP BY.

use pgmesh_e2e::{get, http, psql, stack_for_config, wasm};

fn pg_json(query: &str) -> String {
    psql(&format!(
        "select coalesce(json_agg(_t), '[]') from ({query}) _t"
    ))
    .trim_end_matches('\n')
    .to_string()
}

#[test]
fn aggregates_are_refused_unless_enabled() {
    let r = get("/films?select=year.sum()");
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["code"], "PGRST123");
    assert_eq!(
        r.json()["message"],
        "Use of aggregate functions is not allowed"
    );
}

#[test]
fn aggregates_with_casts_aliases_and_implicit_group_by() {
    let s = stack_for_config("db-aggregates-enabled = true\n", wasm(), "FAIL_RELOAD", 1);
    let cases = [
        ("/films?select=rating.max()", "select max(rating) as max from api.films"),
        ("/films?select=total:year.sum()", "select sum(year) as total from api.films"),
        ("/films?select=rating.avg()::int", "select avg(rating)::int as avg from api.films"),
        ("/films?select=year::text.max()", "select max(year::text) as max from api.films"),
        (
            "/films?select=director_id,count()&director_id=not.is.null&order=director_id",
            "select director_id, count(f.*) as count from api.films f where director_id is not null group by director_id order by director_id",
        ),
        (
            "/films?select=director_id,films:id.count(),year.min()&order=director_id.nullsfirst",
            "select director_id, count(id) as films, min(year) as min from api.films group by director_id order by director_id nulls first",
        ),
    ];
    for (url, sql) in cases {
        let r = http::get(&s.api, url).unwrap();
        assert_eq!(r.status, 200, "{url}: {r:?}");
        assert_eq!(r.body, pg_json(sql), "{url}");
    }
}
