//! Quick replies: a tenant's canned responses, each under a short word an agent
//! types after `/` in the composer, with the automations' placeholders
//! (`{{contact.first_name}}`, `{{contact.<custom field>}}`, `{{agent.name}}`) filled
//! for the conversation they are used in.

use crate::automation::conditions::contact_placeholder;
use crate::automation::steps::fill_placeholders;
use crate::inbox::records::Contact;
use crate::store::StoreError;
use crate::{InvalidValue, Millis, QuickReplyId, TenantId};
use async_trait::async_trait;

/// Most quick replies per tenant, the longest shortcut and text.
pub const MAX_QUICK_REPLIES: usize = 500;
pub const MAX_SHORTCUT_CHARS: usize = 32;
pub const MAX_QUICK_REPLY_CHARS: usize = 4096;

#[derive(Debug, Clone, PartialEq)]
pub struct QuickReply {
    pub tenant_id: TenantId,
    pub id: QuickReplyId,
    /// What follows `/` in the composer: lower-case letters, digits, `-` and `_`.
    pub shortcut: String,
    pub text: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl QuickReply {
    /// Refuses a shortcut or text a quick reply cannot have; trims both and
    /// lower-cases the shortcut.
    pub fn tidy(mut self) -> Result<Self, InvalidValue> {
        self.shortcut = self.shortcut.trim().trim_start_matches('/').to_lowercase();
        let well_formed = !self.shortcut.is_empty()
            && self.shortcut.chars().count() <= MAX_SHORTCUT_CHARS
            && self
                .shortcut
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
        if !well_formed {
            return Err(InvalidValue(format!(
                "a shortcut has 1 to {MAX_SHORTCUT_CHARS} letters, digits, '-' or '_'"
            )));
        }
        self.text = self.text.trim().to_owned();
        if self.text.is_empty() || self.text.chars().count() > MAX_QUICK_REPLY_CHARS {
            return Err(InvalidValue(format!(
                "text must be 1 to {MAX_QUICK_REPLY_CHARS} characters"
            )));
        }
        Ok(self)
    }

    /// The text for a conversation with `contact`, answered by `agent`.
    pub fn render(&self, contact: Option<&Contact>, agent: Option<&str>) -> String {
        fill_placeholders(&self.text, |name| match name {
            "agent.name" => agent.map(str::to_owned),
            other => contact_placeholder(contact, other),
        })
    }
}

#[async_trait]
pub trait QuickReplyStore: Send + Sync + 'static {
    /// Adds one; `StoreError::Conflict` when its shortcut is taken.
    async fn create_quick_reply(&self, reply: &QuickReply) -> Result<(), StoreError>;

    /// Rewrites one's shortcut and text; false when there is none.
    async fn update_quick_reply(&self, reply: &QuickReply) -> Result<bool, StoreError>;

    /// The tenant's quick replies by shortcut.
    async fn quick_replies(&self, tenant: TenantId) -> Result<Vec<QuickReply>, StoreError>;

    async fn delete_quick_reply(
        &self,
        tenant: TenantId,
        id: QuickReplyId,
    ) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(shortcut: &str, text: &str) -> QuickReply {
        QuickReply {
            tenant_id: TenantId::new(),
            id: QuickReplyId::new(),
            shortcut: shortcut.to_owned(),
            text: text.to_owned(),
            created_at: Millis(0),
            updated_at: Millis(0),
        }
    }

    #[test]
    fn a_quick_reply_fills_the_contacts_and_agents_placeholders() {
        let contact = Contact::sample("Ana Lima", json!({"plan": "Gold"}));
        let thanks = reply(
            "thanks",
            "Thanks {{contact.first_name}}! Your {{contact.plan}} plan renews soon. {{agent.name}} {{contact.nothing}}",
        );
        assert_eq!(
            thanks.render(Some(&contact), Some("Bo")),
            "Thanks Ana! Your Gold plan renews soon. Bo "
        );
        assert_eq!(
            thanks.render(None, None),
            "Thanks ! Your  plan renews soon.  "
        );
    }

    #[test]
    fn shortcuts_are_single_lower_case_words() {
        assert_eq!(
            reply("/Hours", " Open 9-5 ").tidy().unwrap().shortcut,
            "hours"
        );
        for bad in ["", "two words", &"x".repeat(33), "a/b"] {
            assert!(reply(bad, "text").tidy().is_err(), "{bad}");
        }
        assert!(reply("ok", "  ").tidy().is_err());
    }
}
