//! Pure conversation logic: no tonic, no sqlx. Scenarios, CEFR levels, the
//! records the service keeps, validation, and the tutor's prompt.

pub mod cefr;
pub mod model;
pub mod prompt;
pub mod scenario;
pub mod validate;

pub use cefr::CefrLevel;
pub use model::{
    Learner, Message, MessageRole, MessageStatus, ProfileUpdate, Session, TutorReply, Usage,
};
pub use scenario::{Catalogue, Scenario};
