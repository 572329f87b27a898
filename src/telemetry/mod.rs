//! Plumbing apart from the domain: metrics, the AWS call counter, the health server.

pub mod aws_calls;
pub mod metrics;
pub mod server;

pub use metrics::metrics;
