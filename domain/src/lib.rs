//! The core of the social network: entities, validated value objects, events.
//!
//! Nothing here performs I/O or knows a framework: once a value of one of these
//! types exists, it is valid, and no layer above needs to check it again.

#[macro_use]
mod id;

pub mod event;
pub mod follow;
pub mod notification;
pub mod post;
pub mod text;
pub mod user;

pub use event::{DomainEvent, Envelope};
pub use follow::{Follow, SelfFollowError};
pub use notification::{Notification, NotificationKind};
pub use post::{Author, Mention, Post, PostContent, PostContentError, PostId};
pub use text::{ContainsNul, storable};
pub use user::{
    Bio, BioError, DisplayName, DisplayNameError, Email, EmailError, Password, PasswordError, Role, RoleError, User,
    UserId, Username, UsernameError,
};
