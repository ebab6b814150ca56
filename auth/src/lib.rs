//! pgmesh's identity core, pure and shared by the filter, the configuration check and the
//! JavaScript edge: PostgREST's `jwt-secret` forms, token verification with PostgREST's
//! errors, claim validation, `jwt-role-claim-key`, the cache of verified tokens. No I/O.

pub mod cache;
pub mod claims;
mod es;
pub mod keys;
pub mod role_path;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod verify;

pub use es::{Es384, Es512};
