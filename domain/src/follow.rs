//! Who follows whom.

use crate::user::UserId;

/// One user following another; never oneself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Follow {
    follower: UserId,
    followee: UserId,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("you cannot follow yourself")]
pub struct SelfFollowError;

impl Follow {
    /// # Errors
    /// `SelfFollowError` when both are the same user.
    pub fn new(follower: UserId, followee: UserId) -> Result<Self, SelfFollowError> {
        if follower == followee { Err(SelfFollowError) } else { Ok(Self { follower, followee }) }
    }

    #[must_use]
    pub const fn follower(&self) -> UserId {
        self.follower
    }

    #[must_use]
    pub const fn followee(&self) -> UserId {
        self.followee
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_follows_themselves() {
        let me = UserId::generate();
        assert_eq!(Follow::new(me, me), Err(SelfFollowError));
        let other = UserId::generate();
        let follow = Follow::new(me, other).unwrap();
        assert_eq!((follow.follower(), follow.followee()), (me, other));
    }
}
