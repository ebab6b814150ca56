//! Benchmarks only: the filter does all its work (authenticate, parse, plan, sign), then
//! answers 204 itself instead of forwarding, to measure its own cost inside Envoy.
#![cfg(target_arch = "wasm32")]

use pgmesh_filter::wasm::{start, Hooks};

proxy_wasm::main! {{
    start(Hooks {
        name: "bench-local",
        answer_planned: Some(204),
        ..Hooks::SHIPPED
    });
}}
