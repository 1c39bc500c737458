//! What a rule is: a trigger, conditions and actions, as the REST API takes them and
//! the store keeps them (JSON), checked in full before a rule is saved so that a
//! saved rule always runs.

use crate::domain::InvalidValue;
use crate::inbox::records::{Outgoing, RichContent};
use crate::pipeline::scoring::Temperature;
use crate::reply::hours::BusinessHours;
use crate::reply::settings::ReplyMode;
use crate::{ConversationStatus, Priority, TagName, UserId};
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

/// Most actions in a rule, conditions in its tree, and how deep the tree nests.
pub const MAX_ACTIONS: usize = 20;
pub const MAX_CONDITIONS: usize = 50;
pub const MAX_NESTING: usize = 5;
/// Longest rule name, and longest text an action sends or writes.
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_TEXT_CHARS: usize = crate::inbox::records::MAX_BODY_CHARS;
/// Most keywords or channels a trigger or condition lists.
pub const MAX_LIST: usize = 50;
/// The longest wait: 30 days.
pub const MAX_WAIT_SECS: u64 = 30 * 86_400;
/// The longest "no reply within" a timer trigger may wait: 30 days, in minutes.
pub const MAX_TIMER_MINUTES: u32 = 30 * 1440;
/// A regular expression's compiled size at most, so a pattern cannot eat memory.
const PATTERN_SIZE_LIMIT: usize = 256 * 1024;
const MAX_URL_CHARS: usize = 2048;

/// A rule as written: what starts it, what must hold, what it does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub name: String,
    pub trigger: Trigger,
    /// None: always.
    #[serde(default)]
    pub conditions: Option<Condition>,
    pub actions: Vec<Action>,
}

/// What starts a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// A customer's message; with `keywords`, one of them must appear in it (as whole
    /// words, case and accents aside); with `pattern`, the regular expression must
    /// match it (case aside).
    MessageReceived {
        #[serde(default)]
        channels: Vec<String>,
        #[serde(default)]
        keywords: Vec<String>,
        #[serde(default)]
        pattern: Option<String>,
    },
    /// A customer's first message started a conversation.
    ConversationCreated {
        #[serde(default)]
        channels: Vec<String>,
    },
    /// A customer's first message made a new contact.
    ContactCreated,
    /// A lead form came in (Meta Lead Ads and the other lead channels).
    LeadCaptured,
    /// A conversation's status changed (to `to`, when given).
    StatusChanged {
        #[serde(default)]
        to: Option<ConversationStatus>,
    },
    /// A conversation was assigned, reassigned or unassigned.
    AssignmentChanged,
    TagAdded {
        #[serde(default)]
        tag: Option<TagName>,
    },
    TagRemoved {
        #[serde(default)]
        tag: Option<TagName>,
    },
    /// The pipeline moved a conversation's lead to another temperature.
    LeadTemperatureChanged {
        #[serde(default)]
        to: Option<Temperature>,
    },
    /// The pipeline found a customer message negative.
    NegativeSentiment,
    /// A customer message went `minutes` without a reply from the team.
    NoAgentReply { minutes: u32 },
    /// The team's message went `minutes` without an answer from the customer.
    NoCustomerReply { minutes: u32 },
    /// A cron pattern (five fields, or six with seconds first) in `time_zone`. Its
    /// runs have no conversation: they call webhooks.
    Schedule {
        cron: String,
        #[serde(default = "utc")]
        time_zone: String,
    },
}

fn suggest() -> ReplyMode {
    ReplyMode::Suggest
}

fn utc() -> String {
    "UTC".to_owned()
}

/// The trigger's kind, without its parameters: what the store indexes rules by.
macro_rules! text_kinds {
    ($($variant:ident => $text:literal),+ $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum TriggerKind { $($variant),+ }

        impl TriggerKind {
            pub fn as_str(self) -> &'static str {
                match self { $(TriggerKind::$variant => $text),+ }
            }
        }

        impl Trigger {
            pub fn kind(&self) -> TriggerKind {
                match self { $(Trigger::$variant { .. } => TriggerKind::$variant),+ }
            }
        }
    };
}

text_kinds! {
    MessageReceived => "message_received",
    ConversationCreated => "conversation_created",
    ContactCreated => "contact_created",
    LeadCaptured => "lead_captured",
    StatusChanged => "status_changed",
    AssignmentChanged => "assignment_changed",
    TagAdded => "tag_added",
    TagRemoved => "tag_removed",
    LeadTemperatureChanged => "lead_temperature_changed",
    NegativeSentiment => "negative_sentiment",
    NoAgentReply => "no_agent_reply",
    NoCustomerReply => "no_customer_reply",
    Schedule => "schedule",
}

/// A tree of tests over the event, its conversation and its contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
// A condition holds conditions: its schema names itself rather than unfolding forever.
#[schema(no_recursion)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    /// The conversation's channel is one of these (a kind such as `whatsapp`, or a
    /// whole channel key).
    Channel(Vec<String>),
    Status(Vec<ConversationStatus>),
    HasTag(TagName),
    /// Whether the conversation has an assignee.
    Assigned(bool),
    ContactField(FieldTest),
    Temperature(Vec<Temperature>),
    /// The language the pipeline found in the customer's message (ISO 639-1).
    Language(Vec<String>),
    /// The customer's message holds one of these words or phrases.
    TextContains(Vec<String>),
    /// The customer's message matches this regular expression (case aside).
    TextMatches(String),
    /// The event happened while the business was open.
    OpenHours(BusinessHours),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldTest {
    /// `name`, `phone`, `email`, or a custom field's key.
    pub field: String,
    pub op: FieldOp,
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldOp {
    Is,
    IsNot,
    Contains,
    Exists,
    Missing,
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// A reply to the customer, through the conversation's channel. `{{contact.name}}`,
    /// `{{contact.first_name}}`, `{{contact.<custom field>}}` and `{{message.text}}`
    /// are filled in.
    SendMessage {
        text: String,
    },
    /// An approved WhatsApp template (the one message allowed outside the 24-hour
    /// window); its parameters take the same placeholders.
    SendTemplate {
        name: String,
        language: String,
        #[serde(default)]
        parameters: Vec<String>,
    },
    /// An internal note, with the same placeholders.
    AddNote {
        text: String,
    },
    AddTag {
        tag: TagName,
    },
    RemoveTag {
        tag: TagName,
    },
    Assign {
        user_id: UserId,
    },
    /// To the next online agent with room, as handoffs are assigned.
    AssignRoundRobin,
    Unassign,
    SetStatus {
        status: ConversationStatus,
    },
    SetPriority {
        priority: Priority,
    },
    Snooze {
        minutes: u32,
    },
    /// The next step runs `seconds` later (at most 30 days).
    Wait {
        seconds: u64,
    },
    /// The next step runs at the next `time` (`HH:MM`) at `utc_offset_minutes`.
    WaitUntil {
        time: String,
        utc_offset_minutes: i32,
    },
    /// POSTs the run's event as JSON to `url`, through the guarded client.
    Webhook {
        url: String,
    },
    SetContactField {
        field: String,
        value: String,
    },
    /// Has the AI answer the conversation's newest customer message now: drafted for
    /// the agents (`suggest`) or sent (`auto`), whatever the channel's reply mode,
    /// with the tenant's reply settings.
    AiReply {
        #[serde(default = "suggest")]
        mode: ReplyMode,
    },
    /// Hands the conversation to a person: the handoff queue assigns it and says why.
    HandOff {
        #[serde(default)]
        reason: Option<String>,
    },
}

impl Action {
    /// The reply a `send_template` sends, its parameters filled by `fill` (checked as
    /// an agent's template reply is).
    pub fn template(&self, mut fill: impl FnMut(&str) -> String) -> Result<Outgoing, InvalidValue> {
        let Action::SendTemplate {
            name,
            language,
            parameters,
        } = self
        else {
            return Err(InvalidValue("not a template".to_owned()));
        };
        let content = RichContent::Template {
            name: name.clone(),
            language: language.clone(),
            parameters: parameters.iter().map(|p| fill(p)).collect(),
        };
        Outgoing::rich(content, None, None)
    }

    /// Whether it acts on the run's conversation.
    pub fn needs_conversation(&self) -> bool {
        !matches!(
            self,
            Action::Wait { .. } | Action::WaitUntil { .. } | Action::Webhook { .. }
        )
    }

    /// The action's name in runs and the audit log.
    pub fn name(&self) -> &'static str {
        match self {
            Action::SendMessage { .. } => "send_message",
            Action::SendTemplate { .. } => "send_template",
            Action::AddNote { .. } => "add_note",
            Action::AddTag { .. } => "add_tag",
            Action::RemoveTag { .. } => "remove_tag",
            Action::Assign { .. } => "assign",
            Action::AssignRoundRobin => "assign_round_robin",
            Action::Unassign => "unassign",
            Action::SetStatus { .. } => "set_status",
            Action::SetPriority { .. } => "set_priority",
            Action::Snooze { .. } => "snooze",
            Action::Wait { .. } => "wait",
            Action::WaitUntil { .. } => "wait_until",
            Action::Webhook { .. } => "webhook",
            Action::SetContactField { .. } => "set_contact_field",
            Action::AiReply { .. } => "ai_reply",
            Action::HandOff { .. } => "hand_off",
        }
    }
}

fn invalid<T>(text: impl Into<String>) -> Result<T, InvalidValue> {
    Err(InvalidValue(text.into()))
}

/// A regular expression as rules compile it: case aside, bounded in size.
pub fn pattern(source: &str) -> Result<Regex, InvalidValue> {
    RegexBuilder::new(source)
        .case_insensitive(true)
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|err| InvalidValue(format!("pattern '{source}': {err}")))
}

fn check_list(what: &str, items: &[String]) -> Result<(), InvalidValue> {
    if items.len() > MAX_LIST {
        return invalid(format!("{what} lists at most {MAX_LIST} entries"));
    }
    if items
        .iter()
        .any(|i| i.trim().is_empty() || i.chars().count() > 200)
    {
        return invalid(format!("{what}: each entry is 1 to 200 characters"));
    }
    Ok(())
}

fn check_text(what: &str, text: &str) -> Result<(), InvalidValue> {
    let chars = text.trim().chars().count();
    if chars == 0 || chars > MAX_TEXT_CHARS {
        return invalid(format!("{what} must be 1 to {MAX_TEXT_CHARS} characters"));
    }
    Ok(())
}

impl Definition {
    /// Everything a run relies on: lengths, counts, patterns, waits, URLs.
    pub fn validate(&self) -> Result<(), InvalidValue> {
        let name = self.name.trim().chars().count();
        if name == 0 || name > MAX_NAME_CHARS {
            return invalid(format!("name must be 1 to {MAX_NAME_CHARS} characters"));
        }
        self.trigger.validate()?;
        if let Some(conditions) = &self.conditions {
            let mut count = 0;
            conditions.validate(1, &mut count)?;
        }
        if self.actions.is_empty() || self.actions.len() > MAX_ACTIONS {
            return invalid(format!("actions: 1 to {MAX_ACTIONS}"));
        }
        let scheduled = matches!(self.trigger, Trigger::Schedule { .. });
        for (i, action) in self.actions.iter().enumerate() {
            if scheduled && action.needs_conversation() {
                return invalid(format!(
                    "actions[{i}] ({}): a schedule's runs have no conversation; they may call a webhook and wait",
                    action.name()
                ));
            }
            action.validate().map_err(|err| {
                InvalidValue(format!("actions[{i}] ({}): {}", action.name(), err.0))
            })?;
        }
        Ok(())
    }
}

impl Trigger {
    fn validate(&self) -> Result<(), InvalidValue> {
        match self {
            Trigger::MessageReceived {
                channels,
                keywords,
                pattern: source,
            } => {
                check_list("trigger.channels", channels)?;
                check_list("trigger.keywords", keywords)?;
                if let Some(source) = source {
                    pattern(source).map_err(|e| InvalidValue(format!("trigger.{}", e.0)))?;
                }
                Ok(())
            }
            Trigger::ConversationCreated { channels } => check_list("trigger.channels", channels),
            Trigger::Schedule { cron, time_zone } => {
                super::schedule::Schedule::parse(cron, time_zone).map(|_| ())
            }
            Trigger::NoAgentReply { minutes } | Trigger::NoCustomerReply { minutes } => {
                if !(1..=MAX_TIMER_MINUTES).contains(minutes) {
                    return invalid(format!("trigger.minutes must be 1 to {MAX_TIMER_MINUTES}"));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl Condition {
    fn validate(&self, depth: usize, count: &mut usize) -> Result<(), InvalidValue> {
        *count += 1;
        if *count > MAX_CONDITIONS {
            return invalid(format!("conditions hold at most {MAX_CONDITIONS} tests"));
        }
        if depth > MAX_NESTING {
            return invalid(format!("conditions nest at most {MAX_NESTING} deep"));
        }
        match self {
            Condition::All(items) | Condition::Any(items) => {
                if items.is_empty() {
                    return invalid("conditions: all and any need at least one test");
                }
                items.iter().try_for_each(|c| c.validate(depth + 1, count))
            }
            Condition::Not(inner) => inner.validate(depth + 1, count),
            Condition::Channel(items)
            | Condition::Language(items)
            | Condition::TextContains(items) => {
                if items.is_empty() {
                    return invalid("conditions: a list needs at least one entry");
                }
                check_list("conditions", items)
            }
            Condition::TextMatches(source) => pattern(source).map(|_| ()),
            Condition::ContactField(test) => {
                if test.field.trim().is_empty() || test.field.chars().count() > 100 {
                    return invalid("conditions: contact_field.field is 1 to 100 characters");
                }
                let needs_value =
                    matches!(test.op, FieldOp::Is | FieldOp::IsNot | FieldOp::Contains);
                if needs_value != test.value.is_some() {
                    return invalid(
                        "conditions: contact_field.value is required by is, is_not and contains, and only by them",
                    );
                }
                Ok(())
            }
            Condition::OpenHours(hours) => hours.validate(),
            Condition::Status(_)
            | Condition::HasTag(_)
            | Condition::Assigned(_)
            | Condition::Temperature(_) => Ok(()),
        }
    }
}

impl Action {
    fn validate(&self) -> Result<(), InvalidValue> {
        match self {
            Action::SendMessage { text } | Action::AddNote { text } => check_text("text", text),
            Action::SendTemplate { .. } => self.template(|p| p.to_owned()).map(|_| ()),
            Action::Snooze { minutes } => {
                if !(1..=MAX_TIMER_MINUTES).contains(minutes) {
                    return invalid(format!("minutes must be 1 to {MAX_TIMER_MINUTES}"));
                }
                Ok(())
            }
            Action::Wait { seconds } => {
                if !(1..=MAX_WAIT_SECS).contains(seconds) {
                    return invalid(format!("seconds must be 1 to {MAX_WAIT_SECS} (30 days)"));
                }
                Ok(())
            }
            Action::WaitUntil {
                time,
                utc_offset_minutes,
            } => {
                let hours = BusinessHours {
                    utc_offset_minutes: *utc_offset_minutes,
                    days: Vec::new(),
                    open: time.clone(),
                    close: "24:00".to_owned(),
                };
                hours.validate().map_err(|_| {
                    InvalidValue(
                        "time must be HH:MM before 24:00 and utc_offset_minutes -840 to 840"
                            .to_owned(),
                    )
                })
            }
            Action::Webhook { url } => {
                if url.chars().count() > MAX_URL_CHARS {
                    return invalid(format!("url is at most {MAX_URL_CHARS} characters"));
                }
                match url.split_once("://") {
                    Some(("https" | "http", rest)) if !rest.is_empty() => Ok(()),
                    _ => invalid("url must be an http(s) URL"),
                }
            }
            Action::SetContactField { field, value } => {
                if field.trim().is_empty() || field.chars().count() > 100 {
                    return invalid("field is 1 to 100 characters");
                }
                if value.chars().count() > 1000 {
                    return invalid("value is at most 1000 characters");
                }
                Ok(())
            }
            Action::HandOff {
                reason: Some(reason),
            } => check_text("reason", reason),
            Action::AiReply {
                mode: ReplyMode::Off,
            } => invalid("mode must be suggest or auto"),
            _ => Ok(()),
        }
    }
}
