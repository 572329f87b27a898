//! Leader election: replicas share one Lease and only its holder runs the controllers.

use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};

use crate::controller::MANAGER;

/// The Lease every replica of the operator competes for.
pub const LEASE_NAME: &str = MANAGER;

/// A manager for `lease_name` in `namespace`, acting as `identity`.
///
/// Taking a free Lease is a server-side apply, and only distinct field managers make two
/// simultaneous takers conflict; a shared one lets both believe they won.
pub async fn lease_manager(
    client: kube::Client,
    namespace: &str,
    lease_name: &str,
    identity: &str,
) -> Result<LeaseManager, LeaseManagerError> {
    LeaseManagerBuilder::new(client, lease_name)
        .with_namespace(namespace)
        .with_identity(identity)
        .with_field_manager(format!("{MANAGER}-{identity}"))
        .build()
        .await
}
