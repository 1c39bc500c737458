//! What a conversation actor keeps in memory: the conversation and its newest
//! messages, and the rules that keep that copy in step with the store.
//!
//! Customer messages commit outside the actor (group commit) and reach it afterwards
//! as `Observed`, so a change or a reply the actor writes meanwhile can read a
//! conversation that already counts a message the actor has not seen yet. The copy
//! therefore holds one invariant: `recent` ends at `conversation.last_seq`. Whatever
//! would break it drops the copy instead, and the next use reads the store again.

use super::records::{Conversation, Message};

/// The conversation with its most recent messages, oldest first.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub conversation: Conversation,
    pub recent: Vec<Message>,
}

impl Snapshot {
    /// A snapshot from two reads: the conversation, then its newest messages. A
    /// message that committed between the two is left out; its `Observed` follows.
    pub fn read(conversation: Conversation, mut recent: Vec<Message>) -> Self {
        recent.retain(|m| m.seq <= conversation.last_seq);
        Self {
            conversation,
            recent,
        }
    }

    /// Takes in a message the store has just written (with the conversation as that
    /// write left it). False when the copy cannot follow: it must be read again.
    pub fn follow(&mut self, message: &Message, conversation: &Conversation, limit: usize) -> bool {
        if let Some(cached) = self.recent.iter_mut().find(|m| m.id == message.id) {
            // A later write of a message it holds (a repeated reply): the conversation
            // around it is not newer than the copy's.
            *cached = message.clone();
            return true;
        }
        let last = self.conversation.last_seq;
        let ends_at_last = self.recent.last().is_none_or(|m| m.seq == last);
        if message.seq != last + 1 || !ends_at_last {
            return false;
        }
        self.conversation = conversation.clone();
        self.recent.push(message.clone());
        let excess = self.recent.len().saturating_sub(limit);
        self.recent.drain(..excess);
        true
    }

    /// Takes in the conversation as a change left it. False when the change saw
    /// messages the copy has not (their `Observed` is still on the way).
    pub fn changed(&mut self, conversation: &Conversation) -> bool {
        if conversation.last_seq != self.conversation.last_seq {
            return false;
        }
        self.conversation = conversation.clone();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ChannelKey, ContactId, ConversationId, ConversationStatus, DeliveryStatus, Direction,
        MessageId, MessageKind, Millis, Priority, TenantId,
    };

    const LIMIT: usize = 50;

    fn conversation(last_seq: i64) -> Conversation {
        Conversation {
            tenant_id: TenantId::new(),
            id: ConversationId::new(),
            channel: ChannelKey::parse("whatsapp:1").unwrap(),
            contact_id: ContactId::new(),
            contact_name: "Erin".into(),
            status: ConversationStatus::Open,
            snoozed_until: None,
            priority: Priority::Normal,
            assignee_id: None,
            tags: Vec::new(),
            unread_count: last_seq,
            last_seq,
            last_message_at: Some(Millis(last_seq)),
            last_inbound_at: Some(Millis(last_seq)),
            created_at: Millis(0),
            updated_at: Millis(last_seq),
        }
    }

    fn message(seq: i64) -> Message {
        Message {
            tenant_id: TenantId::new(),
            id: MessageId::new(),
            conversation_id: ConversationId::new(),
            seq,
            direction: Direction::Inbound,
            kind: MessageKind::Text,
            body: Some(format!("#{seq}")),
            attachment: None,
            provider_id: None,
            client_id: None,
            author_id: None,
            status: DeliveryStatus::Delivered,
            error: None,
            created_at: Millis(seq),
            updated_at: Millis(seq),
        }
    }

    fn seqs(snapshot: &Snapshot) -> Vec<i64> {
        snapshot.recent.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn each_next_message_is_kept_and_the_oldest_leave_past_the_limit() {
        let mut snapshot = Snapshot::read(conversation(1), vec![message(1)]);
        for seq in 2..=4 {
            assert!(snapshot.follow(&message(seq), &conversation(seq), 3));
        }
        assert_eq!(seqs(&snapshot), [2, 3, 4]);
        assert_eq!(snapshot.conversation.last_seq, 4);
    }

    #[test]
    fn a_change_that_counts_a_message_not_yet_seen_drops_the_copy() {
        // The customer's second message committed; its Observed is still queued when
        // the agent's read lands. Keeping the read's conversation would make the
        // copy skip that message for good.
        let mut snapshot = Snapshot::read(conversation(1), vec![message(1)]);
        assert!(!snapshot.changed(&conversation(2)));
        assert!(snapshot.changed(&conversation(1)));
    }

    #[test]
    fn a_message_out_of_step_drops_the_copy_instead_of_leaving_a_gap() {
        let mut snapshot = Snapshot::read(conversation(1), vec![message(1)]);
        assert!(!snapshot.follow(&message(3), &conversation(3), LIMIT));

        // The conversation counts message 2, which the copy lacks: 3 cannot follow on.
        let mut behind = Snapshot {
            conversation: conversation(2),
            recent: vec![message(1)],
        };
        assert!(!behind.follow(&message(3), &conversation(3), LIMIT));
    }

    #[test]
    fn a_message_read_with_the_snapshot_is_left_to_its_own_observed() {
        let second = message(2);
        let mut snapshot = Snapshot::read(conversation(1), vec![message(1), second.clone()]);
        assert_eq!(seqs(&snapshot), [1]);
        assert!(snapshot.follow(&second, &conversation(2), LIMIT));
        assert_eq!(seqs(&snapshot), [1, 2]);
    }

    #[test]
    fn a_later_write_of_a_kept_message_replaces_it_and_keeps_the_conversation() {
        let first = message(1);
        let mut snapshot = Snapshot::read(conversation(2), vec![first.clone(), message(2)]);
        let mut delivered = first.clone();
        delivered.status = DeliveryStatus::Read;
        assert!(snapshot.follow(&delivered, &conversation(1), LIMIT));
        assert_eq!(snapshot.recent[0].status, DeliveryStatus::Read);
        assert_eq!(snapshot.conversation.last_seq, 2);
        assert_eq!(seqs(&snapshot), [1, 2]);
    }

    #[test]
    fn a_copy_without_messages_follows_from_the_conversations_last_seq() {
        let mut snapshot = Snapshot::read(conversation(0), Vec::new());
        assert!(snapshot.follow(&message(1), &conversation(1), LIMIT));
        assert_eq!(seqs(&snapshot), [1]);
    }
}
