//! Profiles, scenarios and sessions: everything but the tutor's replies.

use super::paging::{self, BadToken};
use super::{Conversations, Error};
use crate::domain::model::NewSession;
use crate::domain::{CefrLevel, Learner, Message, ProfileUpdate, Scenario, Session, validate};
use crate::storage::SessionCursor;
use uuid::Uuid;

impl From<BadToken> for Error {
    fn from(e: BadToken) -> Self {
        Self::Invalid(e.to_string())
    }
}

/// A session id from a request: a UUID, else INVALID_ARGUMENT.
pub fn parse_session_id(raw: &str) -> Result<Uuid, Error> {
    if raw.is_empty() {
        return Err(Error::Invalid("session_id is required".into()));
    }
    Uuid::parse_str(raw)
        .map_err(|_| Error::Invalid(format!("session_id {raw:?} is not a valid session id")))
}

fn session_not_found(id: Uuid) -> Error {
    // The same answer whether the session never existed, was deleted or is
    // another learner's: existence is never revealed.
    Error::NotFound(format!("session {id} not found"))
}

/// A page of results and the token of the next one (empty on the last page).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: String,
}

impl Conversations {
    pub fn scenarios(&self) -> &[Scenario] {
        self.inner.scenarios.all()
    }

    pub async fn profile(&self, subject: &str) -> Result<Learner, Error> {
        self.check_ready()?;
        Ok(self.inner.store.ensure_learner(subject, self.now()).await?)
    }

    pub async fn update_profile(
        &self,
        subject: &str,
        update: ProfileUpdate,
    ) -> Result<Learner, Error> {
        self.check_ready()?;
        if let Some(name) = &update.display_name {
            validate::display_name(name)?;
        }
        if let Some(tag) = &update.native_language {
            validate::native_language(tag)?;
        }
        Ok(self
            .inner
            .store
            .update_learner(subject, &update, self.now())
            .await?)
    }

    pub async fn create_session(
        &self,
        subject: &str,
        scenario_id: &str,
        level: Option<CefrLevel>,
        title: &str,
    ) -> Result<Session, Error> {
        self.check_ready()?;
        if scenario_id.is_empty() {
            return Err(Error::Invalid("scenario_id is required".into()));
        }
        let scenario = self.inner.scenarios.get(scenario_id).ok_or_else(|| {
            Error::Invalid(format!(
                "unknown scenario_id {scenario_id:?}: ListScenarios names the valid ones"
            ))
        })?;
        let title = title.trim();
        validate::title(title)?;
        let now = self.now();
        let learner = self.inner.store.ensure_learner(subject, now).await?;
        let new = NewSession {
            id: Uuid::now_v7(),
            owner_id: subject.to_owned(),
            scenario_id: scenario.id.clone(),
            level: level.or(learner.level).unwrap_or(CefrLevel::DEFAULT),
            title: if title.is_empty() {
                scenario.title.clone()
            } else {
                title.to_owned()
            },
            now,
        };
        let session = self.inner.store.create_session(&new).await?;
        tracing::info!(
            session_id = %session.id,
            scenario_id = %session.scenario_id,
            cefr_level = %session.level,
            "session.created"
        );
        Ok(session)
    }

    pub async fn session(&self, subject: &str, id: &str) -> Result<Session, Error> {
        self.check_ready()?;
        let id = parse_session_id(id)?;
        self.inner
            .store
            .get_session(subject, id)
            .await?
            .ok_or_else(|| session_not_found(id))
    }

    pub async fn list_sessions(
        &self,
        subject: &str,
        page_size: u32,
        page_token: &str,
        include_archived: bool,
    ) -> Result<Page<Session>, Error> {
        self.check_ready()?;
        let size = validate::page_size(
            page_size,
            paging::SESSIONS_DEFAULT_PAGE,
            paging::SESSIONS_MAX_PAGE,
        )?;
        let after = paging::parse_session_token(page_token)?;
        let mut items = self
            .inner
            .store
            .list_sessions(subject, include_archived, after, size + 1)
            .await?;
        let next_page_token = if items.len() > size as usize {
            items.truncate(size as usize);
            items
                .last()
                .map(|s| {
                    paging::session_token(&SessionCursor {
                        created_at: s.created_at,
                        id: s.id,
                    })
                })
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// Archives or unarchives one of the learner's sessions; `None` changes nothing.
    pub async fn update_session(
        &self,
        subject: &str,
        id: &str,
        archived: Option<bool>,
    ) -> Result<Session, Error> {
        self.check_ready()?;
        let session_id = parse_session_id(id)?;
        if let Some(archived) = archived {
            let found = self
                .inner
                .store
                .set_archived(subject, session_id, archived, self.now())
                .await?;
            if !found {
                return Err(session_not_found(session_id));
            }
            tracing::info!(session_id = %session_id, archived, "session.updated");
        }
        self.session(subject, id).await
    }

    pub async fn delete_session(&self, subject: &str, id: &str) -> Result<(), Error> {
        self.check_ready()?;
        let id = parse_session_id(id)?;
        if self
            .inner
            .store
            .delete_session(subject, id, self.now())
            .await?
        {
            tracing::info!(session_id = %id, "session.deleted");
            Ok(())
        } else {
            Err(session_not_found(id))
        }
    }

    pub async fn list_messages(
        &self,
        subject: &str,
        session_id: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<Page<Message>, Error> {
        self.check_ready()?;
        let id = parse_session_id(session_id)?;
        let size = validate::page_size(
            page_size,
            paging::MESSAGES_DEFAULT_PAGE,
            paging::MESSAGES_MAX_PAGE,
        )?;
        let after = paging::parse_message_token(page_token, id)?;
        if self.inner.store.get_session(subject, id).await?.is_none() {
            return Err(session_not_found(id));
        }
        let mut items = self
            .inner
            .store
            .list_messages(subject, id, after, size + 1)
            .await?;
        let next_page_token = if items.len() > size as usize {
            items.truncate(size as usize);
            items
                .last()
                .map(|m| paging::message_token(id, m.seq))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// The session the caller owns, for the tutor.
    pub(super) async fn owned_session(&self, subject: &str, id: Uuid) -> Result<Session, Error> {
        self.inner
            .store
            .get_session(subject, id)
            .await?
            .ok_or_else(|| session_not_found(id))
    }
}
