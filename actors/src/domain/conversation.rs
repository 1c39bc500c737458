use super::text_enum::text_enum;

text_enum!(
    /// Where a conversation stands in the team's workflow.
    ConversationStatus, "a conversation status" {
        Open => "open",
        /// Waiting on something outside the team (the customer, another department).
        Pending => "pending",
        /// Hidden until `snoozed_until`, then open again.
        Snoozed => "snoozed",
        Resolved => "resolved",
        /// Finished for good: a new customer message starts a new conversation.
        Closed => "closed",
    }
);

text_enum!(
    Priority, "a priority" {
        Low => "low",
        Normal => "normal",
        High => "high",
        Urgent => "urgent",
    }
);
