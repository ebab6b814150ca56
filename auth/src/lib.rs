//! pgmesh's identity core, pure and shared by the filter, the configuration check and the
//! JavaScript edge: PostgREST's `jwt-secret` forms, token verification with PostgREST's
//! errors, claim validation, `jwt-role-claim-key`, the cache of verified tokens. No I/O.

pub mod cache;
pub mod claims;
pub mod role_path;
