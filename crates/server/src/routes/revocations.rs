//! `GET /v1/revocations`: the revocation feed resource servers poll, so that they refuse the
//! access tokens of revoked sessions before those expire (docs/resource-servers.md).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::extract::FeedReader;
use crate::openapi::error_answers;
use crate::state::AppState;

/// `?since=CURSOR`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The `cursor` of the previous answer; without it, the whole live list (`reset`).
    since: Option<String>,
}

/// One revoked session.
#[derive(Serialize, ToSchema)]
pub struct FeedEntry {
    /// The session id: refuse access tokens whose `sid` is this.
    sid: String,
    /// Unix seconds after which no access token of the session can verify anyway (its last
    /// token's `exp` plus the server's leeway): drop the entry then.
    until: i64,
}

/// An answer of the feed.
#[derive(Serialize, ToSchema)]
pub struct RevocationFeed {
    /// Opaque: pass it back as `since`. Any replica continues from any replica's cursor.
    cursor: String,
    /// Revoked sessions whose tokens may still be alive. After `since`, the ones that may
    /// have been revoked since (an entry may come twice); otherwise all of them.
    revocations: Vec<FeedEntry>,
    /// Present (`true`) when this is the whole live list: replace the set you hold.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schema(value_type = Option<bool>)]
    reset: bool,
}

error_answers!(
    FeedErrors = [
        InvalidCursor,
        InvalidRevocationsToken,
        FeedDisabled,
        Internal,
        Unavailable,
    ]
);

/// 200 the feed; 400 for a malformed cursor; 401/403 for the credential.
#[utoipa::path(
    get,
    path = "/v1/revocations",
    tag = "resource servers",
    operation_id = "revocation_feed",
    summary = "The revocation feed",
    description = "Sessions revoked while their access tokens may still be alive, for \
        resource servers that verify tokens themselves. Poll it (every few seconds) passing \
        the last `cursor` you got as `since`: you never miss a revocation, whichever replica \
        answers and in whatever order concurrent revocations commit; an entry may come twice. \
        Without `since`, or when a cursor cannot be continued (another database), the answer \
        is the whole list with `reset: true`. Entries past `until` are left out.",
    params(FeedQuery),
    security(("revocations_token" = []), ("admin_token" = [])),
    responses(
        (status = 200, description = "The feed.", body = RevocationFeed,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        FeedErrors,
    ),
)]
pub async fn revocations(
    State(state): State<AppState>,
    _reader: FeedReader,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|_| ApiError::invalid_request("malformed query: expected ?since=CURSOR"))?;
    let answer = state.auth().revocation_feed(query.since.as_deref()).await?;
    let body = RevocationFeed {
        cursor: answer.cursor,
        revocations: answer
            .revocations
            .into_iter()
            .map(|(sid, until)| FeedEntry {
                sid: sid.into_string(),
                until,
            })
            .collect(),
        reset: answer.reset,
    };
    Ok((
        [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(body),
    )
        .into_response())
}
