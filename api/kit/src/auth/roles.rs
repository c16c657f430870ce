//! Roles (U1): citizen, merchant, moderator, resolver, admin.
//!
//! Every account holds `citizen` from creation. Admins grant and revoke the others through the
//! admin API (audited); the first admin comes from the one-time bootstrap command
//! (`posmul-api admin bootstrap --email …`). An admin passes every role check
//! ([`RoleSet::satisfies`]): admins can act as moderator, resolver or merchant.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One role. Stored as its lowercase name in `auth.user_roles.role`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Citizen,
    Merchant,
    Moderator,
    Resolver,
    Admin,
}

impl Role {
    /// Every role, in display order.
    pub const ALL: [Role; 5] = [
        Role::Citizen,
        Role::Merchant,
        Role::Moderator,
        Role::Resolver,
        Role::Admin,
    ];

    /// The stored and serialized name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Citizen => "citizen",
            Role::Merchant => "merchant",
            Role::Moderator => "moderator",
            Role::Resolver => "resolver",
            Role::Admin => "admin",
        }
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown role name.
#[derive(Debug, thiserror::Error)]
#[error("unknown role {0:?}; expected one of citizen, merchant, moderator, resolver, admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// A set of roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoleSet(u8);

impl RoleSet {
    pub const fn empty() -> Self {
        RoleSet(0)
    }

    pub fn insert(&mut self, role: Role) {
        self.0 |= role.bit();
    }

    pub fn contains(&self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    /// Holds `required`, or is admin.
    pub fn satisfies(&self, required: Role) -> bool {
        self.contains(required) || self.contains(Role::Admin)
    }

    /// The roles, in [`Role::ALL`] order.
    pub fn to_vec(&self) -> Vec<Role> {
        Role::ALL
            .into_iter()
            .filter(|r| self.contains(*r))
            .collect()
    }

    /// From stored names; unknown names are skipped (a newer binary may know more roles).
    pub fn from_names<I: IntoIterator<Item = S>, S: AsRef<str>>(names: I) -> Self {
        let mut set = RoleSet::empty();
        for n in names {
            if let Ok(r) = n.as_ref().parse() {
                set.insert(r);
            }
        }
        set
    }
}

impl FromIterator<Role> for RoleSet {
    fn from_iter<T: IntoIterator<Item = Role>>(iter: T) -> Self {
        let mut set = RoleSet::empty();
        for r in iter {
            set.insert(r);
        }
        set
    }
}

/// The roles of a user, read fresh from the database.
pub async fn load_roles(
    db: impl sqlx::PgExecutor<'_>,
    user_id: uuid::Uuid,
) -> Result<RoleSet, sqlx::Error> {
    let names = sqlx::query_scalar!(
        "SELECT role FROM auth.user_roles WHERE user_id = $1",
        user_id
    )
    .fetch_all(db)
    .await?;
    Ok(RoleSet::from_names(names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u1_an_admin_satisfies_every_role_check() {
        let admin: RoleSet = [Role::Citizen, Role::Admin].into_iter().collect();
        assert!(Role::ALL.iter().all(|r| admin.satisfies(*r)));
        let citizen: RoleSet = [Role::Citizen].into_iter().collect();
        assert!(citizen.satisfies(Role::Citizen));
        assert!(!citizen.satisfies(Role::Moderator));
    }

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
