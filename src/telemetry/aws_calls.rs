//! Counts every AWS SDK attempt by service, operation and outcome, for `/metrics`.

use aws_sdk_iam::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_iam::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

use super::metrics::{metrics, outcome_of};

#[derive(Debug, Default)]
pub struct CountCalls;

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_string(), m.name().to_string()))
            .unwrap_or_else(|| ("aws".into(), "unknown".into()));
        let status = context.response().map(|r| r.status().as_u16());
        metrics().external_call(&service.to_lowercase(), &operation, outcome_of(status));
        Ok(())
    }
}
