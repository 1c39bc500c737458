//! First start: a database with no tenant gets one, with an owner who can sign in.
//! The credentials are returned to `main`, which prints them once.

use crate::auth::opaque;
use crate::auth::password;
use crate::config::{BootstrapConfig, Secret};
use crate::error::ApiError;
use switchboard_actors::store::{AuditActor, AuditEntry, Store, Tenant, User};
use switchboard_actors::{AuditId, Email, Millis, Role, TenantId, UserId, UserStatus};

/// The owner created at first start.
#[derive(Debug)]
pub struct FirstOwner {
    pub tenant_slug: String,
    pub email: String,
    pub password: Secret,
    /// Whether the password was generated (and so must be shown) or configured.
    pub generated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("bootstrap.{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("creating the first tenant failed: {0}")]
    Failed(String),
}

impl From<ApiError> for BootstrapError {
    fn from(err: ApiError) -> Self {
        BootstrapError::Failed(err.message)
    }
}

pub async fn first_start(
    store: &dyn Store,
    config: &BootstrapConfig,
) -> Result<Option<FirstOwner>, BootstrapError> {
    if !config.enabled {
        return Ok(None);
    }
    let email = Email::parse(&config.owner_email).map_err(|err| BootstrapError::Invalid {
        field: "owner_email",
        message: err.0,
    })?;
    let (password, generated) = if config.owner_password.is_set() {
        (config.owner_password.clone(), false)
    } else {
        let random =
            opaque::random_text().map_err(|err| BootstrapError::Failed(err.to_string()))?;
        (Secret::new(random), true)
    };
    let context = vec![config.owner_email.clone(), config.tenant_slug.clone()];
    let hash = password::hash(password.expose().to_owned(), context)
        .await
        .map_err(|err| BootstrapError::Invalid {
            field: "owner_password",
            message: err.message,
        })?;
    let now = Millis::now();
    let tenant = Tenant {
        id: TenantId::new(),
        slug: config.tenant_slug.clone(),
        name: config.tenant_name.clone(),
        created_at: now,
    };
    let owner = User {
        tenant_id: tenant.id,
        id: UserId::new(),
        email: email.clone(),
        name: "Owner".into(),
        role: Role::Owner,
        status: UserStatus::Active,
        password_hash: Some(hash),
        created_at: now,
        updated_at: now,
    };
    let created = store
        .create_first_tenant(&tenant, &owner)
        .await
        .map_err(|err| BootstrapError::Failed(err.to_string()))?;
    if !created {
        return Ok(None);
    }
    let entry = AuditEntry {
        tenant_id: tenant.id,
        id: AuditId::new(),
        at: now,
        actor: AuditActor::System,
        action: "tenant.bootstrap".into(),
        target_type: Some("user".into()),
        target_id: Some(owner.id.to_string()),
        ip: None,
        request_id: None,
        details: serde_json::json!({ "email": email, "generated_password": generated }),
    };
    if let Err(err) = store.append_audit(&entry).await {
        tracing::error!(error = %err, "audit row for the first tenant was not written");
    }
    Ok(Some(FirstOwner {
        tenant_slug: tenant.slug,
        email: email.to_string(),
        password,
        generated,
    }))
}
