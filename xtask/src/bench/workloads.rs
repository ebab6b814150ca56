//! What `bench load` asks of the stack: the benchmark database and the kinds of request.

/// The benchmark database: 100,000 parents with 10 children each.
pub(super) const SCHEMA: &str = "
create table api.parents (id int primary key, name text not null, created date not null default current_date);
insert into api.parents (id, name) select i, 'parent ' || i from generate_series(1, 100000) i;
create table api.children (id int primary key, parent_id int not null references api.parents(id),
  label text not null, value int not null);
insert into api.children select i, (i % 100000) + 1, 'child ' || i, i % 1000 from generate_series(1, 1000000) i;
create index on api.children (parent_id);
create table api.visits (id bigserial primary key, parent_id int not null, note text);
create function api.parent_name(pid int) returns text language sql stable as
  $$ select name from api.parents where id = pid $$;
grant select on api.parents, api.children to web_anon;
grant select, insert on api.visits to web_anon;
grant usage on sequence api.visits_id_seq to web_anon;
grant execute on function api.parent_name(int) to web_anon;
-- pgbench prepares every statement of its script before the first runs, so before the role
-- switch: its authenticator inherits what web_anon may do.
create role bench_authenticator login inherit;
grant web_anon to bench_authenticator;
analyze api.parents, api.children;
";

/// The id the capture uses, replaced by a random id in the pgbench scripts.
pub(super) const MARK: &str = "77777";

/// One kind of request. Borrowed rather than `'static`, so that a request built at run time
/// (one carrying a freshly signed token) is a workload too.
#[derive(Debug, Clone, Copy)]
pub(super) struct Workload<'a> {
    pub name: &'a str,
    pub method: &'a str,
    /// Path and query; `{id}` is a random id in 1..=100000.
    pub path: &'a str,
    /// JSON body (POST); `{id}` as above.
    pub body: Option<&'a str>,
    pub headers: &'a [(&'a str, &'a str)],
    /// The status every answer must have.
    pub status: u16,
    /// Whether PostgreSQL answers it (and so has ceilings A and B).
    pub database: bool,
}

pub(super) const GET_ONE_ROW: Workload<'static> = Workload {
    name: "GET one row",
    method: "GET",
    path: "/parents?id=eq.{id}",
    body: None,
    headers: &[],
    status: 200,
    database: true,
};

pub(super) const GET_100_ROWS: Workload<'static> = Workload {
    name: "GET 100 rows",
    method: "GET",
    path: "/children?select=id,label,value&id=gt.{id}&order=id&limit=100",
    body: None,
    headers: &[],
    status: 200,
    database: true,
};

pub(super) const GET_WITH_EMBED: Workload<'static> = Workload {
    name: "GET with embed",
    method: "GET",
    path: "/parents?select=id,name,children(id,label)&id=eq.{id}",
    body: None,
    headers: &[],
    status: 200,
    database: true,
};

pub(super) const POST_ONE_ROW: Workload<'static> = Workload {
    name: "POST one row",
    method: "POST",
    path: "/visits",
    body: Some(r#"{"parent_id": {id}, "note": "bench"}"#),
    headers: &[("Content-Type", "application/json")],
    status: 201,
    database: true,
};

pub(super) const RPC: Workload<'static> = Workload {
    name: "RPC",
    method: "GET",
    path: "/rpc/parent_name?pid={id}",
    body: None,
    headers: &[],
    status: 200,
    database: true,
};

pub(super) const BAD_JWT: Workload<'static> = Workload {
    name: "bad JWT",
    method: "GET",
    path: "/parents?id=eq.{id}",
    body: None,
    headers: &[("Authorization", "Bearer not.a.jwt")],
    status: 401,
    database: false,
};

/// A request the filter answers alone (404 PGRST205); also what the proxy ceilings are sent,
/// their `direct_response` being that same answer.
pub(super) const FILTER_ONLY: Workload<'static> = Workload {
    name: "filter only (404)",
    method: "GET",
    path: "/no_such_table?id=eq.{id}",
    body: None,
    headers: &[],
    status: 404,
    database: false,
};

/// Every workload measured through the stack, in the table's order.
pub(super) const WORKLOADS: &[Workload<'static>] = &[
    GET_ONE_ROW,
    GET_100_ROWS,
    GET_WITH_EMBED,
    POST_ONE_ROW,
    RPC,
    BAD_JWT,
    FILTER_ONLY,
];

/// The workloads PostgreSQL answers, which get captured and ceilings A and B.
pub(super) fn database_workloads() -> impl Iterator<Item = &'static Workload<'static>> {
    WORKLOADS.iter().filter(|w| w.database)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_names_are_unique_as_rows_and_captures_are_found_by_name() {
        let mut names: Vec<&str> = WORKLOADS.iter().map(|w| w.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), WORKLOADS.len());
    }

    #[test]
    fn every_path_and_body_carries_the_id_the_capture_marks() {
        for w in WORKLOADS {
            let marked = format!("{}{}", w.path, w.body.unwrap_or_default());
            assert!(marked.contains("{id}"), "{}", w.name);
        }
    }
}
