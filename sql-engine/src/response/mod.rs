//! Response semantics in one place: the shape a plan's answer takes ([`shape`]), and its status
//! and headers once PostgreSQL has answered ([`status`]).

pub mod shape;
mod status;

pub use shape::{Assembly, ResponseShape, WriteShape};
pub use status::{
    content_location, guc_overrides, read_response, write_response, Counted, Headers, Overrides,
    WriteResult,
};
