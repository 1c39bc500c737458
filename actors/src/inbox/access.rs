//! What an open connection may do, and how changes to a user's access reach it.
//!
//! A socket is authenticated once, at connect, but a user's access changes while it is
//! open: an admin demotes or deactivates them, they sign out, they change their
//! password. Each change is applied to that user's open connections at once, on every
//! node: the node that made it tells its tenant actor (and waits for it) and the other
//! nodes over the bus. The bus is a speed path only, so each tenant actor with
//! connections also reads its users' access from the store every
//! `InboxSettings::access_recheck` and applies what the bus may have lost.

use crate::{RefreshFamilyId, Role, UserId, UserStatus};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// The role an open connection acts with. Shared by the connection, which reads it
/// before every action, and its tenant actor, which changes it, so a demotion holds
/// for the very next frame.
#[derive(Debug)]
pub struct Grant(AtomicU8);

impl Grant {
    pub fn new(role: Role) -> Arc<Self> {
        Arc::new(Self(AtomicU8::new(rank(role))))
    }

    pub fn role(&self) -> Role {
        let rank = usize::from(self.0.load(Ordering::Acquire));
        Role::ALL.get(rank).copied().unwrap_or(Role::Viewer)
    }

    pub fn set(&self, role: Role) {
        self.0.store(rank(role), Ordering::Release);
    }
}

fn rank(role: Role) -> u8 {
    Role::ALL
        .iter()
        .position(|r| *r == role)
        .and_then(|p| u8::try_from(p).ok())
        .unwrap_or(0)
}

/// A change to one user's access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessChange {
    /// The user's role is now this; open connections act with it from now on.
    Role(Role),
    /// The user may no longer sign in (deactivated): every connection closes.
    Revoked,
    /// These sign-ins ended (sign-out, a reused refresh token): their connections close.
    SignedOut(Vec<RefreshFamilyId>),
    /// Every sign-in but this one ended (a password change): the others' connections
    /// close.
    SignedOutExcept(RefreshFamilyId),
}

/// What becomes of one connection of the user a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Close,
    SetRole(Role),
}

impl AccessChange {
    /// The verdict for a connection authenticated by sign-in `sign_in`.
    pub fn verdict(&self, sign_in: RefreshFamilyId) -> Verdict {
        match self {
            AccessChange::Role(role) => Verdict::SetRole(*role),
            AccessChange::Revoked => Verdict::Close,
            AccessChange::SignedOut(ended) if ended.contains(&sign_in) => Verdict::Close,
            AccessChange::SignedOutExcept(kept) if *kept != sign_in => Verdict::Close,
            AccessChange::SignedOut(_) | AccessChange::SignedOutExcept(_) => Verdict::Keep,
        }
    }
}

/// A user's access as the store has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserAccess {
    pub user: UserId,
    pub role: Role,
    pub status: UserStatus,
}

/// What the store says of a tenant's access, for the periodic check: every user's
/// role and status, and the sign-ins ended since a given time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessSnapshot {
    pub users: Vec<UserAccess>,
    pub ended: HashSet<RefreshFamilyId>,
}

impl AccessSnapshot {
    /// The verdict for a connection of `user` by sign-in `sign_in` now acting as
    /// `role`: closed when the user is gone or not active or the sign-in ended.
    pub fn verdict(&self, user: UserId, sign_in: RefreshFamilyId, role: Role) -> Verdict {
        let Some(access) = self.users.iter().find(|a| a.user == user) else {
            return Verdict::Close;
        };
        if access.status != UserStatus::Active || self.ended.contains(&sign_in) {
            Verdict::Close
        } else if access.role != role {
            Verdict::SetRole(access.role)
        } else {
            Verdict::Keep
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_holds_every_role() {
        let grant = Grant::new(Role::Agent);
        for role in Role::ALL {
            grant.set(role);
            assert_eq!(grant.role(), role);
        }
    }

    #[test]
    fn sign_outs_close_only_the_sign_ins_they_name() {
        let (mine, other) = (RefreshFamilyId::new(), RefreshFamilyId::new());
        assert_eq!(
            AccessChange::SignedOut(vec![mine]).verdict(mine),
            Verdict::Close
        );
        assert_eq!(
            AccessChange::SignedOut(vec![mine]).verdict(other),
            Verdict::Keep
        );
        assert_eq!(
            AccessChange::SignedOutExcept(mine).verdict(mine),
            Verdict::Keep
        );
        assert_eq!(
            AccessChange::SignedOutExcept(mine).verdict(other),
            Verdict::Close
        );
        assert_eq!(AccessChange::Revoked.verdict(mine), Verdict::Close);
        assert_eq!(
            AccessChange::Role(Role::Viewer).verdict(mine),
            Verdict::SetRole(Role::Viewer)
        );
    }

    #[test]
    fn the_store_snapshot_closes_gone_inactive_and_signed_out_connections() {
        let (user, stranger) = (UserId::new(), UserId::new());
        let (sign_in, ended) = (RefreshFamilyId::new(), RefreshFamilyId::new());
        let snapshot = |status| AccessSnapshot {
            users: vec![UserAccess {
                user,
                role: Role::Viewer,
                status,
            }],
            ended: [ended].into(),
        };
        let active = snapshot(UserStatus::Active);
        assert_eq!(active.verdict(user, sign_in, Role::Viewer), Verdict::Keep);
        assert_eq!(
            active.verdict(user, sign_in, Role::Agent),
            Verdict::SetRole(Role::Viewer)
        );
        assert_eq!(active.verdict(user, ended, Role::Viewer), Verdict::Close);
        assert_eq!(
            active.verdict(stranger, sign_in, Role::Viewer),
            Verdict::Close
        );
        assert_eq!(
            snapshot(UserStatus::Deactivated).verdict(user, sign_in, Role::Viewer),
            Verdict::Close
        );
    }
}
