//! Tests only: the filter panics on a request with `x-pgmesh-test-crash`, so that the
//! end-to-end tests can prove a crashed filter lets nothing through.
#![cfg(target_arch = "wasm32")]

use pgmesh_filter::wasm::{start, Hooks};

fn crash_on_request(headers: &[(String, String)]) {
    if headers.iter().any(|(k, _)| k == "x-pgmesh-test-crash") {
        // The point of this build.
        #[allow(clippy::panic)]
        {
            panic!("crash requested by test header");
        }
    }
}

proxy_wasm::main! {{
    start(Hooks {
        name: "test-crash",
        inspect_headers: crash_on_request,
        ..Hooks::SHIPPED
    });
}}
