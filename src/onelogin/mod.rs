//! A client for the OneLogin API v2, written to its documented contract: token from
//! `/auth/oauth2/v2/token`, cursor pagination, three error shapes, rate-limit headers.

pub mod apps;
pub mod budget;
pub mod client;
pub mod error;
pub mod roles;
pub mod users;

pub use apps::{App, AppSummary, ObservedParameter};
pub use budget::RateBudget;
pub use client::{ClientOptions, Credentials, OneLoginClient};
pub use error::OneLoginError;
pub use roles::Role;
pub use users::{LoginField, User};
