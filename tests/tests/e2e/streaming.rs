//! Large results stream with bounded memory; an error after the first byte aborts the response;
//! a client that goes away cancels the query.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use pgmesh_e2e::{get, http, psql, stack_for_config, wasm};

#[test]
fn a_large_result_is_streamed_with_postgresql_json_bytes() {
    let r = get("/big?order=id");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("transfer-encoding"),
        Some("chunked"),
        "streamed, not buffered"
    );
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.header("content-range"), Some("0-999/*"));
    let expected = psql("select json_agg(t) from (select * from api.big order by id) t");
    assert_eq!(r.body.len(), expected.trim_end_matches('\n').len());
    assert!(
        r.body == expected.trim_end_matches('\n'),
        "the streamed body differs from json_agg"
    );
    // A small result still comes whole, with its length.
    let r = get("/big?order=id&limit=10");
    assert_eq!(
        r.header("content-length").map(str::to_string),
        Some(r.body.len().to_string())
    );
}

#[test]
fn an_error_before_the_first_byte_is_a_postgrest_error() {
    // The explosion happens in the first row's conversion: nothing was sent yet.
    let r = get("/explodes?id=gte.900&order=id");
    assert_eq!(
        r.status,
        400,
        "status {} {}",
        r.status,
        &r.body[..r.body.len().min(300)]
    );
    assert_eq!(r.json()["code"], "P0001");
    assert_eq!(r.json()["message"], "boom in the middle");
}

#[test]
fn an_error_after_streaming_began_aborts_the_response() {
    let result = http::get(&pgmesh_e2e::stack().api, "/explodes?order=id");
    match result {
        Err(e) => assert!(e.to_string().contains("truncated"), "{e}"),
        Ok(r) => panic!(
            "a failed stream must not look like a complete response: status {} {} bytes",
            r.status,
            r.body.len()
        ),
    }
}

#[test]
fn a_client_that_goes_away_cancels_the_query_and_frees_the_connection() {
    // One pooled connection: the next request can only run once it is back in the pool.
    let s = stack_for_config("db-pool = 1\n", wasm(), "FAIL_RELOAD", 1);
    let mut stream = TcpStream::connect(&s.api).unwrap();
    write!(
        stream,
        "GET /endless?select=id,pad HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .unwrap();
    let mut first = [0u8; 4096];
    let n = stream.read(&mut first).unwrap();
    assert!(
        String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"),
        "the stream began"
    );
    drop(stream);
    let gone_at = Instant::now();
    // The query is cancelled: it leaves pg_stat_activity long before it could have finished.
    let active = || {
        psql("select count(*) from pg_stat_activity where state = 'active' and pid <> pg_backend_pid() and query like '%endless%'")
    };
    while active().trim() != "0" {
        assert!(
            gone_at.elapsed() < Duration::from_secs(10),
            "the query kept running"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = http::get(&s.api, "/films?select=id&id=eq.1").unwrap();
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "[{\"id\":1}]"),
        "the connection is back in the pool"
    );
    eprintln!(
        "query gone and connection reusable {:?} after the client left",
        gone_at.elapsed()
    );
}
