//! The handoff queue (seed 002 §8.3, seed 003): what happens when a conversation goes
//! to a person or back to the bot. The lead's state moves with its event
//! (`message.insights` when a message's trigger moved it, `conversation.lead` when an
//! agent or the idle sweep did), a system note in the conversation says why, and a conversation a trigger
//! handed over goes to the next online agent with room (round robin), or waits
//! unassigned for the first agent to take it.

use super::handoff::{HandoffState, HandoffTrigger};
use super::settings::{AssignMode, Assignment};
use super::store::{HandoffChange, Lead};
use crate::inbox::records::{ConversationChange, Outgoing};
use crate::inbox::{Inbox, InboxError};
use crate::store::Store;
use crate::{ConversationId, Direction, MessageKind, Millis, Role, TenantId, UserId, UserStatus};
use std::sync::Arc;

/// Idle conversations handed back per sweep; the next sweep takes the rest.
const SWEEP_BATCH: u32 = 200;

#[derive(Clone)]
pub struct HandoffQueue {
    store: Arc<dyn Store>,
    inbox: Inbox,
}

/// Who acted, as the note names them.
pub struct Actor<'a> {
    pub user: Option<UserId>,
    pub name: &'a str,
}

impl HandoffQueue {
    pub fn new(store: Arc<dyn Store>, inbox: Inbox) -> Self {
        Self { store, inbox }
    }

    /// The AI assistant hands the conversation to a person (it asked for one, or had
    /// no usable answer): moves it from the bot, then assigns it and says why. Nothing
    /// when it was no longer the bot's.
    pub async fn bot_hands_over(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        trigger: HandoffTrigger,
        detail: &str,
        assignment: &Assignment,
    ) -> Result<(), InboxError> {
        let moved = self
            .move_to(
                tenant,
                conversation,
                HandoffState::PendingHuman,
                Some(trigger),
                None,
            )
            .await?;
        if moved.is_some() {
            self.assign_and_say(tenant, conversation, detail, assignment)
                .await?;
        }
        Ok(())
    }

    /// A person replied in a conversation the bot had (since `handoff_at`): it is a
    /// person's now, and the bot stays out until someone hands it back.
    pub async fn person_replied(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        handoff_at: Option<Millis>,
    ) -> Result<(), InboxError> {
        let moved = self
            .move_to(
                tenant,
                conversation,
                HandoffState::Human,
                Some(HandoffTrigger::AgentTookOver),
                Some((HandoffState::Bot, handoff_at)),
            )
            .await?;
        if moved.is_some() {
            self.note(
                tenant,
                conversation,
                "A person replied: the bot stays out of this conversation until it is handed back.",
            )
            .await?;
        }
        Ok(())
    }

    /// A trigger handed the conversation to a person: assign it and say so.
    pub async fn handed_over(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        trigger: HandoffTrigger,
        assignment: &Assignment,
    ) -> Result<(), InboxError> {
        self.assign_and_say(tenant, conversation, trigger.describe(), assignment)
            .await
    }

    /// Assigns a conversation that went to a person by the tenant's rules, and leaves a
    /// note saying `why` and to whom.
    async fn assign_and_say(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        why: &str,
        assignment: &Assignment,
    ) -> Result<(), InboxError> {
        let assigned = self
            .store
            .conversation(tenant, conversation)
            .await?
            .and_then(|c| c.assignee_id);
        let outcome = match (assigned, assignment.mode) {
            (Some(agent), _) => format!("{} has it.", self.name_of(tenant, agent).await?),
            (None, AssignMode::Unassigned) => "It waits in the queue for an agent.".to_owned(),
            (None, AssignMode::RoundRobin) => match self.next_agent(tenant, assignment).await? {
                Some(agent) => {
                    self.inbox
                        .change(
                            tenant,
                            conversation,
                            ConversationChange::Assign {
                                assignee: Some(agent),
                                by: None,
                            },
                        )
                        .await?;
                    format!("Assigned to {}.", self.name_of(tenant, agent).await?)
                }
                None => "No agent is online with room for it; it waits in the queue.".to_owned(),
            },
        };
        let note = format!("Handed to a person: {why}. {outcome}");
        self.note(tenant, conversation, &note).await
    }

    /// An agent takes the conversation from the bot (or from the queue): it is
    /// theirs. `None` when they had it already.
    pub async fn take(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        by: Actor<'_>,
    ) -> Result<Option<Lead>, InboxError> {
        let to = (HandoffState::Human, Some(HandoffTrigger::AgentTookOver));
        self.agent_moves(
            tenant,
            conversation,
            to,
            by,
            "took the conversation over from the bot",
        )
        .await
    }

    /// An agent hands the conversation back to the bot. `None` when the bot had it.
    pub async fn hand_back(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        by: Actor<'_>,
    ) -> Result<Option<Lead>, InboxError> {
        let to = (HandoffState::Bot, None);
        self.agent_moves(
            tenant,
            conversation,
            to,
            by,
            "handed the conversation back to the bot",
        )
        .await
    }

    /// An agent's move: the state, then (taking it) the assignment, then the note.
    async fn agent_moves(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        (to, trigger): (HandoffState, Option<HandoffTrigger>),
        by: Actor<'_>,
        did: &str,
    ) -> Result<Option<Lead>, InboxError> {
        let Some(lead) = self
            .move_to(tenant, conversation, to, trigger, None)
            .await?
        else {
            return Ok(None);
        };
        if let (HandoffState::Human, Some(user)) = (to, by.user) {
            let assign = ConversationChange::Assign {
                assignee: Some(user),
                by: Some(user),
            };
            self.inbox.change(tenant, conversation, assign).await?;
        }
        self.note(tenant, conversation, &format!("{} {did}.", by.name))
            .await?;
        Ok(Some(lead))
    }

    /// Hands back to the bot every conversation a person has left silent past its
    /// tenant's idle return; how many it handed back.
    pub async fn sweep_idle(&self, default_idle_minutes: Option<u32>) -> Result<usize, InboxError> {
        let default_ms = default_idle_minutes.map(|m| i64::from(m) * 60_000);
        let idle = self
            .store
            .idle_handoffs(Millis::now(), default_ms, SWEEP_BATCH)
            .await?;
        let mut returned = 0;
        for found in idle {
            let moved = self
                .move_to(
                    found.tenant,
                    found.conversation,
                    HandoffState::Bot,
                    None,
                    Some((HandoffState::Human, found.handoff_at)),
                )
                .await?;
            // Another node's sweep, or an agent, got there first.
            if moved.is_some() {
                returned += 1;
                self.note(
                    found.tenant,
                    found.conversation,
                    "Back to the bot: no one answered the customer for the idle return time.",
                )
                .await?;
            }
        }
        Ok(returned)
    }

    async fn move_to(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        to: HandoffState,
        trigger: Option<HandoffTrigger>,
        only_from: Option<(HandoffState, Option<Millis>)>,
    ) -> Result<Option<Lead>, InboxError> {
        if self
            .store
            .conversation(tenant, conversation)
            .await?
            .is_none()
        {
            return Err(InboxError::NotFound("conversation"));
        }
        let change = HandoffChange {
            to,
            trigger,
            only_from,
            at: Millis::now(),
        };
        let Some((lead, events)) = self
            .store
            .set_handoff(tenant, conversation, &change)
            .await?
        else {
            return Ok(None);
        };
        self.inbox.publish(tenant, events);
        Ok(Some(lead))
    }

    /// The next online agent in turn with fewer open conversations than the cap.
    pub async fn next_agent(
        &self,
        tenant: TenantId,
        assignment: &Assignment,
    ) -> Result<Option<UserId>, InboxError> {
        let online = self.inbox.online_users(tenant).await;
        if online.is_empty() {
            return Ok(None);
        }
        let open = self.store.open_assigned(tenant).await?;
        let has_room = |user: UserId| {
            open.iter()
                .find(|(u, _)| *u == user)
                .is_none_or(|(_, n)| *n < assignment.max_open_per_agent)
        };
        let candidates: Vec<UserId> = self
            .store
            .users(tenant)
            .await?
            .into_iter()
            .filter(|u| {
                u.status == UserStatus::Active
                    && u.role >= Role::Agent
                    && online.contains(&u.id)
                    && has_room(u.id)
            })
            .map(|u| u.id)
            .collect();
        Ok(self.store.next_in_rotation(tenant, &candidates).await?)
    }

    async fn name_of(&self, tenant: TenantId, user: UserId) -> Result<String, InboxError> {
        Ok(self
            .store
            .user(tenant, user)
            .await?
            .map_or_else(|| "a former agent".to_owned(), |u| u.name))
    }

    async fn note(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        text: &str,
    ) -> Result<(), InboxError> {
        // A note without an author: the system's own words.
        let note = Outgoing {
            direction: Direction::Note,
            kind: MessageKind::Text,
            body: Some(text.to_owned()),
            attachment: None,
            author_id: None,
            client_id: None,
            at: Millis::now(),
        };
        self.inbox.append(tenant, conversation, note).await?;
        Ok(())
    }
}
