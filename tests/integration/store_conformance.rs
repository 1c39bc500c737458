//! The conformance suite of the `Store` port: the same assertions against SQLite and
//! Postgres, through the trait only.

use crate::common;

use common::{Backend, open_store as open};
use switchboard_actors::store::{
    ApiKey, AuditActor, AuditEntry, Invitation, NextRefreshToken, RefreshRotation, RefreshToken,
    Store, StoreError, Tenant, TokenHash, User, UserChange,
};
use switchboard_actors::{
    ApiKeyId, AuditId, Email, Millis, RefreshFamilyId, RefreshTokenId, Role, Scope, TenantId,
    UserId, UserStatus,
};

fn tenant(slug: &str) -> Tenant {
    Tenant {
        id: TenantId::new(),
        slug: slug.into(),
        name: slug.into(),
        created_at: Millis(1_000),
    }
}

fn user(tenant: &Tenant, email: &str, role: Role) -> User {
    User {
        tenant_id: tenant.id,
        id: UserId::new(),
        email: Email::parse(email).unwrap(),
        name: email.into(),
        role,
        status: UserStatus::Active,
        password_hash: Some("$argon2id$stub".into()),
        created_at: Millis(1_000),
        updated_at: Millis(1_000),
    }
}

fn hash(byte: u8) -> TokenHash {
    TokenHash([byte; 32])
}

async fn two_tenants(store: &dyn Store) -> ((Tenant, User), (Tenant, User)) {
    let (a, b) = (tenant("alpha"), tenant("beta"));
    let (owner_a, owner_b) = (
        user(&a, "owner@alpha.test", Role::Owner),
        user(&b, "owner@beta.test", Role::Owner),
    );
    store.create_tenant(&a, &owner_a).await.unwrap();
    store.create_tenant(&b, &owner_b).await.unwrap();
    ((a, owner_a), (b, owner_b))
}

async fn every_lookup_is_confined_to_its_tenant(backend: Backend) {
    let (store, _db) = open(backend).await;
    let ((a, owner_a), (b, owner_b)) = two_tenants(store.as_ref()).await;
    assert_eq!(
        store.user(a.id, owner_a.id).await.unwrap(),
        Some(owner_a.clone())
    );
    assert_eq!(store.user(b.id, owner_a.id).await.unwrap(), None);
    assert_eq!(
        store.user_by_email(b.id, &owner_a.email).await.unwrap(),
        None
    );
    assert_eq!(store.users(a.id).await.unwrap(), vec![owner_a.clone()]);
    let change = UserChange {
        name: Some("hijacked".into()),
        ..UserChange::default()
    };
    assert!(
        store
            .update_user(b.id, owner_a.id, &change, Millis(2_000))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.user(a.id, owner_a.id).await.unwrap().unwrap().name,
        owner_a.name
    );
    assert_eq!(
        store.tenant_by_slug("beta").await.unwrap().map(|t| t.id),
        Some(b.id)
    );
    assert_eq!(store.tenant(a.id).await.unwrap(), Some(a.clone()));

    let key = ApiKey {
        tenant_id: a.id,
        id: ApiKeyId::new(),
        name: "k".into(),
        hint: "abcdef".into(),
        scopes: vec![Scope::UsersRead, Scope::AuditRead],
        created_by: owner_a.id,
        created_at: Millis(1_000),
        expires_at: None,
        revoked_at: None,
    };
    store.create_api_key(&key, &hash(7)).await.unwrap();
    assert_eq!(
        store.api_key_by_hash(a.id, &hash(7)).await.unwrap(),
        Some(key.clone())
    );
    assert_eq!(store.api_key_by_hash(b.id, &hash(7)).await.unwrap(), None);
    assert!(
        !store
            .revoke_api_key(b.id, key.id, Millis(3_000))
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke_api_key(a.id, key.id, Millis(3_000))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_api_key(a.id, key.id, Millis(4_000))
            .await
            .unwrap(),
        "revoking twice is a no-op"
    );
    assert_eq!(
        store.api_keys(a.id).await.unwrap()[0].revoked_at,
        Some(Millis(3_000))
    );
    assert!(store.api_keys(b.id).await.unwrap().is_empty());
    let _ = owner_b;
}

async fn uniqueness_rules_surface_as_conflicts(backend: Backend) {
    let (store, _db) = open(backend).await;
    let ((a, owner_a), _) = two_tenants(store.as_ref()).await;
    let same_slug = tenant("alpha");
    let err = store
        .create_tenant(&same_slug, &user(&same_slug, "x@alpha.test", Role::Owner))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(
        store
            .tenant_by_slug("alpha")
            .await
            .unwrap()
            .is_some_and(|t| t.id == a.id),
        "the failed tenant left nothing"
    );
    let twin = user(&a, owner_a.email.as_str(), Role::Agent);
    assert!(matches!(
        store.create_user(&twin, None).await.unwrap_err(),
        StoreError::Conflict(_)
    ));
}

fn refresh(tenant: &Tenant, user: &User, family: RefreshFamilyId, expires_at: i64) -> RefreshToken {
    RefreshToken {
        tenant_id: tenant.id,
        id: RefreshTokenId::new(),
        user_id: user.id,
        family_id: family,
        created_at: Millis(1_000),
        expires_at: Millis(expires_at),
    }
}

fn next(byte: u8) -> NextRefreshToken {
    NextRefreshToken {
        id: RefreshTokenId::new(),
        hash: hash(byte),
        expires_at: Millis(100_000),
    }
}

async fn refresh_tokens_rotate_once_and_a_replay_revokes_the_family(backend: Backend) {
    let (store, _db) = open(backend).await;
    let ((a, owner), (b, _)) = two_tenants(store.as_ref()).await;
    let family = RefreshFamilyId::new();
    store
        .insert_refresh_token(&refresh(&a, &owner, family, 50_000), &hash(1))
        .await
        .unwrap();

    assert_eq!(
        store
            .rotate_refresh_token(b.id, &hash(1), &next(9), Millis(2_000))
            .await
            .unwrap(),
        RefreshRotation::Invalid
    );
    let rotated = store
        .rotate_refresh_token(a.id, &hash(1), &next(2), Millis(2_000))
        .await
        .unwrap();
    assert_eq!(
        rotated,
        RefreshRotation::Rotated {
            user_id: owner.id,
            family_id: family
        }
    );
    let replay = store
        .rotate_refresh_token(a.id, &hash(1), &next(3), Millis(3_000))
        .await
        .unwrap();
    assert_eq!(
        replay,
        RefreshRotation::Reused {
            user_id: owner.id,
            family_id: family
        }
    );
    assert_eq!(
        store
            .rotate_refresh_token(a.id, &hash(2), &next(4), Millis(3_000))
            .await
            .unwrap(),
        RefreshRotation::Invalid
    );
    assert_eq!(
        store
            .rotate_refresh_token(a.id, &hash(99), &next(5), Millis(3_000))
            .await
            .unwrap(),
        RefreshRotation::Invalid
    );

    // Expiry and logout.
    store
        .insert_refresh_token(
            &refresh(&a, &owner, RefreshFamilyId::new(), 5_000),
            &hash(10),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .rotate_refresh_token(a.id, &hash(10), &next(11), Millis(5_000))
            .await
            .unwrap(),
        RefreshRotation::Invalid
    );
    let signed_out = RefreshFamilyId::new();
    store
        .insert_refresh_token(&refresh(&a, &owner, signed_out, 50_000), &hash(20))
        .await
        .unwrap();
    assert_eq!(
        store
            .user_with_sign_in(a.id, owner.id, signed_out)
            .await
            .unwrap()
            .map(|(_, live)| live),
        Some(true)
    );
    assert_eq!(
        store
            .revoke_refresh_family_of(a.id, &hash(20), Millis(4_000))
            .await
            .unwrap(),
        Some(signed_out)
    );
    assert_eq!(
        store
            .revoke_refresh_family_of(a.id, &hash(20), Millis(4_000))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .user_with_sign_in(a.id, owner.id, signed_out)
            .await
            .unwrap()
            .map(|(_, live)| live),
        Some(false),
        "a signed-out family no longer holds"
    );
    assert_eq!(
        store
            .rotate_refresh_token(a.id, &hash(20), &next(21), Millis(4_000))
            .await
            .unwrap(),
        RefreshRotation::Invalid
    );
}

async fn two_simultaneous_uses_of_one_refresh_token_rotate_at_most_once(backend: Backend) {
    let (store, _db) = open(backend).await;
    let ((a, owner), _) = two_tenants(store.as_ref()).await;
    store
        .insert_refresh_token(
            &refresh(&a, &owner, RefreshFamilyId::new(), 50_000),
            &hash(1),
        )
        .await
        .unwrap();
    let uses: Vec<_> = (0..8u8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .rotate_refresh_token(a.id, &hash(1), &next(100 + i), Millis(2_000))
                    .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in uses {
        outcomes.push(task.await.unwrap().unwrap());
    }
    let rotated = outcomes
        .iter()
        .filter(|o| matches!(o, RefreshRotation::Rotated { .. }))
        .count();
    assert_eq!(rotated, 1, "{outcomes:?}");
    // Every loser saw a spent token: a replay, which revoked the family.
    assert!(
        outcomes
            .iter()
            .all(|o| !matches!(o, RefreshRotation::Invalid)),
        "{outcomes:?}"
    );
}

async fn a_tenant_always_keeps_an_active_owner_even_under_concurrent_demotions(backend: Backend) {
    let (store, _db) = open(backend).await;
    let ((a, first), _) = two_tenants(store.as_ref()).await;
    let second = user(&a, "second@alpha.test", Role::Owner);
    store.create_user(&second, None).await.unwrap();
    let demote = UserChange {
        role: Some(Role::Admin),
        ..UserChange::default()
    };
    let (x, y) = tokio::join!(
        store.update_user(a.id, first.id, &demote, Millis(2_000)),
        store.update_user(a.id, second.id, &demote, Millis(2_000)),
    );
    let results = [x, y];
    assert_eq!(
        results.iter().filter(|r| matches!(r, Ok(Some(_)))).count(),
        1,
        "{results:?}"
    );
    assert_eq!(
        results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::LastOwner)))
            .count(),
        1,
        "{results:?}"
    );
    let owners = store
        .users(a.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.role == Role::Owner)
        .count();
    assert_eq!(owners, 1);
}

async fn invitations_activate_once_and_expire(backend: Backend) {
    let (store, _db) = open(backend).await;
    let ((a, _), (b, _)) = two_tenants(store.as_ref()).await;
    let mut invited = user(&a, "new@alpha.test", Role::Agent);
    invited.status = UserStatus::Invited;
    invited.password_hash = None;
    store
        .create_user(
            &invited,
            Some(&Invitation {
                token_hash: hash(5),
                expires_at: Millis(10_000),
            }),
        )
        .await
        .unwrap();
    assert!(
        store
            .accept_invitation(b.id, &hash(5), "h", Millis(2_000))
            .await
            .unwrap()
            .is_none()
    );
    let active = store
        .accept_invitation(a.id, &hash(5), "h", Millis(2_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (active.status, active.password_hash.as_deref()),
        (UserStatus::Active, Some("h"))
    );
    assert!(
        store
            .accept_invitation(a.id, &hash(5), "h2", Millis(3_000))
            .await
            .unwrap()
            .is_none()
    );

    let mut late = user(&a, "late@alpha.test", Role::Agent);
    late.status = UserStatus::Invited;
    store
        .create_user(
            &late,
            Some(&Invitation {
                token_hash: hash(6),
                expires_at: Millis(10_000),
            }),
        )
        .await
        .unwrap();
    assert!(
        store
            .accept_invitation(a.id, &hash(6), "h", Millis(10_000))
            .await
            .unwrap()
            .is_none()
    );
}

async fn the_audit_log_pages_newest_first(backend: Backend) {
    let (store, _db) = open(backend).await;
    let ((a, owner), (b, _)) = two_tenants(store.as_ref()).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let entry = AuditEntry {
            tenant_id: a.id,
            id: AuditId::new(),
            at: Millis(1_000 + i),
            actor: if i % 2 == 0 {
                AuditActor::User(owner.id)
            } else {
                AuditActor::System
            },
            action: format!("test.{i}"),
            target_type: Some("user".into()),
            target_id: Some(owner.id.to_string()),
            ip: Some("192.0.2.1".into()),
            request_id: Some(format!("req-{i}")),
            details: serde_json::json!({ "n": i }),
        };
        store.append_audit(&entry).await.unwrap();
        ids.push(entry);
    }
    let first = store.audit_log(a.id, None, 2).await.unwrap();
    assert_eq!(first, vec![ids[4].clone(), ids[3].clone()]);
    let second = store.audit_log(a.id, Some(first[1].id), 2).await.unwrap();
    assert_eq!(second, vec![ids[2].clone(), ids[1].clone()]);
    let last = store.audit_log(a.id, Some(second[1].id), 2).await.unwrap();
    assert_eq!(last, vec![ids[0].clone()]);
    assert!(store.audit_log(b.id, None, 10).await.unwrap().is_empty());
}

async fn the_first_tenant_is_created_only_in_an_empty_database(backend: Backend) {
    let (store, _db) = open(backend).await;
    let first = tenant("first");
    assert!(
        store
            .create_first_tenant(&first, &user(&first, "o@first.test", Role::Owner))
            .await
            .unwrap()
    );
    let second = tenant("second");
    assert!(
        !store
            .create_first_tenant(&second, &user(&second, "o@second.test", Role::Owner))
            .await
            .unwrap()
    );
    assert!(store.tenant_by_slug("second").await.unwrap().is_none());
    store.ping().await.unwrap();
}

on_both_backends!(
    every_lookup_is_confined_to_its_tenant,
    uniqueness_rules_surface_as_conflicts,
    refresh_tokens_rotate_once_and_a_replay_revokes_the_family,
    two_simultaneous_uses_of_one_refresh_token_rotate_at_most_once,
    a_tenant_always_keeps_an_active_owner_even_under_concurrent_demotions,
    invitations_activate_once_and_expire,
    the_audit_log_pages_newest_first,
    the_first_tenant_is_created_only_in_an_empty_database,
);
