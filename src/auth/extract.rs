//! `Authorized<P>`: the extractor that authenticates a request and checks that the
//! caller holds permission `P`, before the handler runs.
//!
//! 401 when the credential is missing or not valid; 403 when it is valid but lacks
//! the role or scope; 429 when the tenant is over its rate limit.

use super::opaque;
use super::permission::Permission;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use switchboard_actors::store::{ApiKey, AuditActor, User};
use switchboard_actors::{Millis, RefreshFamilyId, Role, TenantId, UserId, UserStatus};

/// Who is calling, once authenticated.
#[derive(Debug, Clone)]
pub enum Caller {
    User(User),
    ApiKey(ApiKey),
}

impl Caller {
    pub fn tenant_id(&self) -> TenantId {
        match self {
            Caller::User(user) => user.tenant_id,
            Caller::ApiKey(key) => key.tenant_id,
        }
    }

    /// The person acting, when it is one (not an API key).
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Caller::User(user) => Some(user.id),
            Caller::ApiKey(_) => None,
        }
    }

    pub fn audit_actor(&self) -> AuditActor {
        match self {
            Caller::User(user) => AuditActor::User(user.id),
            Caller::ApiKey(key) => AuditActor::ApiKey(key.id),
        }
    }

    /// The rank used when the caller manages other users. A key with `users:write`
    /// acts as an admin: it can manage roles below admin, never admins or owners.
    pub fn rank(&self) -> Role {
        match self {
            Caller::User(user) => user.role,
            Caller::ApiKey(_) => Role::Admin,
        }
    }
}

pub struct Authorized<P: Permission> {
    pub caller: Caller,
    permission: PhantomData<P>,
}

impl<P: Permission> FromRequest for Authorized<P> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let bearer = bearer_token(req);
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::internal("application state is not registered"))?;
            let token = bearer.ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthenticated,
                    "send a bearer token in the Authorization header",
                )
            })?;
            let caller = authenticate(&state, &token).await?;
            state.limits.check_tenant(caller.tenant_id())?;
            authorize::<P>(&caller)?;
            Ok(Authorized {
                caller,
                permission: PhantomData,
            })
        })
    }
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

async fn authenticate(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    if opaque::is_api_key(token) {
        let invalid = || {
            ApiError::new(
                ErrorCode::InvalidToken,
                "the API key is unknown, revoked or expired",
            )
        };
        let (tenant, hash) = opaque::parse(opaque::Kind::ApiKey, token).ok_or_else(invalid)?;
        let key = state
            .store
            .api_key_by_hash(tenant, &hash)
            .await?
            .ok_or_else(invalid)?;
        let now = Millis::now();
        let live = key.revoked_at.is_none() && key.expires_at.is_none_or(|at| at > now);
        return if live {
            Ok(Caller::ApiKey(key))
        } else {
            Err(invalid())
        };
    }
    user_from_access_token(state, token)
        .await
        .map(|signed_in| Caller::User(signed_in.user))
}

/// A person behind a valid access token.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    /// The sign-in (refresh-token family) the token was issued under.
    pub sign_in: RefreshFamilyId,
    pub expires_at: Millis,
}

/// The active user an access token names, while the sign-in it was issued under
/// holds: how REST calls and WebSocket connections authenticate a person.
pub async fn user_from_access_token(state: &AppState, token: &str) -> Result<SignedIn, ApiError> {
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidToken,
            "the access token is invalid or expired",
        )
    };
    let verified = state.tokens.verify(token).ok_or_else(invalid)?;
    let (user, live) = state
        .store
        .user_with_sign_in(verified.tenant, verified.user, verified.sign_in)
        .await?
        .ok_or_else(invalid)?;
    if user.status != UserStatus::Active {
        return Err(ApiError::new(
            ErrorCode::InvalidToken,
            "this account is not active",
        ));
    }
    if !live {
        return Err(ApiError::new(
            ErrorCode::InvalidToken,
            "this sign-in has ended (signed out, or the password was changed); sign in again",
        ));
    }
    Ok(SignedIn {
        user,
        sign_in: verified.sign_in,
        expires_at: verified.expires_at,
    })
}

fn authorize<P: Permission>(caller: &Caller) -> Result<(), ApiError> {
    match caller {
        Caller::User(user) if user.role >= P::ROLE => Ok(()),
        Caller::User(user) => Err(ApiError::forbidden(format!(
            "{} needs the {} role or higher; you are {}",
            P::ACTION,
            P::ROLE.as_str(),
            user.role.as_str()
        ))),
        Caller::ApiKey(key) => match P::SCOPE {
            Some(scope) if key.scopes.contains(&scope) => Ok(()),
            Some(scope) => Err(ApiError::forbidden(format!(
                "{} needs an API key with the {} scope",
                P::ACTION,
                scope.as_str()
            ))),
            None => Err(ApiError::forbidden(format!(
                "{} is not open to API keys; sign in as a user",
                P::ACTION
            ))),
        },
    }
}
