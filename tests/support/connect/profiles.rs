//! ListSecurityProfiles and ListRoutingProfiles (read-only; seeded through the handle).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};

use super::errors::{ApiError, ApiResult};
use super::pagination;
use super::state::{ProfileKind, Shared, lock};
use super::wire::{ListQuery, epoch};

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

pub async fn list_security(
    state: State<Shared>,
    path: Path<String>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    list(state, path, query, ProfileKind::Security).await
}

pub async fn list_routing(
    state: State<Shared>,
    path: Path<String>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    list(state, path, query, ProfileKind::Routing).await
}

async fn list(
    State(shared): State<Shared>,
    Path(instance_id): Path<String>,
    query: Result<Query<ListQuery>, QueryRejection>,
    kind: ProfileKind,
) -> ApiResult<Json<Value>> {
    let Query(query) = query.map_err(|e| ApiError::invalid_parameter(e.body_text()))?;
    let (operation, list_member) = match kind {
        ProfileKind::Security => ("ListSecurityProfiles", "SecurityProfileSummaryList"),
        ProfileKind::Routing => ("ListRoutingProfiles", "RoutingProfileSummaryList"),
    };
    let store = lock(&shared);
    let inst = store
        .instance(&instance_id)
        .ok_or_else(|| ApiError::no_instance(&instance_id))?;
    let size = pagination::page_size(query.max_results, DEFAULT_PAGE, MAX_PAGE)?;
    let after = pagination::decode(query.next_token.as_deref(), operation, &inst.id)?;
    let profiles = match kind {
        ProfileKind::Security => &inst.security_profiles,
        ProfileKind::Routing => &inst.routing_profiles,
    };
    let items = profiles.iter().map(|p| {
        let mut summary = json!({
            "Id": p.id,
            "Arn": p.arn,
            "Name": p.name,
            "LastModifiedTime": epoch(p.last_modified),
            "LastModifiedRegion": inst.region,
        });
        if kind == ProfileKind::Security {
            summary["Type"] = json!("CUSTOMER_MANAGED");
        }
        (p.seq, summary)
    });
    let (page, next) = pagination::page(items, after, size, operation, &inst.id);
    let mut body = json!({ list_member: page });
    if let Some(token) = next {
        body["NextToken"] = json!(token);
    }
    Ok(Json(body))
}
