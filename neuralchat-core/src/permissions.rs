//! Who may do what in a room. Pure rules, checked by the room actor for
//! every change on every path.

use crate::error::{ChatError, ChatResult, ErrorCode};

/// A member's role in a room, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// An ordinary member.
    Member,
    /// May set the topic, kick, ban, invite in private rooms.
    Moderator,
    /// The creator (or someone made owner): everything in the room.
    Owner,
}

impl Role {
    /// The role as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Moderator => "moderator",
            Self::Owner => "owner",
        }
    }

    /// Parses a stored role; unknown text counts as a plain member.
    pub fn parse(s: &str) -> Self {
        match s {
            "owner" => Self::Owner,
            "moderator" => Self::Moderator,
            _ => Self::Member,
        }
    }
}

/// Who is acting: their role in the room (if a member) and whether they are
/// a server admin (listed in the config), who may do everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The role in the room, if a member.
    pub role: Option<Role>,
    /// A server admin.
    pub admin: bool,
    /// Banned from the room (then never a member).
    pub banned: bool,
}

impl Standing {
    /// Requires at least `needed` (admins always pass).
    pub fn require(self, needed: Role, what: &str) -> ChatResult<()> {
        if self.admin || self.role.is_some_and(|r| r >= needed) {
            return Ok(());
        }
        if self.banned {
            return Err(ChatError::new(
                ErrorCode::Banned,
                "you are banned from the room",
            ));
        }
        if self.role.is_none() {
            return Err(ChatError::new(ErrorCode::NotMember, "join the room first"));
        }
        Err(ChatError::new(
            ErrorCode::Forbidden,
            format!("{what} needs the {} role", needed.as_str()),
        ))
    }

    /// Requires standing strictly above a target's role (admins always pass):
    /// a moderator cannot kick another moderator or the owner.
    pub fn require_above(self, target: Option<Role>, what: &str) -> ChatResult<()> {
        if self.admin {
            return Ok(());
        }
        match (self.role, target) {
            (Some(mine), Some(theirs)) if mine <= theirs => Err(ChatError::new(
                ErrorCode::Forbidden,
                format!("you cannot {what} a {}", theirs.as_str()),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(role: Role) -> Standing {
        Standing {
            role: Some(role),
            admin: false,
            banned: false,
        }
    }

    #[test]
    fn roles_rank() {
        assert!(Role::Owner > Role::Moderator && Role::Moderator > Role::Member);
        assert_eq!(Role::parse(Role::Moderator.as_str()), Role::Moderator);
    }

    #[test]
    fn require_checks_rank_membership_and_admin() {
        assert!(member(Role::Moderator)
            .require(Role::Moderator, "kick")
            .is_ok());
        assert_eq!(
            member(Role::Member)
                .require(Role::Moderator, "kick")
                .unwrap_err()
                .code,
            ErrorCode::Forbidden
        );
        let outsider = Standing {
            role: None,
            admin: false,
            banned: false,
        };
        assert_eq!(
            outsider.require(Role::Member, "talk").unwrap_err().code,
            ErrorCode::NotMember
        );
        let banned = Standing {
            banned: true,
            ..outsider
        };
        assert_eq!(
            banned.require(Role::Member, "talk").unwrap_err().code,
            ErrorCode::Banned
        );
        assert!(Standing {
            role: None,
            admin: true,
            banned: false,
        }
        .require(Role::Owner, "anything")
        .is_ok());
    }

    #[test]
    fn only_higher_ranks_act_on_lower() {
        assert!(member(Role::Moderator)
            .require_above(Some(Role::Member), "kick")
            .is_ok());
        assert!(member(Role::Moderator)
            .require_above(Some(Role::Moderator), "kick")
            .is_err());
        assert!(member(Role::Owner)
            .require_above(Some(Role::Moderator), "kick")
            .is_ok());
        assert!(member(Role::Moderator).require_above(None, "ban").is_ok());
    }
}
