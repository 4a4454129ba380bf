//! What can go wrong in a call, mapped to the shared error vocabulary by the adapter.

use crate::domain::validate::Invalid;
use crate::storage::StorageError;
use service_kit::{ErrorCode, ServiceError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("{0}")]
    Invalid(String),
    /// No such session for this learner (another learner's is the same).
    #[error("{0}")]
    NotFound(String),
    /// The message with this client id is still being answered.
    #[error("{0}")]
    InProgress(String),
    /// The client id was already used for a different message.
    #[error("{0}")]
    Conflict(String),
    /// The router could not answer (the learner's message is kept).
    #[error("{0}")]
    Router(ServiceError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the service is starting: the database is not ready yet")]
    Starting,
}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Self {
        Self::Invalid(e.0)
    }
}

impl Error {
    /// The shared code and a message safe to show. Storage details are logged,
    /// not returned.
    pub fn to_service_error(&self) -> ServiceError {
        match self {
            Self::Unauthenticated(m) => ServiceError::new(ErrorCode::Unauthenticated, *m),
            Self::Invalid(m) => ServiceError::invalid(m.clone()),
            Self::NotFound(m) => ServiceError::not_found(m.clone()),
            Self::InProgress(m) | Self::Conflict(m) => {
                ServiceError::new(ErrorCode::Conflict, m.clone())
            }
            Self::Router(e) => e.clone(),
            Self::Storage(StorageError::Unavailable(_)) => {
                ServiceError::unavailable("the conversation database is unavailable; try again")
            }
            Self::Storage(StorageError::Internal(_)) => {
                ServiceError::internal("the conversation service failed; try again")
            }
            Self::Starting => ServiceError::unavailable(self.to_string()),
        }
    }
}
